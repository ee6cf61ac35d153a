"""``query_merged``: several partitions of an index as one sequence, ordered by
the index sort key then the table key (UTF-8 byte order), with bounds, pages,
cursors bound to the merged query, and validation before anything is read."""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import pytest

from prework.errors import ValidationFailed
from prework.store.base import Item, Page, Store

T = "assignments"  # indexes gsi1 and gsi2
IX = "gsi1"


# ---------------------------------------------------------------------------- helpers
def entry(ns: str, part: str, isk: str, pk: str, sk: str = "S", **extra: Any) -> Item:
    """An item in partition ``<ns>#<part>`` of gsi1 with sort key ``isk``; its
    table key is ``(<ns>#<pk>, sk)``."""
    return {"pk": f"{ns}#{pk}", "sk": sk, "gsi1pk": f"{ns}#{part}", "gsi1sk": isk, **extra}


def order(item: Item, isk: str = "gsi1sk") -> tuple[bytes, bytes, bytes]:
    """The contract's order: index sort key, then ``pk``, then ``sk``, as UTF-8 bytes."""
    return (item[isk].encode(), item["pk"].encode(), item["sk"].encode())


def expected(
    written: list[Item],
    pks: list[str],
    *,
    sk_gte: str | None = None,
    sk_after: str | None = None,
    sk_lte: str | None = None,
) -> list[Item]:
    """What the contract says a merged gsi1 query of ``written`` returns, sorted in Python."""
    chosen: list[Item] = []
    for item in written:
        if item.get("gsi1pk") not in pks or "gsi1sk" not in item:
            continue
        isk = item["gsi1sk"].encode()
        if sk_gte is not None and isk < sk_gte.encode():
            continue
        if sk_after is not None and isk <= sk_after.encode():
            continue
        if sk_lte is not None and isk > sk_lte.encode():
            continue
        chosen.append(item)
    return sorted(chosen, key=order)


def keys(items: list[Item]) -> list[tuple[str, str]]:
    return [(item["pk"], item["sk"]) for item in items]


def names(items: list[Item]) -> list[str]:
    return [item["name"] for item in items]


async def merged_all(
    store: Store,
    pks: list[str],
    *,
    limit: int,
    table: str = T,
    index: str = IX,
    cursor: str | None = None,
    shuffle: random.Random | None = None,
    **bounds: Any,
) -> tuple[list[Item], list[int]]:
    """Every item of a merged query (from ``cursor`` on), following cursors; also
    each page's size. With ``shuffle``, every page names the partitions in
    another order."""
    items: list[Item] = []
    sizes: list[int] = []
    while True:
        if shuffle is not None:
            pks = pks[:]
            shuffle.shuffle(pks)
        page = await store.query_merged(
            table, index=index, pks=pks, limit=limit, cursor=cursor, **bounds
        )
        assert len(page.items) <= limit
        sizes.append(len(page.items))
        items.extend(page.items)
        if page.cursor is None:
            return items, sizes
        cursor = page.cursor
        assert len(sizes) <= 1000, "the cursors do not end"


def assert_full_pages(sizes: list[int], limit: int) -> None:
    """Every page but the last is full (the last may be short, even empty)."""
    assert all(size == limit for size in sizes[:-1]), sizes


async def query_all(store: Store, table: str, **kwargs: Any) -> list[Item]:
    items: list[Item] = []
    cursor: str | None = None
    while True:
        page = await store.query(table, cursor=cursor, **kwargs)
        items.extend(page.items)
        if page.cursor is None:
            return items
        cursor = page.cursor


async def rejected(store: Store, code: str, **kwargs: Any) -> ValidationFailed:
    kwargs.setdefault("index", IX)
    kwargs.setdefault("limit", 10)
    table = kwargs.pop("table", T)
    with pytest.raises(ValidationFailed) as caught:
        await store.query_merged(table, **kwargs)
    assert caught.value.code == code, kwargs
    return caught.value


