"""What only the SQLite backend promises: a shared file, durability, errors."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from prework.errors import ConditionFailed, TransactionCanceled, Unavailable
from prework.store.base import ItemExists, ItemNotExists, Put, Update, UpdateSpec
from prework.store.sqlite import SqliteStore

T = "teams"
K = {"pk": "P", "sk": "S"}


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


async def test_two_stores_on_one_file_share_data_and_conditions(tmp_path: Path) -> None:
    a, b = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    try:
        await a.init()
        await b.init()
        await a.put(T, {**K, "by": "a"}, condition=ItemNotExists())
        assert await b.get(T, K) == {**K, "by": "a"}
        with pytest.raises(ConditionFailed):
            await b.put(T, {**K, "by": "b"}, condition=ItemNotExists())
        await asyncio.gather(
            *(s.update(T, K, UpdateSpec(add={"n": 1})) for s in (a, b) for _ in range(20))
        )
        assert (await a.get(T, K) or {})["n"] == 40
    finally:
        await a.close()
        await b.close()


async def test_a_failed_transaction_leaves_the_file_unchanged(sqlite_store: SqliteStore) -> None:
    await sqlite_store.put(T, {**K, "n": 1})
    before = await asyncio.to_thread(_dump, sqlite_store.path)
    with pytest.raises(TransactionCanceled):
        await sqlite_store.transact_write(
            [
                Put(T, {"pk": "P", "sk": "new", "x": 1}),
                Update(T, K, UpdateSpec(add={"n": 1})),
                Put(T, {"pk": "P", "sk": "missing"}, condition=ItemExists()),
            ]
        )
    assert await asyncio.to_thread(_dump, sqlite_store.path) == before


async def test_data_survives_reopening_and_init_makes_parents(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.db"
    store = SqliteStore(path)
    await store.init()
    await store.init()
    await store.put(T, {**K, "v": b"\x00"})
    await store.close()
    again = SqliteStore(path)
    try:
        await again.init()
        assert await again.get(T, K) == {**K, "v": b"\x00"}
    finally:
        await again.close()


async def test_sqlite_errors_become_unavailable_with_the_cause(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.sqlite"
    await asyncio.to_thread(path.write_bytes, b"this is not a database file at all" * 100)
    store = SqliteStore(path)
    try:
        with pytest.raises(Unavailable) as caught:
            await store.ping()
        assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
        with pytest.raises(Unavailable):
            await store.get(T, K)
    finally:
        await store.close()


async def test_unwritable_location_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    await asyncio.to_thread(blocker.write_text, "x")
    store = SqliteStore(blocker / "sub" / "store.db")
    try:
        with pytest.raises(Unavailable) as caught:
            await store.init()
        assert isinstance(caught.value.__cause__, OSError)
    finally:
        await store.close()


async def test_a_locked_database_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", busy_timeout=0.2)
    await store.init()
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        with pytest.raises(Unavailable) as caught:
            await store.put(T, {**K})
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        await asyncio.to_thread(locker.execute, "ROLLBACK")
        await store.put(T, {**K})
    finally:
        locker.close()
        await store.close()


async def test_closed_store_is_unavailable(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.init()
    await store.close()
    with pytest.raises(Unavailable):
        await store.get(T, K)
    await store.close()


async def test_waiting_on_sqlite_does_not_block_the_event_loop(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db", busy_timeout=0.5)
    await store.init()
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    beat = asyncio.create_task(heartbeat())
    try:
        await asyncio.to_thread(locker.execute, "BEGIN EXCLUSIVE")
        with pytest.raises(Unavailable):
            await store.put(T, {**K})  # waits 0.5 s for the lock in its thread
        assert ticks >= 10  # 50 if the loop were never blocked; 0 if it were
    finally:
        beat.cancel()
        locker.close()
        await store.close()


async def test_tables_have_the_documented_columns(sqlite_store: SqliteStore) -> None:
    def columns() -> list[str]:
        conn = sqlite3.connect(sqlite_store.path)
        try:
            return [row[1] for row in conn.execute('PRAGMA table_info("audit-log")')]
        finally:
            conn.close()

    assert await asyncio.to_thread(columns) == [
        "pk",
        "sk",
        "gsi1pk",
        "gsi1sk",
        "gsi2pk",
        "gsi2sk",
        "gsi3pk",
        "gsi3sk",
        "expires_at",
        "data",
    ]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "threads"])
async def test_reads_past_the_inline_budget_run_in_a_reader_thread(
    tmp_path: Path, inline: bool
) -> None:
    """Budget 0: every inline statement longer than a few SQLite steps is
    aborted and read again in a thread; the answers are the same."""
    store = SqliteStore(tmp_path / "s.db", inline_reads=inline, inline_budget=0.0)
    await store.init()
    try:
        rows = [{"pk": "P", "sk": f"{i:04d}", "n": i} for i in range(300)]
        await store.batch_write(T, puts=rows)
        page = await store.query(T, pk="P")
        assert [item["n"] for item in page.items] == list(range(300))
        assert await store.get(T, {"pk": "P", "sk": "0007"}) == rows[7]
        found = await store.batch_get(T, [{"pk": "P", "sk": f"{i:04d}"} for i in range(100)])
        assert sorted(item["n"] for item in found) == list(range(100))
        await store.ping()
    finally:
        await store.close()


async def test_a_write_waits_for_a_lock_in_the_writer_thread_not_on_the_loop(
    tmp_path: Path,
) -> None:
    """Another connection holding the write lock: the writer thread waits for the
    lock (the loop runs meanwhile), and the write lands when the lock is released."""
    store = SqliteStore(tmp_path / "s.db", busy_timeout=5.0)
    await store.init()
    await store.put(T, {**K, "n": 0})
    locker = sqlite3.connect(tmp_path / "s.db", isolation_level=None, check_same_thread=False)
    try:
        await asyncio.to_thread(locker.execute, "BEGIN IMMEDIATE")
        pending = asyncio.ensure_future(store.update(T, K, UpdateSpec(add={"n": 1})))
        started = time.perf_counter()
        await asyncio.sleep(0.3)  # the loop is free while the write waits (5 s at most)
        assert time.perf_counter() - started < 2.0
        assert not pending.done()
        await asyncio.to_thread(locker.execute, "ROLLBACK")
        assert (await pending)["n"] == 1
    finally:
        locker.close()
        await store.close()


async def test_writes_queued_together_are_committed_together_each_with_its_outcome(
    tmp_path: Path,
) -> None:
    """The writer thread commits the writes waiting for it in one transaction: in
    the order they were asked for, each caller answered with its own outcome, a
    refused one having written nothing and the others landing."""
    store = SqliteStore(tmp_path / "s.db")
    await store.init()
    try:
        await store.put(T, {**K, "n": 0})
        counted = await asyncio.gather(
            *(store.update(T, K, UpdateSpec(add={"n": 1})) for _ in range(100))
        )
        assert [item["n"] for item in counted] == list(range(1, 101))  # in order, each once
        claims = await asyncio.gather(
            *(
                store.put(T, {"pk": "C", "sk": f"{i % 10}", "by": i}, condition=ItemNotExists())
                for i in range(40)
            ),
            return_exceptions=True,
        )
        won = [i for i, outcome in enumerate(claims) if outcome is None]
        assert won == list(range(10))  # the first claim of each item; the others refused
        assert all(isinstance(claims[i], ConditionFailed) for i in range(10, 40))
        for i in range(10):
            assert await store.get(T, {"pk": "C", "sk": f"{i}"}) == {
                "pk": "C",
                "sk": f"{i}",
                "by": i,
            }
        failing: list[Put | Update] = [
            Put(T, {"pk": "X", "sk": "1"}),
            Update(T, K, UpdateSpec(add={"n": 1}), condition=ItemNotExists()),
        ]
        mixed = await asyncio.gather(
            store.transact_write(failing),
            store.update(T, K, UpdateSpec(add={"n": 1})),
            return_exceptions=True,
        )
        assert isinstance(mixed[0], TransactionCanceled)
        assert (mixed[1] or {})["n"] == 101  # type: ignore[index]
        assert await store.get(T, {"pk": "X", "sk": "1"}) is None
    finally:
        await store.close()
