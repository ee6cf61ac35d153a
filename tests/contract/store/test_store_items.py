"""Single items: values round-trip, validation, size, conditions."""

from __future__ import annotations

from typing import Any

import pytest

from prework.errors import ConditionFailed, TooLarge, ValidationFailed
from prework.store.base import (
    MAX_ITEM_BYTES,
    All,
    Any_,
    AttrEquals,
    AttrExists,
    AttrGreaterThan,
    AttrLessThan,
    AttrNotEquals,
    AttrNotExists,
    Condition,
    ItemExists,
    ItemNotExists,
    Store,
    UpdateSpec,
)
from prework.store.codec import item_size

T = "profiles"


def key(ns: str, sk: str = "S") -> dict[str, str]:
    return {"pk": f"{ns}#P", "sk": sk}


async def test_init_and_ping_are_idempotent(store: Store) -> None:
    await store.init()
    await store.ping()


async def test_get_absent_is_none(store: Store, ns: str) -> None:
    assert await store.get(T, key(ns)) is None


async def test_every_value_type_round_trips(store: Store, ns: str) -> None:
    values: dict[str, Any] = {
        "text": "héllo ✓ 𝄞",
        "empty_text": "",
        "int": 42,
        "negative": -7,
        "zero": 0,
        "float": 3.25,
        "small": 1e-05,
        "big": 10**37,
        "yes": True,
        "no": False,
        "nothing": None,
        "bytes": b"\x00\x01\xfe\xff",
        "tags": {"b", "a"},
        "frozen": frozenset({"x"}),
        "list": [1, "two", None, True, [3.5], {"k": "v"}, b"\x07"],
        "empty_list": [],
        "map": {"a": {"b": {"c": [b"z", {"deep"}]}}, "n": 2},
        "empty_map": {},
    }
    item = {**key(ns), **values}
    await store.put(T, item)
    got = await store.get(T, key(ns))
    assert got == {**item, "frozen": {"x"}, "map": {"a": {"b": {"c": [b"z", {"deep"}]}}, "n": 2}}
    assert got is not None
    assert type(got["int"]) is int
    assert type(got["float"]) is float
    assert type(got["yes"]) is bool
    assert type(got["bytes"]) is bytes
    assert type(got["tags"]) is set
    assert type(got["frozen"]) is set
    assert type(got["list"][4][0]) is float
    assert type(got["map"]["a"]["b"]["c"][1]) is set


async def test_integral_floats_come_back_as_int(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "one": 1.0, "hundred": 1e2, "half": 2.50, "nested": [4.0]})
    got = await store.get(T, key(ns))
    assert got is not None
    assert got["one"] == 1
    assert type(got["one"]) is int
    assert type(got["hundred"]) is int
    assert got["hundred"] == 100
    assert got["half"] == 2.5
    assert type(got["half"]) is float
    assert type(got["nested"][0]) is int


async def test_put_replaces_the_whole_item(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "a": 1, "b": 2})
    await store.put(T, {**key(ns), "c": 3})
    assert await store.get(T, key(ns)) == {**key(ns), "c": 3}


async def test_items_differ_by_sort_key_and_table(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns, "A"), "v": "a"})
    await store.put(T, {**key(ns, "B"), "v": "b"})
    await store.put("teams", {**key(ns, "A"), "v": "team"})
    assert (await store.get(T, key(ns, "A")) or {})["v"] == "a"
    assert (await store.get(T, key(ns, "B")) or {})["v"] == "b"
    assert (await store.get("teams", key(ns, "A")) or {})["v"] == "team"


async def test_delete_removes_and_absent_delete_is_fine(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "v": 1})
    await store.delete(T, key(ns))
    assert await store.get(T, key(ns)) is None
    await store.delete(T, key(ns))


@pytest.mark.parametrize(
    "item",
    [
        {"sk": "S"},
        {"pk": "P"},
        {"pk": "", "sk": "S"},
        {"pk": "P", "sk": ""},
        {"pk": 1, "sk": "S"},
        {"pk": "P", "sk": "S", "empty_set": set()},
        {"pk": "P", "sk": "S", "int_set": {1, 2}},
        {"pk": "P", "sk": "S", "object": object()},
        {"pk": "P", "sk": "S", "nan": float("nan")},
        {"pk": "P", "sk": "S", "too_precise": 10**40 + 1},
        {"pk": "P", "sk": "S", "too_big": 10**126},
        {"pk": "P", "sk": "S", "huge": -(10**5000)},
        {"pk": "P", "sk": "S", "gsi1pk": "", "gsi1sk": "x"},
        {"pk": "P", "sk": "S", "gsi1pk": 5, "gsi1sk": "x"},
        {"pk": "P", "sk": "S", "text": ["ok", "\ud800"]},
    ],
    ids=[
        "no-pk",
        "no-sk",
        "empty-pk",
        "empty-sk",
        "int-pk",
        "empty-set",
        "int-set",
        "object",
        "nan",
        "too-precise",
        "too-big",
        "huge",
        "empty-index-key",
        "int-index-key",
        "lone-surrogate",
    ],
)
async def test_invalid_items_are_rejected(store: Store, ns: str, item: dict[str, Any]) -> None:
    if isinstance(item.get("pk"), str) and item["pk"]:
        item = {**item, "pk": f"{ns}#{item['pk']}"}
    with pytest.raises(ValidationFailed):
        await store.put(T, item)
    if isinstance(item.get("pk"), str) and item["pk"] and item.get("sk"):
        assert await store.get(T, {"pk": item["pk"], "sk": item["sk"]}) is None