# ---------------------------------------------------------------------------- order
async def test_interleaved_partitions_merge_in_order(store: Store, ns: str) -> None:
    written = [
        entry(ns, "P1", "010", "a", name="p1-010"),
        entry(ns, "P2", "020", "b", name="p2-020"),
        entry(ns, "P1", "030", "c", name="p1-030", n=3, tags={"x", "y"}),
        entry(ns, "P3", "015", "d", name="p3-015"),
        entry(ns, "P2", "040", "e", name="p2-040"),
        entry(ns, "P3", "045", "f", name="p3-045"),
        entry(ns, "P1", "050", "g", name="p1-050"),
        entry(ns, "P2", "005", "h", name="p2-005"),
        # not in the merged query: another partition, sparse items, another index
        entry(ns, "P9", "011", "i", name="other partition"),
        {"pk": f"{ns}#j", "sk": "S", "gsi1pk": f"{ns}#P1", "name": "no gsi1sk"},
        {"pk": f"{ns}#k", "sk": "S", "gsi1sk": "012", "name": "no gsi1pk"},
        {"pk": f"{ns}#l", "sk": "S", "gsi2pk": f"{ns}#P1", "gsi2sk": "013", "name": "gsi2"},
    ]
    await store.batch_write(T, puts=written)
    pks = [f"{ns}#P1", f"{ns}#P2", f"{ns}#P3"]
    page = await store.query_merged(T, index=IX, pks=pks, limit=100)
    assert names(page.items) == [
        "p2-005",
        "p1-010",
        "p3-015",
        "p2-020",
        "p1-030",
        "p2-040",
        "p3-045",
        "p1-050",
    ]
    assert page.cursor is None
    assert page.items == expected(written, pks)
    # whole items come back
    assert page.items[4] == {
        "pk": f"{ns}#c",
        "sk": "S",
        "gsi1pk": f"{ns}#P1",
        "gsi1sk": "030",
        "name": "p1-030",
        "n": 3,
        "tags": {"x", "y"},
    }
    # the other index: only what is in it
    other = await store.query_merged(T, index="gsi2", pks=pks, limit=100)
    assert names(other.items) == ["gsi2"]


async def test_ties_across_partitions_order_by_table_key(store: Store, ns: str) -> None:
    # every item has index sort key "B"; pk and sk values whose UTF-8 byte
    # order differs from UTF-16's (U+FFFF sorts before U+1F600 in UTF-8)
    written = [
        entry(ns, "P1", "B", "\U0001f600", name="emoji"),
        entry(ns, "P2", "B", "\uffff", name="ffff"),
        entry(ns, "P3", "B", "é", name="e-acute"),
        entry(ns, "P1", "B", "z", "2", name="z2"),
        entry(ns, "P2", "B", "z", "10", name="z10"),
        entry(ns, "P3", "B", "z", "\U0001f600", name="z-emoji"),
        entry(ns, "P2", "B", "z", "\uffff", name="z-ffff"),
        entry(ns, "P3", "B", "Z", name="Z"),
        entry(ns, "P1", "A", "zzz", name="before"),
        entry(ns, "P3", "C", "A", name="after"),
    ]
    await store.batch_write(T, puts=written)
    pks = [f"{ns}#P3", f"{ns}#P1", f"{ns}#P2"]
    page = await store.query_merged(T, index=IX, pks=pks, limit=100)
    assert names(page.items) == [
        "before",
        "Z",
        "z10",
        "z2",
        "z-ffff",
        "z-emoji",
        "e-acute",
        "ffff",
        "emoji",
        "after",
    ]
    assert page.items == expected(written, pks)


async def test_ties_within_one_partition(store: Store, ns: str) -> None:
    written = [
        entry(ns, "P1", "B", "b", name="b"),
        entry(ns, "P1", "B", "a", "2", name="a2"),
        entry(ns, "P1", "B", "a", "1", name="a1"),
        entry(ns, "P1", "A", "c", name="first"),
        entry(ns, "P2", "B", "aa", name="other partition"),
    ]
    await store.batch_write(T, puts=written)
    one = await store.query_merged(T, index=IX, pks=[f"{ns}#P1"], limit=10)
    assert names(one.items) == ["first", "a1", "a2", "b"]
    both = await store.query_merged(T, index=IX, pks=[f"{ns}#P2", f"{ns}#P1"], limit=10)
    assert names(both.items) == ["first", "a1", "a2", "other partition", "b"]


# ---------------------------------------------------------------------------- bounds
@pytest.fixture
async def lettered(store: Store, ns: str) -> list[str]:
    """Three partitions holding index sort keys A, B, B, C, D, D, E (named so)."""
    await store.batch_write(
        T,
        puts=[
            entry(ns, "P1", "A", "a", name="A"),
            entry(ns, "P1", "B", "b1", name="B1"),
            entry(ns, "P2", "B", "b2", name="B2"),
            entry(ns, "P2", "C", "c", name="C"),
            entry(ns, "P1", "D", "d1", name="D1"),
            entry(ns, "P2", "D", "d2", name="D2"),
            entry(ns, "P3", "E", "e", name="E"),
        ],
    )
    return [f"{ns}#P1", f"{ns}#P2", f"{ns}#P3"]


