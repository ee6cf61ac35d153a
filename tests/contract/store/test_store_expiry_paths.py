"""More on expired items and condition shapes: the paths where DynamoDB needs
extra work (an update or a transaction meeting an item its sweeper has not
deleted yet, queries whose pages skip expired items, constant conditions)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from prework.errors import ConditionFailed, TransactionCanceled
from prework.store.base import (
    All,
    Any_,
    AttrEquals,
    AttrNotEquals,
    AttrNotExists,
    Check,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    Update,
    UpdateSpec,
)

T = "sessions"  # a table with TTL


def k(ns: str, sk: str = "S") -> dict[str, str]:
    return {"pk": f"{ns}#EXP", "sk": sk}


async def put_expired(store: Store, ns: str, sk: str = "S") -> None:
    stale = {**k(ns, sk), "expires_at": int(time.time()) - 10, "secret": "old", "count": "text"}
    await store.put(T, stale)


async def test_update_ignores_the_attributes_of_an_expired_item(store: Store, ns: str) -> None:
    await put_expired(store, ns)
    # "count" was a string on the expired item: adding to it starts from nothing
    got = await store.update(T, k(ns), UpdateSpec(add={"count": 2}))
    assert got == {**k(ns), "count": 2}
    assert await store.get(T, k(ns)) == got


async def test_conditions_see_no_attribute_of_an_expired_item(store: Store, ns: str) -> None:
    await put_expired(store, ns)
    with pytest.raises(ConditionFailed):
        await store.put(T, {**k(ns), "n": 1}, condition=AttrEquals("secret", "old"))
    with pytest.raises(ConditionFailed):
        await store.update(T, k(ns), UpdateSpec(set={"n": 1}), condition=ItemExists())
    got = await store.update(
        T,
        k(ns),
        UpdateSpec(set={"n": 1}),
        condition=All(AttrNotEquals("secret", "old"), AttrNotExists("count")),
    )
    assert got == {**k(ns), "n": 1}


async def test_transaction_update_on_an_expired_item_starts_fresh(store: Store, ns: str) -> None:
    await put_expired(store, ns, "A")
    await put_expired(store, ns, "B")
    await store.transact_write(
        [
            Update(T, k(ns, "A"), UpdateSpec(add={"count": 1}), condition=ItemNotExists()),
            Update(T, k(ns, "B"), UpdateSpec(set={"n": 1})),
            Put(T, {**k(ns, "C"), "n": 3}),
        ]
    )
    assert await store.get(T, k(ns, "A")) == {**k(ns, "A"), "count": 1}
    assert await store.get(T, k(ns, "B")) == {**k(ns, "B"), "n": 1}


async def test_transaction_update_needing_an_expired_item_fails(store: Store, ns: str) -> None:
    await put_expired(store, ns, "A")
    await store.put(T, {**k(ns, "B"), "n": 1})
    with pytest.raises(TransactionCanceled) as caught:
        await store.transact_write(
            [
                Put(T, {**k(ns, "B"), "n": 2}),
                Update(T, k(ns, "A"), UpdateSpec(set={"n": 1}), condition=ItemExists()),
            ]
        )
    assert caught.value.failed_indexes == [1]
    assert await store.get(T, k(ns, "A")) is None
    assert await store.get(T, k(ns, "B")) == {**k(ns, "B"), "n": 1}


async def test_empty_update_in_a_transaction_creates_the_bare_item(store: Store, ns: str) -> None:
    await store.transact_write([Update("teams", k(ns), UpdateSpec())])
    assert await store.get("teams", k(ns)) == k(ns)


async def test_pages_skip_expired_items_and_stay_full(store: Store, ns: str) -> None:
    now = int(time.time())
    items: list[dict[str, Any]] = [
        {**k(ns, f"{i:03d}"), "expires_at": now - 5 if i % 3 == 0 else now + 3600}
        for i in range(60)
    ]
    await store.batch_write(T, puts=items)
    live = [i["sk"] for i in items if i["expires_at"] > now]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.query(T, pk=f"{ns}#EXP", limit=7, cursor=cursor)
        pages += 1
        seen.extend(i["sk"] for i in page.items)
        if page.cursor is None:
            break
        assert len(page.items) == 7
        cursor = page.cursor
    assert seen == live
    assert pages == -(-len(live) // 7)


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        (All(), True),
        (Any_(), False),
        (Any_(All(), AttrEquals("n", 99)), True),
        (All(Any_(), ItemExists()), False),
        (All(All(ItemExists(), Any_(AttrEquals("n", 1), AttrEquals("n", 2))), All()), True),
        (Any_(Any_(AttrEquals("n", 5)), All(AttrNotExists("n"))), False),
    ],
)
async def test_constant_and_nested_conditions(
    store: Store, ns: str, condition: All | Any_, holds: bool
) -> None:
    await store.put("teams", {**k(ns), "n": 1})
    if holds:
        await store.put("teams", {**k(ns), "n": 2}, condition=condition)
        await store.transact_write([Check("teams", k(ns), condition)])
        assert (await store.get("teams", k(ns)) or {})["n"] == 2
    else:
        with pytest.raises(ConditionFailed):
            await store.put("teams", {**k(ns), "n": 2}, condition=condition)
        with pytest.raises(TransactionCanceled):
            await store.transact_write([Check("teams", k(ns), condition)])
        assert (await store.get("teams", k(ns)) or {})["n"] == 1