async def test_whole_numbers_at_the_edges_round_trip(store: Store, ns: str) -> None:
    # up to 38 significant digits (trailing zeros are not), magnitudes below 1e126
    edges = {
        "max_digits": 10**38 - 1,
        "negative": -(10**38 - 1),
        "zeros": 123 * 10**100,
        "largest": 10**125,
        "nearly_1e126": 99 * 10**124,  # 419 bits
        "closest_to_1e126": 10**126 - 10**88,  # 38 nines: exact, not rounded to 1e126
        "long": 2**100 * 10**60,  # 31 significant digits
        "int64": 2**63,
    }
    item = {"pk": f"{ns}#N", "sk": "S", **edges}
    await store.put(T, item)
    assert await store.get(T, {"pk": f"{ns}#N", "sk": "S"}) == item
    with pytest.raises(ValidationFailed):  # 61 significant digits
        await store.put(T, {**item, "long": 2**200})
    added = await store.update(
        T, {"pk": f"{ns}#N", "sk": "S"}, UpdateSpec(add={"largest": 10**126 - 10**88 - 10**125})
    )
    assert added["largest"] == 10**126 - 10**88


@pytest.mark.parametrize(
    "bad_key",
    [{"pk": "P"}, {"pk": "", "sk": "S"}, {"pk": "P", "sk": 3}, {"pk": "P", "sk": "S", "x": "y"}],
    ids=["no-sk", "empty-pk", "int-sk", "extra-attr"],
)
async def test_invalid_keys_are_rejected(store: Store, bad_key: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        await store.get(T, bad_key)
    with pytest.raises(ValidationFailed):
        await store.delete(T, bad_key)
    with pytest.raises(ValidationFailed):
        await store.update(T, bad_key, UpdateSpec(set={"a": 1}))


async def test_unknown_table_is_a_bug(store: Store, ns: str) -> None:
    with pytest.raises(ValueError, match="nope"):
        await store.get("nope", key(ns))
    with pytest.raises(ValueError, match="nope"):
        await store.put("nope", {**key(ns)})


def _sized(ns: str, size: int) -> dict[str, Any]:
    """An item of exactly ``size`` bytes by DynamoDB's rules."""
    item: dict[str, Any] = {**key(ns), "blob": ""}
    item["blob"] = "x" * (size - item_size(item))
    assert item_size(item) == size
    return item


async def test_item_size_limit_on_put(store: Store, ns: str) -> None:
    await store.put(T, _sized(ns, MAX_ITEM_BYTES - 100))
    with pytest.raises(TooLarge):
        await store.put(T, _sized(ns, MAX_ITEM_BYTES + 1))
    got = await store.get(T, key(ns))
    assert got is not None
    assert item_size(got) == MAX_ITEM_BYTES - 100


async def test_item_size_limit_on_update(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "a": "x" * 300_000})
    with pytest.raises(TooLarge):
        await store.update(T, key(ns), UpdateSpec(set={"b": "y" * 200_000}))
    got = await store.get(T, key(ns))
    assert got == {**key(ns), "a": "x" * 300_000}


# ---------------------------------------------------------------------------- conditions
STORED: dict[str, Any] = {"n": 5, "s": "m", "flag": True, "tags": {"a"}, "nul": None}

