"""``update``: set / add / add_to_set / remove_from_set / remove."""

from __future__ import annotations

import asyncio

import pytest

from prework.errors import ConditionFailed, ValidationFailed
from prework.store.base import ItemNotExists, Store, Update, UpdateSpec, version_equals

T = "profiles"


def key(ns: str, sk: str = "S") -> dict[str, str]:
    return {"pk": f"{ns}#U", "sk": sk}


async def test_update_creates_an_absent_item(store: Store, ns: str) -> None:
    got = await store.update(T, key(ns), UpdateSpec(set={"name": "Ann", "n": 1.0}))
    assert got == {**key(ns), "name": "Ann", "n": 1}
    assert type(got["n"]) is int
    assert await store.get(T, key(ns)) == got


async def test_empty_update_creates_the_key_only(store: Store, ns: str) -> None:
    assert await store.update(T, key(ns), UpdateSpec()) == key(ns)
    assert await store.get(T, key(ns)) == key(ns)


async def test_update_returns_the_whole_new_item(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "keep": "me", "old": 1, "count": 2, "tags": {"a", "b"}})
    got = await store.update(
        T,
        key(ns),
        UpdateSpec(
            set={"name": "Bob", "nested": {"x": [1, b"y"]}},
            add={"count": 3},
            add_to_set={"tags": ["c"]},
            remove=["old"],
        ),
    )
    expected = {
        **key(ns),
        "keep": "me",
        "count": 5,
        "tags": {"a", "b", "c"},
        "name": "Bob",
        "nested": {"x": [1, b"y"]},
    }
    assert got == expected
    assert await store.get(T, key(ns)) == expected


async def test_add_numbers(store: Store, ns: str) -> None:
    got = await store.update(T, key(ns), UpdateSpec(add={"a": 1, "b": 0.5, "c": -2}))
    assert (got["a"], got["b"], got["c"]) == (1, 0.5, -2)
    got = await store.update(T, key(ns), UpdateSpec(add={"a": 1.5, "b": 0.5, "c": 2}))
    assert (got["a"], got["b"], got["c"]) == (2.5, 1, 0)
    assert type(got["b"]) is int
    # decimal arithmetic, as on DynamoDB: 0.1 + 0.2 is 0.3
    got = await store.update(T, key(ns, "dec"), UpdateSpec(add={"x": 0.1}))
    got = await store.update(T, key(ns, "dec"), UpdateSpec(add={"x": 0.2}))
    assert got["x"] == 0.3


async def test_string_sets(store: Store, ns: str) -> None:
    got = await store.update(T, key(ns), UpdateSpec(add_to_set={"tags": ["a", "b"]}))
    assert got["tags"] == {"a", "b"}
    got = await store.update(T, key(ns), UpdateSpec(add_to_set={"tags": {"b", "c"}}))
    assert got["tags"] == {"a", "b", "c"}
    got = await store.update(T, key(ns), UpdateSpec(remove_from_set={"tags": ["a", "zz"]}))
    assert got["tags"] == {"b", "c"}
    got = await store.update(
        T, key(ns), UpdateSpec(remove_from_set={"tags": ["b", "c"], "never": ["x"]})
    )
    assert "tags" not in got
    assert "never" not in got
    assert await store.get(T, key(ns)) == key(ns)


@pytest.mark.parametrize(
    "spec",
    [
        UpdateSpec(set={"pk": "other"}),
        UpdateSpec(set={"sk": "S"}),
        UpdateSpec(remove=["sk"]),
        UpdateSpec(add={"pk": 1}),
        UpdateSpec(set={"a": 1}, remove=["a"]),
        UpdateSpec(set={"a": 1}, add={"a": 1}),
        UpdateSpec(add_to_set={"t": ["x"]}, remove_from_set={"t": ["y"]}),
        UpdateSpec(add={"a": "1"}),  # type: ignore[dict-item]
        UpdateSpec(set={"e": set()}),
    ],
    ids=[
        "set-pk",
        "set-sk-same",
        "remove-sk",
        "add-pk",
        "set-and-remove",
        "set-and-add",
        "add-and-remove-set",
        "add-string",
        "set-empty-set",
    ],
)
async def test_invalid_updates_are_rejected(store: Store, ns: str, spec: UpdateSpec) -> None:
    await store.put(T, {**key(ns), "a": 0, "t": {"y"}})
    with pytest.raises(ValidationFailed):
        await store.update(T, key(ns), spec)
    assert await store.get(T, key(ns)) == {**key(ns), "a": 0, "t": {"y"}}


@pytest.mark.parametrize(
    "spec",
    [
        UpdateSpec(add={"name": 1}),
        UpdateSpec(add_to_set={"count": ["x"]}),
        UpdateSpec(remove_from_set={"name": ["x"]}),
    ],
    ids=["add-to-text", "add-to-set-on-number", "remove-from-set-on-text"],
)
async def test_type_mismatch_is_rejected_and_writes_nothing(
    store: Store, ns: str, spec: UpdateSpec
) -> None:
    stored = {**key(ns), "name": "Ann", "count": 1}
    await store.put(T, stored)
    with pytest.raises(ValidationFailed):
        await store.update(T, key(ns), spec)
    assert await store.get(T, key(ns)) == stored


async def test_optimistic_locking_with_version(store: Store, ns: str) -> None:
    await store.update(T, key(ns), UpdateSpec(set={"version": 1}), condition=ItemNotExists())
    got = await store.update(
        T, key(ns), UpdateSpec(set={"v": "a"}, add={"version": 1}), condition=version_equals(1)
    )
    assert got["version"] == 2
    with pytest.raises(ConditionFailed):
        await store.update(
            T, key(ns), UpdateSpec(set={"v": "b"}, add={"version": 1}), condition=version_equals(1)
        )
    assert await store.get(T, key(ns)) == {**key(ns), "version": 2, "v": "a"}


async def test_update_moves_an_item_between_index_partitions(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "gsi1pk": f"{ns}#old", "gsi1sk": "1"})
    await store.update(T, key(ns), UpdateSpec(set={"gsi1pk": f"{ns}#new"}))
    old = await store.query(T, index="gsi1", pk=f"{ns}#old")
    new = await store.query(T, index="gsi1", pk=f"{ns}#new")
    assert old.items == []
    assert [i["sk"] for i in new.items] == ["S"]
    await store.update(T, key(ns), UpdateSpec(remove=["gsi1sk"]))
    assert (await store.query(T, index="gsi1", pk=f"{ns}#new")).items == []


async def test_an_update_writes_its_values_as_they_were_when_it_was_made(
    store: Store, ns: str
) -> None:
    # the embedded backends write on another thread: a caller changing its map
    # after making the call (while the write is under way) changes nothing written
    answers = {"a": {"value": "first", "n": 1}}
    pending = asyncio.ensure_future(store.update(T, key(ns), UpdateSpec(set={"answers": answers})))
    await asyncio.sleep(0)  # the call made, its write not done
    answers["a"]["value"] = "changed"
    answers["b"] = {"value": "added"}
    got = await pending
    assert got["answers"] == {"a": {"value": "first", "n": 1}}
    assert await store.get(T, key(ns)) == got
    transaction = asyncio.ensure_future(
        store.transact_write([Update(T, key(ns), UpdateSpec(set={"answers": answers}))])
    )
    await asyncio.sleep(0)
    answers["c"] = {"value": "late"}
    await transaction
    stored = await store.get(T, key(ns))
    assert stored is not None
    assert set(stored["answers"]) == {"a", "b"}
