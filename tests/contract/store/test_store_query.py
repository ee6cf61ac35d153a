"""``query``: key conditions, order, limits, cursors, sparse indexes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from prework.errors import ValidationFailed
from prework.store.base import Item, Store

T = "profiles"


async def query_all(store: Store, table: str, **kwargs: Any) -> tuple[list[Item], list[int]]:
    """Every item of a query, following cursors; also the size of each page."""
    items: list[Item] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        page = await store.query(table, cursor=cursor, **kwargs)
        sizes.append(len(page.items))
        items.extend(page.items)
        if page.cursor is None:
            return items, sizes
        cursor = page.cursor
        assert len(sizes) < 1000, "the cursors do not end"


def sks(items: list[Item]) -> list[str]:
    return [item["sk"] for item in items]


@pytest.fixture
async def seeded(store: Store, ns: str) -> str:
    """Partition ``<ns>#Q`` with A#01..A#10, B#01..B#05 and a neighbour partition."""
    pk = f"{ns}#Q"
    puts = [{"pk": pk, "sk": f"A#{i:02d}", "n": i} for i in range(1, 11)]
    puts += [{"pk": pk, "sk": f"B#{i:02d}", "n": i} for i in range(1, 6)]
    puts += [{"pk": f"{ns}#Q2", "sk": "A#01"}, {"pk": f"{ns}#Q0", "sk": "A#01"}]
    await store.batch_write(T, puts=puts)
    return pk


async def test_whole_partition_in_sort_key_order(store: Store, seeded: str) -> None:
    page = await store.query(T, pk=seeded)
    assert sks(page.items) == [f"A#{i:02d}" for i in range(1, 11)] + [
        f"B#{i:02d}" for i in range(1, 6)
    ]
    assert page.cursor is None
    assert page.items[0] == {"pk": seeded, "sk": "A#01", "n": 1}


async def test_empty_partition(store: Store, ns: str) -> None:
    page = await store.query(T, pk=f"{ns}#none")
    assert page.items == []
    assert page.cursor is None


async def test_sort_key_prefix(store: Store, seeded: str) -> None:
    assert sks((await store.query(T, pk=seeded, sk_prefix="B#")).items) == [
        f"B#{i:02d}" for i in range(1, 6)
    ]
    assert sks((await store.query(T, pk=seeded, sk_prefix="A#1")).items) == ["A#10"]
    assert (await store.query(T, pk=seeded, sk_prefix="C")).items == []


async def test_descending(store: Store, seeded: str) -> None:
    page = await store.query(T, pk=seeded, sk_prefix="B#", descending=True)
    assert sks(page.items) == [f"B#{i:02d}" for i in range(5, 0, -1)]


async def test_sort_keys_order_by_utf8_bytes(store: Store, ns: str) -> None:
    pk = f"{ns}#U"
    odd = ["B", "a", "é", "Z", "\U0001f600", "\uffff", "é\U0010ffff", "é\U0010ffffz", "éa", "f"]
    await store.batch_write(T, puts=[{"pk": pk, "sk": sk} for sk in odd])
    ordered = sorted(odd, key=lambda sk: sk.encode("utf-8"))
    assert sks((await store.query(T, pk=pk)).items) == ordered
    assert sks((await store.query(T, pk=pk, sk_prefix="é")).items) == [
        "é",
        "éa",
        "é\U0010ffff",
        "é\U0010ffffz",
    ]
    assert sks((await store.query(T, pk=pk, sk_prefix="é\U0010ffff")).items) == [
        "é\U0010ffff",
        "é\U0010ffffz",
    ]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"sk_gte": "A#09", "sk_lte": "B#02"}, ["A#09", "A#10", "B#01", "B#02"]),
        ({"sk_gte": "B#04"}, ["B#04", "B#05"]),
        ({"sk_lte": "A#02"}, ["A#01", "A#02"]),
        ({"sk_gte": "A#05", "sk_lte": "A#05"}, ["A#05"]),
        ({"sk_gte": "A#055", "sk_lte": "A#059"}, []),
        ({"sk_gte": "A#10", "sk_lte": "B"}, ["A#10"]),
    ],
    ids=["between", "gte", "lte", "point", "empty", "inclusive-bounds-only"],
)
async def test_sort_key_ranges(
    store: Store, seeded: str, bounds: dict[str, Any], expected: list[str]
) -> None:
    assert sks((await store.query(T, pk=seeded, **bounds)).items) == expected
    down = await store.query(T, pk=seeded, descending=True, **bounds)
    assert sks(down.items) == expected[::-1]