ALL = ["A", "B1", "B2", "C", "D1", "D2", "E"]


@pytest.mark.parametrize(
    ("bounds", "want"),
    [
        ({}, ALL),
        ({"sk_gte": "C"}, ["C", "D1", "D2", "E"]),
        ({"sk_gte": "B"}, ["B1", "B2", "C", "D1", "D2", "E"]),
        ({"sk_gte": "BB"}, ["C", "D1", "D2", "E"]),
        ({"sk_after": "B"}, ["C", "D1", "D2", "E"]),
        ({"sk_after": "A"}, ["B1", "B2", "C", "D1", "D2", "E"]),
        ({"sk_after": "BB"}, ["C", "D1", "D2", "E"]),
        ({"sk_after": "\x00"}, ALL),
        ({"sk_after": "E"}, []),
        ({"sk_lte": "D"}, ["A", "B1", "B2", "C", "D1", "D2"]),
        ({"sk_lte": "CZ"}, ["A", "B1", "B2", "C"]),
        ({"sk_lte": "A"}, ["A"]),
        ({"sk_gte": "B", "sk_lte": "D"}, ["B1", "B2", "C", "D1", "D2"]),
        ({"sk_gte": "D", "sk_lte": "D"}, ["D1", "D2"]),
        ({"sk_gte": "BA", "sk_lte": "BZ"}, []),
        ({"sk_after": "B", "sk_lte": "D"}, ["C", "D1", "D2"]),
        ({"sk_after": "A", "sk_lte": "B"}, ["B1", "B2"]),
        ({"sk_after": "D", "sk_lte": "D"}, []),
        ({"sk_gte": "B", "sk_after": "B"}, ["C", "D1", "D2", "E"]),
        ({"sk_gte": "C", "sk_after": "A"}, ["C", "D1", "D2", "E"]),
        ({"sk_gte": "A", "sk_after": "C"}, ["D1", "D2", "E"]),
        ({"sk_gte": "B", "sk_after": "C", "sk_lte": "D"}, ["D1", "D2"]),
        ({"sk_gte": "C", "sk_after": "B", "sk_lte": "E"}, ["C", "D1", "D2", "E"]),
    ],
    ids=[
        "none",
        "gte",
        "gte-on-ties",
        "gte-between",
        "after-ties",
        "after",
        "after-between",
        "after-before-all",
        "after-last",
        "lte-on-ties",
        "lte-between",
        "lte-first",
        "gte-lte",
        "gte-lte-point-of-ties",
        "gte-lte-empty",
        "after-lte",
        "after-lte-ties",
        "after-is-lte",
        "gte-after-same",
        "gte-stricter-than-after",
        "after-stricter-than-gte",
        "all-three",
        "all-three-gte-stricter",
    ],
)
async def test_bounds(
    store: Store, lettered: list[str], bounds: dict[str, Any], want: list[str]
) -> None:
    page = await store.query_merged(T, index=IX, pks=lettered, limit=100, **bounds)
    assert names(page.items) == want
    assert page.cursor is None
    # page by page, pages ending on ties at a bound included, the same
    for limit in (1, 2):
        items, sizes = await merged_all(store, lettered, limit=limit, **bounds)
        assert names(items) == want, limit
        assert_full_pages(sizes, limit)


# ---------------------------------------------------------------------------- pages
@pytest.fixture
async def sixty(store: Store, ns: str) -> tuple[list[Item], list[str]]:
    """60 items in 4 partitions, three per index sort key (ties across and within
    partitions), table keys repeating their pk; and the 4 partition keys."""
    written = [
        entry(ns, f"P{i % 4}", f"{(i * 7) % 20:02d}", f"e{i % 9}", f"S{i:02d}", i=i)
        for i in range(60)
    ]
    await store.batch_write(T, puts=written)
    return written, [f"{ns}#P{p}" for p in range(4)]


@pytest.mark.parametrize("limit", [1, 2, 7])
async def test_pages_yield_each_item_once_in_order(
    store: Store, sixty: tuple[list[Item], list[str]], limit: int
) -> None:
    written, pks = sixty
    items, sizes = await merged_all(store, pks, limit=limit)
    assert keys(items) == keys(expected(written, pks))
    assert len(set(keys(items))) == 60
    assert items == expected(written, pks)
    assert_full_pages(sizes, limit)
    assert len(sizes) >= 60 // limit


