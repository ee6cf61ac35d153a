"""Concurrent conditional writers through one store: conditions are atomic."""

from __future__ import annotations

import asyncio

from prework.errors import ConditionFailed
from prework.store.base import ItemNotExists, Store, UpdateSpec, version_equals

T = "sessions"


async def test_exactly_one_of_20_creators_wins(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#C", "sk": "lock"}

    async def create(i: int) -> int | None:
        try:
            await store.put(T, {**key, "owner": i}, condition=ItemNotExists())
        except ConditionFailed:
            return None
        return i

    results = await asyncio.gather(*(create(i) for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get(T, key) == {**key, "owner": winners[0]}


async def test_50_concurrent_increments(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#C", "sk": "counter"}
    results = await asyncio.gather(
        *(store.update(T, key, UpdateSpec(add={"n": 1})) for _ in range(50))
    )
    assert sorted(r["n"] for r in results) == list(range(1, 51))
    assert await store.get(T, key) == {**key, "n": 50}


async def test_one_of_10_optimistic_writers_wins(store: Store, ns: str) -> None:
    key = {"pk": f"{ns}#C", "sk": "doc"}
    await store.put(T, {**key, "version": 1})

    async def bump(i: int) -> bool:
        try:
            await store.update(
                T, key, UpdateSpec(set={"by": i}, add={"version": 1}), condition=version_equals(1)
            )
        except ConditionFailed:
            return False
        return True

    results = await asyncio.gather(*(bump(i) for i in range(10)))
    assert results.count(True) == 1
    got = await store.get(T, key)
    assert got is not None
    assert got["version"] == 2
    assert got["by"] == results.index(True)
