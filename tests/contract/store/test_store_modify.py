"""modify_item (read-check-write of one item) and watch_writes, on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from prework.errors import TransactionCanceled
from prework.store.base import (
    All,
    AttrEquals,
    Check,
    Delete,
    Item,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

T = "sessions"


def _bump(key: dict[str, str]) -> Any:
    """A plan: version + 1 on the item (created at 1), conditioned on what it read."""

    def plan(item: Item | None) -> tuple[Sequence[TransactOp], int]:
        if item is None:
            return [Put(T, {**key, "version": 1}, condition=ItemNotExists())], 1
        version = int(item["version"])
        update = Update(
            T,
            key,
            UpdateSpec(set={"version": version + 1}),
            condition=All(ItemExists(), version_equals(version)),
        )
        return [update], version + 1

    return plan


async def test_the_plan_sees_the_item_and_its_ops_are_written(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#M", "sk": "doc"}
    seen: list[Item | None] = []

    def plan(item: Item | None) -> tuple[Sequence[TransactOp], str]:
        seen.append(item)
        audit = Put(T, {"pk": f"{ns}#M", "sk": "event", "what": "created"})
        return [Put(T, {**key, "n": 1}), audit], "done"

    assert await store.modify_item(T, key, plan) == "done"
    assert seen == [None]
    assert await store.get(T, key) == {**key, "n": 1}
    assert await store.get(T, {"pk": f"{ns}#M", "sk": "event"}) is not None

    assert await store.modify_item(T, key, lambda item: ([], item)) == {**key, "n": 1}

    counter = {"pk": f"{ns}#M", "sk": "counter"}
    assert await store.modify_item(T, counter, _bump(counter)) == 1  # absent: created
    assert await store.modify_item(T, counter, _bump(counter)) == 2
    assert await store.get(T, counter) == {**counter, "version": 2}


async def test_a_plan_that_raises_writes_nothing(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#M", "sk": "doc"}
    await store.put(T, {**key, "n": 1})

    def plan(item: Item | None) -> tuple[Sequence[TransactOp], None]:
        raise LookupError("no")

    with pytest.raises(LookupError):
        await store.modify_item(T, key, plan)
    assert await store.get(T, key) == {**key, "n": 1}


async def test_a_condition_that_cannot_hold_cancels(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#M", "sk": "doc"}
    other = {"pk": f"{ns}#M", "sk": "other"}
    await store.put(T, {**other, "state": "closed"})

    def plan(item: Item | None) -> tuple[Sequence[TransactOp], None]:
        return [Put(T, {**key, "n": 1}), Check(T, other, AttrEquals("state", "open"))], None

    with pytest.raises(TransactionCanceled):
        await store.modify_item(T, key, plan)
    assert await store.get(T, key) is None


async def test_concurrent_read_check_writes_lose_no_update(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#M", "sk": "counter"}
    await store.put(T, {**key, "version": 0})

    async def bump() -> int | None:
        try:
            result: int = await store.modify_item(T, key, _bump(key))
        except TransactionCanceled:
            return None  # DynamoDB only: lost every race it ran
        return result

    results = await asyncio.gather(*(bump() for _ in range(16)))
    won = sorted(r for r in results if r is not None)
    assert won == list(range(1, len(won) + 1))  # each success is one version, none lost
    assert await store.get(T, key) == {**key, "version": len(won)}


@pytest.mark.backend("memory", "sqlite")
async def test_read_check_write_is_one_step_on_local_engines(store: Store, ns: str) -> None:
    """Nothing lands between the read and the write: every one of 16 applies."""
    key = {"pk": f"{ns}#M", "sk": "counter"}
    await store.put(T, {**key, "version": 0})
    results = await asyncio.gather(*(store.modify_item(T, key, _bump(key)) for _ in range(16)))
    assert sorted(results) == list(range(1, 17))


async def test_write_listeners_hear_of_every_written_item(store: Store, ns: str) -> None:
    heard: list[tuple[str, str, str]] = []

    class Watcher:
        def hear(self, table: str, pk: str, sk: str) -> None:
            if pk.startswith(ns):
                heard.append((table, pk, sk))

    watcher = Watcher()
    store.watch_writes(watcher.hear)
    pk = f"{ns}#W"
    await store.put(T, {"pk": pk, "sk": "a"})
    await store.update(T, {"pk": pk, "sk": "b"}, UpdateSpec(set={"x": 1}))
    await store.delete(T, {"pk": pk, "sk": "a"})
    await store.batch_write(T, puts=[{"pk": pk, "sk": "c"}], deletes=[{"pk": pk, "sk": "b"}])
    await store.transact_write(
        [Put(T, {"pk": pk, "sk": "d"}), Delete(T, {"pk": pk, "sk": "c"}),
         Check(T, {"pk": pk, "sk": "d2"}, ItemNotExists())]
    )  # fmt: skip
    with pytest.raises(TransactionCanceled):  # a failed write may have been the last word
        await store.transact_write([Put(T, {"pk": pk, "sk": "e"}, condition=ItemExists())])
    await store.modify_item(
        T, {"pk": pk, "sk": "f"}, lambda item: ([Put(T, {"pk": pk, "sk": "f"})], 0)
    )
    await store.get(T, {"pk": pk, "sk": "f"})  # reads are not heard
    assert heard == [
        (T, pk, "a"), (T, pk, "b"), (T, pk, "a"), (T, pk, "c"), (T, pk, "b"),
        (T, pk, "d"), (T, pk, "c"), (T, pk, "e"), (T, pk, "f"),
    ]  # fmt: skip

    del watcher  # a bound method is held weakly: a watcher that went away is dropped
    await store.put(T, {"pk": pk, "sk": "g"})
    assert heard[-1] == (T, pk, "f")