async def test_pages_with_bounds(store: Store, sixty: tuple[list[Item], list[str]]) -> None:
    written, pks = sixty
    cases: list[dict[str, Any]] = [
        {"sk_gte": "05", "sk_lte": "14"},
        {"sk_after": "05", "sk_lte": "14"},
        {"sk_gte": "03", "sk_after": "07"},
    ]
    for bounds in cases:
        items, sizes = await merged_all(store, pks[:3], limit=4, **bounds)
        want = expected(written, pks[:3], **bounds)
        assert keys(items) == keys(want), bounds
        assert want  # not vacuous
        assert_full_pages(sizes, 4)


async def test_a_page_ends_inside_a_run_of_ties(store: Store, ns: str) -> None:
    await store.batch_write(
        T,
        puts=[
            entry(ns, "P1", "A", "a", name="A"),
            entry(ns, "P2", "B", "b4", name="B4"),
            entry(ns, "P1", "B", "b2", name="B2"),
            entry(ns, "P3", "B", "b1", name="B1"),
            entry(ns, "P1", "B", "b3", name="B3"),
            entry(ns, "P3", "B", "b5", name="B5"),
            entry(ns, "P2", "C", "c", name="C"),
        ],
    )
    pks = [f"{ns}#P1", f"{ns}#P2", f"{ns}#P3"]
    first = await store.query_merged(T, index=IX, pks=pks, limit=3)
    assert names(first.items) == ["A", "B1", "B2"]
    assert first.cursor is not None
    second = await store.query_merged(T, index=IX, pks=pks, limit=2, cursor=first.cursor)
    assert names(second.items) == ["B3", "B4"]
    assert second.cursor is not None
    third = await store.query_merged(T, index=IX, pks=pks, limit=2, cursor=second.cursor)
    assert names(third.items) == ["B5", "C"]
    if third.cursor is not None:  # a full last page may still carry a cursor
        rest = await store.query_merged(T, index=IX, pks=pks, limit=2, cursor=third.cursor)
        assert rest.items == []
        assert rest.cursor is None
    # ending inside the ties at an upper bound, the next page still has the rest
    upto = await store.query_merged(T, index=IX, pks=pks, limit=2, sk_lte="B")
    assert names(upto.items) == ["A", "B1"]
    assert upto.cursor is not None
    more, _ = await merged_all(store, pks, limit=3, sk_lte="B")
    assert names(more) == ["A", "B1", "B2", "B3", "B4", "B5"]


@pytest.mark.parametrize("limit", [5, 16, 40])
async def test_long_runs_of_ties_across_partitions(store: Store, ns: str, limit: int) -> None:
    """Runs of ties longer than a page and than an engine's read batch, in each
    partition: an engine returns ties in an order of its own (DynamoDB: neither
    pk nor sk), the merge still orders them by table key across partitions."""
    written = [entry(ns, "P1", "A", f"a{i}") for i in range(3)]
    for part, count in (("P1", 30), ("P2", 25), ("P3", 6)):
        written += [entry(ns, part, "B", f"b{i:02d}{part}", f"S{i % 3}") for i in range(count)]
    written += [entry(ns, part, "C", f"c-{part}") for part in ("P1", "P2", "P3")]
    await store.batch_write(T, puts=written)
    pks = [f"{ns}#P1", f"{ns}#P2", f"{ns}#P3"]
    items, sizes = await merged_all(store, pks, limit=limit)
    assert keys(items) == keys(expected(written, pks))
    assert_full_pages(sizes, limit)
    ranged, _ = await merged_all(store, pks, limit=limit, sk_gte="B", sk_lte="B")
    assert keys(ranged) == keys(expected(written, pks, sk_gte="B", sk_lte="B"))


async def test_one_partition_is_the_query_of_that_partition(
    store: Store, sixty: tuple[list[Item], list[str]]
) -> None:
    """The same items in the same index sort key order as ``query``; ``query``
    leaves the order of ties to the engine (DynamoDB's is its own, neither pk
    nor sk), ``query_merged`` orders them by table key."""
    _, pks = sixty
    for pk in pks:
        alone, _ = await merged_all(store, [pk], limit=4)
        assert len(alone) == 15
        queried = await query_all(store, T, index=IX, pk=pk)
        assert [i["gsi1sk"] for i in alone] == [i["gsi1sk"] for i in queried]
        assert alone == sorted(queried, key=order)
        ranged, _ = await merged_all(store, [pk], limit=2, sk_gte="04", sk_lte="15")
        assert ranged
        queried = await query_all(store, T, index=IX, pk=pk, sk_gte="04", sk_lte="15")
        assert [i["gsi1sk"] for i in ranged] == [i["gsi1sk"] for i in queried]
        assert ranged == sorted(queried, key=order)