async def test_limit_caps_the_page(store: Store, seeded: str) -> None:
    page = await store.query(T, pk=seeded, limit=3)
    assert sks(page.items) == ["A#01", "A#02", "A#03"]
    assert page.cursor is not None
    nxt = await store.query(T, pk=seeded, limit=3, cursor=page.cursor)
    assert sks(nxt.items) == ["A#04", "A#05", "A#06"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sk_prefix": "A", "sk_gte": "A"},
        {"sk_prefix": "A", "sk_lte": "B"},
        {"sk_gte": "B", "sk_lte": "A"},
        {"limit": 0},
        {"limit": -1},
    ],
    ids=["prefix-and-gte", "prefix-and-lte", "reversed-range", "zero-limit", "negative-limit"],
)
async def test_invalid_queries_are_rejected(
    store: Store, seeded: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed):
        await store.query(T, pk=seeded, **kwargs)


async def test_unknown_index_is_a_bug(store: Store, seeded: str) -> None:
    with pytest.raises(ValueError, match="gsi3"):
        await store.query(T, pk=seeded, index="gsi3")


# ---------------------------------------------------------------------------- pagination
@pytest.fixture
async def many(store: Store, ns: str) -> str:
    pk = f"{ns}#M"
    await store.batch_write(T, puts=[{"pk": pk, "sk": f"{i:04d}", "i": i} for i in range(250)])
    return pk


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_pages_of_40_cover_250_items_once(store: Store, many: str, descending: bool) -> None:
    items, sizes = await query_all(store, T, pk=many, limit=40, descending=descending)
    expected = [f"{i:04d}" for i in range(250)]
    assert sks(items) == (expected[::-1] if descending else expected)
    assert all(size <= 40 for size in sizes)
    assert len(sizes) >= 7
    assert sum(sizes[:6]) == 240  # full pages until the end


async def test_pages_with_a_prefix(store: Store, many: str) -> None:
    items, _ = await query_all(store, T, pk=many, sk_prefix="01", limit=7)
    assert sks(items) == [f"{i:04d}" for i in range(100, 200)]


async def test_pages_with_a_range_descending(store: Store, many: str) -> None:
    items, _ = await query_all(
        store, T, pk=many, sk_gte="0050", sk_lte="0149", limit=30, descending=True
    )
    assert sks(items) == [f"{i:04d}" for i in range(149, 49, -1)]