# condition, holds on STORED, holds on an absent item
CONDITIONS: list[tuple[str, Condition, bool, bool]] = [
    ("item-exists", ItemExists(), True, False),
    ("item-not-exists", ItemNotExists(), False, True),
    ("attr-exists", AttrExists("n"), True, False),
    ("attr-exists-missing", AttrExists("missing"), False, False),
    ("attr-not-exists", AttrNotExists("n"), False, True),
    ("attr-not-exists-missing", AttrNotExists("missing"), True, True),
    ("equals", AttrEquals("n", 5), True, False),
    ("equals-float", AttrEquals("n", 5.0), True, False),
    ("equals-other", AttrEquals("n", 6), False, False),
    ("equals-other-type", AttrEquals("n", "5"), False, False),
    ("equals-bool-not-number", AttrEquals("flag", 1), False, False),
    ("equals-bool", AttrEquals("flag", True), True, False),
    ("equals-null", AttrEquals("nul", None), True, False),
    ("equals-set", AttrEquals("tags", {"a"}), True, False),
    ("equals-missing", AttrEquals("missing", None), False, False),
    ("not-equals", AttrNotEquals("n", 6), True, True),
    ("not-equals-same", AttrNotEquals("n", 5), False, True),
    ("not-equals-other-type", AttrNotEquals("n", "5"), True, True),
    ("not-equals-missing", AttrNotEquals("missing", 1), True, True),
    ("less", AttrLessThan("n", 6), True, False),
    ("less-equal-value", AttrLessThan("n", 5), False, False),
    ("less-string", AttrLessThan("s", "z"), True, False),
    ("less-string-false", AttrLessThan("s", "a"), False, False),
    ("less-other-type", AttrLessThan("n", "9"), False, False),
    ("less-missing", AttrLessThan("missing", 1), False, False),
    ("greater", AttrGreaterThan("n", 4), True, False),
    ("greater-equal-value", AttrGreaterThan("n", 5), False, False),
    ("greater-string", AttrGreaterThan("s", "a"), True, False),
    ("greater-float", AttrGreaterThan("n", 4.5), True, False),
    ("all", All(AttrEquals("n", 5), AttrExists("s")), True, False),
    ("all-false", All(ItemExists(), AttrEquals("n", 6)), False, False),
    ("any", Any_(AttrEquals("n", 6), AttrEquals("s", "m")), True, False),
    ("any-false", Any_(AttrEquals("n", 6), AttrNotExists("n")), False, True),
    (
        "nested",
        Any_(ItemNotExists(), All(AttrEquals("n", 5), AttrLessThan("n", 10))),
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    ("condition", "on_stored", "on_absent"),
    [c[1:] for c in CONDITIONS],
    ids=[c[0] for c in CONDITIONS],
)
async def test_condition_on_put(
    store: Store, ns: str, condition: Condition, on_stored: bool, on_absent: bool
) -> None:
    stored = {**key(ns, "stored"), **STORED}
    await store.put(T, stored)
    new = {**key(ns, "stored"), "new": True}
    if on_stored:
        await store.put(T, new, condition=condition)
        assert await store.get(T, key(ns, "stored")) == new
    else:
        with pytest.raises(ConditionFailed):
            await store.put(T, new, condition=condition)
        assert await store.get(T, key(ns, "stored")) == stored

    absent = {**key(ns, "absent"), "new": True}
    if on_absent:
        await store.put(T, absent, condition=condition)
        assert await store.get(T, key(ns, "absent")) == absent
    else:
        with pytest.raises(ConditionFailed):
            await store.put(T, absent, condition=condition)
        assert await store.get(T, key(ns, "absent")) is None


async def test_order_conditions_reject_unordered_operands(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "n": 1})
    with pytest.raises(ValidationFailed):
        await store.put(T, {**key(ns), "n": 2}, condition=AttrLessThan("n", [1]))
    assert await store.get(T, key(ns)) == {**key(ns), "n": 1}


async def test_failed_condition_on_update_writes_nothing(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "version": 1, "a": "x"})
    with pytest.raises(ConditionFailed):
        await store.update(
            T,
            key(ns),
            UpdateSpec(set={"a": "y"}, add={"version": 1}),
            condition=AttrEquals("version", 2),
        )
    assert await store.get(T, key(ns)) == {**key(ns), "version": 1, "a": "x"}
    with pytest.raises(ConditionFailed):
        await store.update(T, key(ns, "absent"), UpdateSpec(set={"a": 1}), condition=ItemExists())
    assert await store.get(T, key(ns, "absent")) is None


async def test_conditional_update_passes(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "version": 1})
    got = await store.update(
        T,
        key(ns),
        UpdateSpec(set={"a": "y"}, add={"version": 1}),
        condition=AttrEquals("version", 1),
    )
    assert got == {**key(ns), "version": 2, "a": "y"}


async def test_failed_condition_on_delete_keeps_the_item(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns), "owner": "ann"})
    with pytest.raises(ConditionFailed):
        await store.delete(T, key(ns), condition=AttrEquals("owner", "bob"))
    assert await store.get(T, key(ns)) == {**key(ns), "owner": "ann"}
    await store.delete(T, key(ns), condition=AttrEquals("owner", "ann"))
    assert await store.get(T, key(ns)) is None
    with pytest.raises(ConditionFailed):
        await store.delete(T, key(ns), condition=ItemExists())


async def test_condition_failed_is_a_conflict(store: Store, ns: str) -> None:
    await store.put(T, {**key(ns)})
    with pytest.raises(ConditionFailed) as caught:
        await store.put(T, {**key(ns)}, condition=ItemNotExists())
    assert caught.value.code == "condition_failed"
    assert caught.value.status == 409