async def test_partitions_with_no_items(
    store: Store, ns: str, sixty: tuple[list[Item], list[str]]
) -> None:
    written, pks = sixty
    empty = [f"{ns}#none", f"{ns}#nothing"]
    page = await store.query_merged(T, index=IX, pks=empty, limit=5)
    assert page == Page(items=[], cursor=None)
    with_empty, sizes = await merged_all(store, [empty[0], pks[1], empty[1]], limit=6)
    assert with_empty == expected(written, [pks[1]])
    assert_full_pages(sizes, 6)
    ranged = await store.query_merged(T, index=IX, pks=pks, limit=5, sk_gte="99")
    assert ranged == Page(items=[], cursor=None)


async def test_the_same_partitions_in_any_order_share_cursors(
    store: Store, sixty: tuple[list[Item], list[str]]
) -> None:
    written, pks = sixty
    want = expected(written, pks)
    first = await store.query_merged(T, index=IX, pks=pks, limit=5)
    assert first.cursor is not None
    second = await store.query_merged(T, index=IX, pks=pks[::-1], limit=5, cursor=first.cursor)
    assert second.items == want[5:10]
    assert second.cursor is not None
    # and with another limit (a limit is not part of the query)
    third = await store.query_merged(
        T, index=IX, pks=[pks[2], pks[0], pks[3], pks[1]], limit=8, cursor=second.cursor
    )
    assert third.items == want[10:18]
    # every page in another order
    items, sizes = await merged_all(store, pks, limit=7, shuffle=random.Random(7))
    assert items == want
    assert_full_pages(sizes, 7)


async def test_writes_between_pages_do_not_duplicate_or_skip(store: Store, ns: str) -> None:
    written = [entry(ns, f"P{i % 3}", f"{i // 2:02d}", f"e{i:02d}") for i in range(20)]
    await store.batch_write(T, puts=written)
    pks = [f"{ns}#P0", f"{ns}#P1", f"{ns}#P2"]
    first = await store.query_merged(T, index=IX, pks=pks, limit=9)
    assert first.cursor is not None
    last = first.items[-1]
    assert last["gsi1sk"] == "04"
    # delete an item already seen; add one before the position, one tied with it
    # and ordered before it, one tied and after it, and one later
    await store.delete(T, {"pk": written[0]["pk"], "sk": "S"})
    added = [
        entry(ns, "P2", "03z", "new-before"),
        entry(ns, "P0", "04", "e00", "new-tie-before"),
        entry(ns, "P1", "04", "e99", name="tie-after"),
        entry(ns, "P2", "07a", "new-later", name="later"),
    ]
    await store.batch_write(T, puts=added)
    rest, _ = await merged_all(store, pks, limit=9, cursor=first.cursor)
    want = [item for item in expected(written[1:] + added, pks) if order(item) > order(last)]
    assert keys(rest) == keys(want)
    assert {"tie-after", "later"} <= {item.get("name") for item in rest}


# ---------------------------------------------------------------------------- expiry
async def test_expired_items_are_never_returned(store: Store, ns: str) -> None:
    now = int(time.time())
    puts = [
        entry(ns, "P1", "A", "live-a", name="A", expires_at=now + 3600),
        entry(ns, "P2", "B", "gone-b", name="gone", expires_at=now - 10),
        entry(ns, "P1", "B", "live-b", name="B", expires_at=now + 3600),
        entry(ns, "P2", "B", "zz-gone", name="gone", expires_at=now - 1),
        entry(ns, "P2", "C", "forever", name="C"),
        entry(ns, "P1", "D", "gone-d", name="gone", expires_at=now - 3600),
    ]
    await store.batch_write("sessions", puts=puts)
    pks = [f"{ns}#P1", f"{ns}#P2"]
    page = await store.query_merged("sessions", index=IX, pks=pks, limit=10)
    assert names(page.items) == ["A", "B", "C"]
    for limit in (1, 2):
        items, _ = await merged_all(store, pks, limit=limit, table="sessions")
        assert names(items) == ["A", "B", "C"]
    ranged = await store.query_merged("sessions", index=IX, pks=pks, limit=10, sk_after="A")
    assert names(ranged.items) == ["B", "C"]