async def test_writes_between_pages_do_not_duplicate_or_skip(store: Store, many: str) -> None:
    first = await store.query(T, pk=many, limit=100)
    assert first.cursor is not None
    # delete an item already seen, add one before the cursor and one after it
    await store.delete(T, {"pk": many, "sk": "0000"})
    await store.put(T, {"pk": many, "sk": "0050a"})
    await store.put(T, {"pk": many, "sk": "0150a"})
    items: list[Item] = []
    cursor: str | None = first.cursor
    while cursor is not None:
        page = await store.query(T, pk=many, limit=100, cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
    expected = [f"{i:04d}" for i in range(100, 250)]
    expected.insert(expected.index("0151"), "0150a")
    assert sks(items) == expected


# ---------------------------------------------------------------------------- indexes
async def test_sparse_index(store: Store, ns: str) -> None:
    g = f"{ns}#G"
    await store.batch_write(
        T,
        puts=[
            {"pk": f"{ns}#u3", "sk": "P", "gsi1pk": g, "gsi1sk": "c", "name": "three"},
            {"pk": f"{ns}#u1", "sk": "P", "gsi1pk": g, "gsi1sk": "a", "name": "one"},
            {"pk": f"{ns}#u2", "sk": "P", "gsi1pk": g, "gsi1sk": "b", "name": "two"},
            {"pk": f"{ns}#u4", "sk": "P", "gsi1pk": g, "name": "no index sort key"},
            {"pk": f"{ns}#u5", "sk": "P", "gsi1sk": "a", "name": "no index partition key"},
            {"pk": f"{ns}#u6", "sk": "P", "gsi1pk": f"{ns}#other", "gsi1sk": "a"},
        ],
    )
    page = await store.query(T, index="gsi1", pk=g)
    assert [i["name"] for i in page.items] == ["one", "two", "three"]
    assert page.items[0] == {
        "pk": f"{ns}#u1",
        "sk": "P",
        "gsi1pk": g,
        "gsi1sk": "a",
        "name": "one",
    }
    down = await store.query(T, index="gsi1", pk=g, descending=True)
    assert [i["name"] for i in down.items] == ["three", "two", "one"]
    ranged = await store.query(T, index="gsi1", pk=g, sk_gte="b")
    assert [i["name"] for i in ranged.items] == ["two", "three"]
    prefixed = await store.query(T, index="gsi1", pk=g, sk_prefix="c")
    assert [i["name"] for i in prefixed.items] == ["three"]
    # the index partition key is not a table partition key, and vice versa
    assert (await store.query(T, pk=g)).items == []
    assert (await store.query(T, index="gsi1", pk=f"{ns}#u1")).items == []


async def test_index_pagination(store: Store, ns: str) -> None:
    g = f"{ns}#GP"
    await store.batch_write(
        "audit-log",
        puts=[
            {"pk": f"{ns}#e{i:03d}", "sk": "E", "gsi2pk": g, "gsi2sk": f"{(i * 37) % 60:03d}"}
            for i in range(60)
        ],
    )
    items, sizes = await query_all(store, "audit-log", index="gsi2", pk=g, limit=9)
    assert [i["gsi2sk"] for i in items] == [f"{i:03d}" for i in range(60)]
    assert len({i["pk"] for i in items}) == 60
    assert all(size <= 9 for size in sizes)


# ---------------------------------------------------------------------------- cursors
async def _cursor(store: Store, pk: str, **kwargs: Any) -> str:
    page = await store.query(T, pk=pk, limit=2, **kwargs)
    assert page.cursor is not None
    return page.cursor


def _tampered(cursor: str) -> list[str]:
    return [
        "garbage",
        "!!!!",
        cursor[: len(cursor) // 2],
        cursor[::-1],
        "x" + cursor,
        base64.urlsafe_b64encode(b'{"x": 1}').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
    ]


async def test_malformed_cursors_are_rejected(store: Store, seeded: str) -> None:
    cursor = await _cursor(store, seeded)
    for bad in _tampered(cursor):
        with pytest.raises(ValidationFailed) as caught:
            await store.query(T, pk=seeded, limit=2, cursor=bad)
        assert caught.value.code == "invalid_cursor", bad


async def test_cursor_from_another_partition_is_rejected(
    store: Store, seeded: str, ns: str
) -> None:
    cursor = await _cursor(store, seeded)
    with pytest.raises(ValidationFailed) as caught:
        await store.query(T, pk=f"{ns}#Q2", limit=2, cursor=cursor)
    assert caught.value.code == "invalid_cursor"


async def test_cursor_from_the_table_is_rejected_on_an_index(store: Store, seeded: str) -> None:
    cursor = await _cursor(store, seeded)
    with pytest.raises(ValidationFailed) as caught:
        await store.query(T, index="gsi1", pk=seeded, limit=2, cursor=cursor)
    assert caught.value.code == "invalid_cursor"


# ---------------------------------------------------------------------------- forged cursors
# A cursor is not signed: a client can rewrite its position. Every backend must
# then accept exactly the positions DynamoDB accepts as ExclusiveStartKey (key
# values within their limits, the sort key inside the query's key range) and
# reject the rest as invalid_cursor, before the engine sees them.
def _forge(cursor: str, position: Any) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    data = json.loads(raw)
    data["k"] = position
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def _rejects(store: Store, table: str, forged: list[Any], **kwargs: Any) -> None:
    page = await store.query(table, limit=1, **kwargs)
    assert page.cursor is not None
    for position in forged:
        with pytest.raises(ValidationFailed) as caught:
            await store.query(table, limit=1, cursor=_forge(page.cursor, position), **kwargs)
        assert caught.value.code == "invalid_cursor", position


async def _continues(store: Store, table: str, position: Any, **kwargs: Any) -> list[Item]:
    page = await store.query(table, limit=1, **kwargs)
    assert page.cursor is not None
    forged = _forge(page.cursor, position)
    return (await store.query(table, limit=3, cursor=forged, **kwargs)).items


BAD_SORT_KEYS: list[Any] = ["", 5, None, ["A#01"], "s" * 1025, "é" * 513, "\ud800"]


async def test_forged_table_positions(store: Store, seeded: str) -> None:
    await _rejects(store, T, [[bad] for bad in BAD_SORT_KEYS] + [[], ["A#01", "x"]], pk=seeded)
    # any key value is a position of an unbounded query, even one before every item
    assert sks(await _continues(store, T, ["\x00"], pk=seeded)) == ["A#01", "A#02", "A#03"]
    assert sks(await _continues(store, T, ["A#055"], pk=seeded)) == ["A#06", "A#07", "A#08"]
    assert sks(await _continues(store, T, ["A#055"], pk=seeded, descending=True)) == [
        "A#05",
        "A#04",
        "A#03",
    ]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_forged_positions_outside_the_key_range(
    store: Store, seeded: str, descending: bool
) -> None:
    outside = [["\x00"], ["A"], ["B#01"], ["Z"]]
    await _rejects(store, T, outside, pk=seeded, sk_prefix="A#", descending=descending)
    outside = [["A#02"], ["A#065"], ["B#01"], ["\x00"]]
    kwargs: dict[str, Any] = {"sk_gte": "A#03", "sk_lte": "A#06", "descending": descending}
    await _rejects(store, T, outside, pk=seeded, **kwargs)
    # the near end of the range is a position; the far end is not (on a table
    # no item follows it, so no page can end there and have a next page)
    near, far = ("A#06", "A#03") if descending else ("A#03", "A#06")
    inside = await _continues(store, T, [near], pk=seeded, **kwargs)
    assert sks(inside) == (["A#05", "A#04", "A#03"] if descending else ["A#04", "A#05", "A#06"])
    await _rejects(store, T, [[far]], pk=seeded, **kwargs)
    if descending:
        await _rejects(store, T, [["A#03"]], pk=seeded, sk_gte="A#03", descending=True)
        await _rejects(store, T, [["A#"]], pk=seeded, sk_prefix="A#", descending=True)
    else:
        await _rejects(store, T, [["A#06"]], pk=seeded, sk_lte="A#06")


async def test_forged_index_positions(store: Store, ns: str) -> None:
    g = f"{ns}#FG"
    await store.batch_write(
        T,
        puts=[
            {"pk": f"{ns}#u{i}", "sk": "P", "gsi1pk": g, "gsi1sk": f"A#{i}"} for i in range(1, 6)
        ],
    )
    pk, sk = f"{ns}#u1", "P"
    forged: list[Any] = [[bad, pk, sk] for bad in BAD_SORT_KEYS]
    forged += [["A#1", bad, sk] for bad in ("", 5, None, [pk], "\ud800", "é" * 1025)]
    forged += [["A#1", pk, bad] for bad in BAD_SORT_KEYS]
    forged += [["A#1", pk], ["A#1"], [], ["A#1", pk, sk, "x"]]
    await _rejects(store, T, forged, index="gsi1", pk=g)
    await _rejects(store, T, [["B#1", pk, sk], ["A", pk, sk]], index="gsi1", pk=g, sk_prefix="A#")
    # a position between items, for any item key, continues after it
    after = await _continues(store, T, ["A#25", "any", "key"], index="gsi1", pk=g)
    assert [i["gsi1sk"] for i in after] == ["A#3", "A#4", "A#5"]
    after = await _continues(store, T, ["A#25", "any", "key"], index="gsi1", pk=g, sk_prefix="A#")
    assert [i["gsi1sk"] for i in after] == ["A#3", "A#4", "A#5"]


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
async def test_index_pages_end_on_ties_at_a_bound(store: Store, ns: str, descending: bool) -> None:
    """Items may share an index sort key: a page may end on the range's far end
    and still have a next page, on every backend."""
    g = f"{ns}#TG"
    puts: list[Item] = [{"pk": f"{ns}#a", "sk": "P", "gsi1pk": g, "gsi1sk": "A"}]
    puts += [{"pk": f"{ns}#b{i}", "sk": "P", "gsi1pk": g, "gsi1sk": "B"} for i in range(5)]
    puts += [{"pk": f"{ns}#c", "sk": "P", "gsi1pk": g, "gsi1sk": "C"}]
    await store.batch_write(T, puts=puts)
    bounds = {"sk_gte": "B"} if descending else {"sk_lte": "B"}
    items, sizes = await query_all(
        store, T, index="gsi1", pk=g, limit=2, descending=descending, **bounds
    )
    assert sizes[0] == 2  # the first page ends on a B, with more Bs to come
    assert len({i["pk"] for i in items}) == len(items) == 6
    assert sorted(i["gsi1sk"] for i in items) == (
        ["B"] * 5 + ["C"] if descending else ["A"] + ["B"] * 5
    )
