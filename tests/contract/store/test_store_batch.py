"""``batch_get`` and ``batch_write``."""

from __future__ import annotations

import pytest

from prework.errors import LimitExceeded, TooLarge, ValidationFailed
from prework.store.base import MAX_BATCH_GET, MAX_ITEM_BYTES, Store

T = "templates"


async def test_batch_write_1000_then_batch_get(store: Store, ns: str) -> None:
    pk = f"{ns}#B"
    await store.batch_write(T, puts=[{"pk": pk, "sk": f"{i:04d}", "i": i} for i in range(1000)])
    page = await store.query(T, pk=pk)
    items = list(page.items)
    cursor = page.cursor
    while cursor is not None:
        page = await store.query(T, pk=pk, cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
    assert [item["i"] for item in items] == list(range(1000))

    keys = [{"pk": pk, "sk": f"{i:04d}"} for i in range(0, 1000, 10)]
    assert len(keys) == MAX_BATCH_GET
    got = await store.batch_get(T, keys)
    assert sorted(item["i"] for item in got) == list(range(0, 1000, 10))

    await store.batch_write(T, deletes=[{"pk": pk, "sk": f"{i:04d}"} for i in range(1000)])
    assert (await store.query(T, pk=pk)).items == []


async def test_batch_get_returns_only_existing_items(store: Store, ns: str) -> None:
    pk = f"{ns}#B"
    await store.batch_write(T, puts=[{"pk": pk, "sk": "a", "v": b"\x01"}, {"pk": pk, "sk": "b"}])
    got = await store.batch_get(T, [{"pk": pk, "sk": "a"}, {"pk": pk, "sk": "zz"}])
    assert got == [{"pk": pk, "sk": "a", "v": b"\x01"}]
    assert await store.batch_get(T, []) == []


async def test_batch_get_over_100_keys_is_rejected(store: Store, ns: str) -> None:
    keys = [{"pk": f"{ns}#B", "sk": f"{i}"} for i in range(MAX_BATCH_GET + 1)]
    with pytest.raises(LimitExceeded):
        await store.batch_get(T, keys)


async def test_batch_write_mixes_puts_and_deletes(store: Store, ns: str) -> None:
    pk = f"{ns}#B"
    await store.batch_write(T, puts=[{"pk": pk, "sk": f"{i:02d}"} for i in range(30)])
    await store.batch_write(
        T,
        puts=[{"pk": pk, "sk": f"{i:02d}", "new": True} for i in range(30, 40)],
        deletes=[{"pk": pk, "sk": f"{i:02d}"} for i in range(0, 30, 2)],
    )
    items = (await store.query(T, pk=pk)).items
    assert [i["sk"] for i in items] == [f"{i:02d}" for i in range(1, 30, 2)] + [
        f"{i:02d}" for i in range(30, 40)
    ]


async def test_batch_write_validates_everything_before_writing(store: Store, ns: str) -> None:
    pk = f"{ns}#B"
    puts = [{"pk": pk, "sk": f"{i:02d}"} for i in range(29)]
    puts.append({"pk": pk, "sk": "big", "blob": "x" * MAX_ITEM_BYTES})
    with pytest.raises(TooLarge):
        await store.batch_write(T, puts=puts)
    with pytest.raises(ValidationFailed):
        await store.batch_write(T, puts=[*puts[:29], {"pk": pk, "sk": ""}])
    assert (await store.query(T, pk=pk)).items == []