# ---------------------------------------------------------------------------- randomized
SORT_KEY_CHARS = ["a", "b", "Z", "~", "é", "\uffff", "\U0001f600", "\U0010ffff"]
TABLE_KEY_CHARS = ["a", "Z", "é", "\uffff", "\U0001f600"]


def _text(rng: random.Random, chars: list[str], most: int) -> str:
    return "".join(rng.choice(chars) for _ in range(rng.randint(1, most)))


async def test_randomized_against_a_python_sort(store: Store, ns: str) -> None:
    seed = 20240611
    rng = random.Random(seed)
    parts = [f"{ns}#{_text(rng, TABLE_KEY_CHARS, 2)}{p}" for p in range(7)]
    by_key: dict[tuple[str, str], Item] = {}
    for _ in range(320):
        pk = f"{ns}#{_text(rng, TABLE_KEY_CHARS, 2)}"
        sk = _text(rng, TABLE_KEY_CHARS, 3)
        by_key[(pk, sk)] = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": rng.choice(parts[:6]),  # the last partition stays empty
            "gsi1sk": _text(rng, SORT_KEY_CHARS, 2),
        }
    written = list(by_key.values())
    await store.batch_write(T, puts=written)
    assert len(written) > 250
    sort_keys = [item["gsi1sk"] for item in written] + [_text(rng, SORT_KEY_CHARS, 3)]
    for attempt in range(5):
        pks = rng.sample(parts, rng.randint(1, len(parts)))
        bounds: dict[str, str] = {}
        for name in ("sk_gte", "sk_after", "sk_lte"):
            if rng.random() < 0.4:
                bounds[name] = rng.choice(sort_keys)
        for low in ("sk_gte", "sk_after"):  # a lower bound above sk_lte: swapped
            if low in bounds and "sk_lte" in bounds and bounds[low] > bounds["sk_lte"]:
                bounds[low], bounds["sk_lte"] = bounds["sk_lte"], bounds[low]
        limit = rng.randint(3, 40)
        items, sizes = await merged_all(
            store, pks, limit=limit, shuffle=random.Random(attempt), **bounds
        )
        want = expected(written, pks, **bounds)
        context = f"seed {seed}, attempt {attempt}: {len(pks)} partitions, {bounds}, {limit=}"
        assert keys(items) == keys(want), context
        assert items == want, context
        assert_full_pages(sizes, limit)


# ---------------------------------------------------------------------------- validation
async def test_partition_keys_are_checked(store: Store, ns: str) -> None:
    p = f"{ns}#P"
    for pks in ([], [p, p], [f"{ns}#a", p, f"{ns}#b", p], p, "ab"):
        await rejected(store, "invalid_query", pks=pks)
    # a partition key is checked as query checks its own
    bad_values: list[Any] = ["", None, 5, ["x"], "\ud800", "x" * 2049, "é" * 1025]
    for bad in bad_values:
        with pytest.raises(ValidationFailed) as by_query:
            await store.query(T, index=IX, pk=bad)
        assert by_query.value.code == "invalid_key"
        await rejected(store, by_query.value.code, pks=[p, bad])


async def test_many_partitions_and_the_longest_keys(store: Store, ns: str) -> None:
    """Any number of partitions (an engine may read them in chunks), the longest
    partition key among them."""
    pks = [f"{ns}#P{i:03d}" for i in range(250)]
    longest = f"{ns}#" + "é" * ((2048 - len(ns) - 1) // 2)
    assert len(longest.encode()) in (2047, 2048)
    pks[150] = longest
    rng = random.Random(250)
    written = [
        entry(ns, "", f"{rng.randrange(40):02d}", f"x{i:03d}", gsi1pk=pks[rng.randrange(250)])
        for i in range(120)
    ]
    written += [entry(ns, "", "!", "y", gsi1pk=longest), entry(ns, "", "~", "z", gsi1pk=pks[-1])]
    await store.batch_write(T, puts=written)
    items, sizes = await merged_all(store, pks, limit=50, shuffle=rng)
    assert keys(items) == keys(expected(written, pks))
    assert_full_pages(sizes, 50)
    assert items[0]["pk"] == f"{ns}#y"
    assert items[-1]["pk"] == f"{ns}#z"
    ranged, _ = await merged_all(store, pks[100:], limit=30, sk_after="10", sk_lte="30")
    assert ranged
    assert keys(ranged) == keys(expected(written, pks[100:], sk_after="10", sk_lte="30"))


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "3", None])
async def test_the_limit_is_a_positive_integer(store: Store, ns: str, limit: Any) -> None:
    await rejected(store, "invalid_query", pks=[f"{ns}#P"], limit=limit)


async def test_a_reversed_range_is_rejected(store: Store, ns: str) -> None:
    await rejected(store, "invalid_query", pks=[f"{ns}#P"], sk_gte="B", sk_lte="A")
    await rejected(store, "invalid_query", pks=[f"{ns}#P"], sk_gte="é", sk_lte="z")


BAD_SORT_KEYS: list[Any] = ["", 5, ["A"], "s" * 1025, "é" * 513, "\ud800"]


@pytest.mark.parametrize("bound", ["sk_gte", "sk_after", "sk_lte"])
async def test_bounds_are_checked_like_querys(store: Store, ns: str, bound: str) -> None:
    p = f"{ns}#P"
    for bad in BAD_SORT_KEYS:
        with pytest.raises(ValidationFailed) as by_query:
            await store.query(T, index=IX, pk=p, sk_gte=bad)
        got = await rejected(store, by_query.value.code, pks=[p], **{bound: bad})
        assert got.code == by_query.value.code
    # the longest bound is a bound
    page = await store.query_merged(T, index=IX, pks=[p], limit=1, **{bound: "é" * 512})
    assert page == Page(items=[], cursor=None)


async def test_unknown_tables_and_indexes_are_bugs(store: Store, ns: str) -> None:
    with pytest.raises(ValueError, match="gsi3"):
        await store.query_merged(T, index="gsi3", pks=[f"{ns}#P"], limit=1)
    with pytest.raises(ValueError, match="gsi1"):
        await store.query_merged("organizations", index="gsi1", pks=[f"{ns}#P"], limit=1)
    with pytest.raises(ValueError, match="no-such-table"):
        await store.query_merged("no-such-table", index="gsi1", pks=[f"{ns}#P"], limit=1)


# ---------------------------------------------------------------------------- cursors
def _tampered(cursor: str) -> list[str]:
    return [
        "",
        "garbage",
        "!!!!",
        cursor[: len(cursor) // 2],
        cursor[::-1],
        "x" + cursor,
        cursor + "A",
        base64.urlsafe_b64encode(b'{"x": 1}').decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        base64.urlsafe_b64encode(b"null").decode(),
    ]


async def test_malformed_cursors_are_rejected(store: Store, lettered: list[str]) -> None:
    page = await store.query_merged(T, index=IX, pks=lettered, limit=2)
    assert page.cursor is not None
    for bad in _tampered(page.cursor):
        await rejected(store, "invalid_cursor", pks=lettered, limit=2, cursor=bad)


async def test_cursors_of_other_queries_are_rejected(
    store: Store, ns: str, lettered: list[str]
) -> None:
    p1, p2, p3 = lettered
    bounds = {"sk_gte": "A", "sk_lte": "E"}
    page = await store.query_merged(T, index=IX, pks=lettered, limit=2, **bounds)
    assert page.cursor is not None
    cursor = page.cursor
    # the query itself takes it
    ok = await store.query_merged(T, index=IX, pks=lettered, limit=2, cursor=cursor, **bounds)
    assert names(ok.items) == ["B2", "C"]
    others: list[dict[str, Any]] = [
        {"pks": [p1, p2], **bounds},
        {"pks": [p1], **bounds},
        {"pks": [*lettered, f"{ns}#P4"], **bounds},
        {"pks": [p1, p2, f"{ns}#P4"], **bounds},
        {"pks": lettered},
        {"pks": lettered, "sk_gte": "A"},
        {"pks": lettered, "sk_gte": "A", "sk_lte": "D"},
        {"pks": lettered, "sk_after": "A", "sk_lte": "E"},
        {"pks": lettered, "sk_gte": "A", "sk_after": "A", "sk_lte": "E"},
        {"pks": lettered, "index": "gsi2", **bounds},
        {"pks": lettered, "table": "submissions", **bounds},
    ]
    for other in others:
        await rejected(store, "invalid_cursor", limit=2, cursor=cursor, **other)
    # a query's cursor is not a merged query's, nor the other way round
    queried = await store.query(T, index=IX, pk=p1, limit=1)
    assert queried.cursor is not None
    await rejected(store, "invalid_cursor", pks=[p1], limit=1, cursor=queried.cursor)
    with pytest.raises(ValidationFailed) as caught:
        await store.query(T, index=IX, pk=p1, limit=1, cursor=cursor)
    assert caught.value.code == "invalid_cursor"
    single = await store.query_merged(T, index=IX, pks=[p3, p1], limit=1)
    assert single.cursor is not None
    with pytest.raises(ValidationFailed) as caught:
        await store.query(T, index=IX, pk=p1, limit=1, cursor=single.cursor)
    assert caught.value.code == "invalid_cursor"


# ---------------------------------------------------------------------------- forged cursors
# A cursor is not signed: a client can rewrite its position (as for query's
# cursors, see test_store_query.py). A position is (index sort key, pk, sk);
# any key values with the index sort key inside the bounds continue after it,
# the rest is invalid_cursor, before anything is read.
def _forge(cursor: str, position: Any) -> str:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    data = json.loads(raw)
    assert isinstance(data, dict)
    assert isinstance(data.get("k"), list), "the cursor's shape changed: update _forge"
    data["k"] = position
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_forged_positions(store: Store, ns: str, lettered: list[str]) -> None:
    bounds = {"sk_gte": "B", "sk_after": "A", "sk_lte": "D"}
    page = await store.query_merged(T, index=IX, pks=lettered, limit=1, **bounds)
    assert page.cursor is not None
    cursor = page.cursor
    pk, sk = f"{ns}#b1", "S"
    forged: list[Any] = [[bad, pk, sk] for bad in BAD_SORT_KEYS]
    forged += [["B", bad, sk] for bad in ("", 5, None, [pk], "\ud800", "é" * 1025)]
    forged += [["B", pk, bad] for bad in BAD_SORT_KEYS]
    forged += [["B", pk], ["B"], [], ["B", pk, sk, "x"], "B", None]
    # outside the bounds: below sk_gte, at sk_after, above sk_lte
    forged += [["A", pk, sk], ["AZ", pk, sk], ["D0", pk, sk], ["E", pk, sk]]
    for position in forged:
        bad = _forge(cursor, position)
        await rejected(store, "invalid_cursor", pks=lettered, limit=1, cursor=bad, **bounds)
    continuing = {
        ("B", pk, sk): ["B2", "C", "D1"],  # exactly after an item, inside its ties
        ("B", f"{ns}#b15", "S"): ["B2", "C", "D1"],  # between two tied items
        ("B", f"{ns}#b2", "S"): ["C", "D1", "D2"],
        ("BB", "any", "key"): ["C", "D1", "D2"],  # between sort keys, any table key
        ("D", f"{ns}#d1", "S"): ["D2"],  # at sk_lte, inside its ties
        ("D", f"{ns}#d2", "S"): [],
    }
    for position, want in continuing.items():
        forged_cursor = _forge(cursor, list(position))
        got = await store.query_merged(
            T, index=IX, pks=lettered, limit=3, cursor=forged_cursor, **bounds
        )
        assert names(got.items) == want, position


async def test_forged_positions_at_each_bound(store: Store, ns: str, lettered: list[str]) -> None:
    pk, sk = f"{ns}#b1", "S"
    cases: list[tuple[dict[str, str], list[str], list[str] | None]] = [
        ({"sk_after": "B"}, ["B", pk, sk], None),  # at the exclusive bound
        ({"sk_after": "B"}, ["B", "\x00", "\x00"], None),
        ({"sk_after": "B"}, ["B0", pk, sk], ["C", "D1"]),
        ({"sk_gte": "B"}, ["B", pk, sk], ["B2", "C"]),  # at the inclusive bounds
        ({"sk_gte": "B"}, ["AZ", pk, sk], None),
        ({"sk_lte": "B"}, ["B", pk, sk], ["B2"]),
        ({"sk_lte": "B"}, ["B0", pk, sk], None),
        ({}, ["\x00", "\x00", "\x00"], ["A", "B1"]),  # before every item
        ({}, ["Z", pk, sk], []),  # after every item
    ]
    for bounds, position, want in cases:
        page = await store.query_merged(T, index=IX, pks=lettered, limit=1, **bounds)
        assert page.cursor is not None
        forged = _forge(page.cursor, position)
        if want is None:
            await rejected(store, "invalid_cursor", pks=lettered, cursor=forged, **bounds)
            continue
        got = await store.query_merged(T, index=IX, pks=lettered, limit=2, cursor=forged, **bounds)
        assert names(got.items) == want, (bounds, position)
