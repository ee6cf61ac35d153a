"""Expired items (``expires_at <= now`` on a TTL table) are invisible."""

from __future__ import annotations

import time

import pytest

from prework.errors import ConditionFailed
from prework.store.base import (
    AttrNotExists,
    Check,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    UpdateSpec,
)

T = "sessions"  # a table with TTL


def k(ns: str, sk: str = "S") -> dict[str, str]:
    return {"pk": f"{ns}#TTL", "sk": sk}


@pytest.fixture
async def expired(store: Store, ns: str) -> dict[str, object]:
    item = {**k(ns), "expires_at": int(time.time()) - 10, "secret": "old", "count": 5}
    await store.put(T, item)
    await store.put(T, {**k(ns, "live"), "expires_at": int(time.time()) + 3600})
    return item


async def test_expired_items_are_invisible_to_reads(store: Store, ns: str, expired: object) -> None:
    assert await store.get(T, k(ns)) is None
    assert await store.get(T, k(ns), consistent=False) is None
    assert [i["sk"] for i in (await store.query(T, pk=f"{ns}#TTL")).items] == ["live"]
    got = await store.batch_get(T, [k(ns), k(ns, "live")])
    assert [i["sk"] for i in got] == ["live"]


async def test_expired_items_count_as_absent_for_conditions(
    store: Store, ns: str, expired: object
) -> None:
    with pytest.raises(ConditionFailed):
        await store.delete(T, k(ns), condition=ItemExists())
    with pytest.raises(ConditionFailed):
        await store.transact_write([Check(T, k(ns), ItemExists())])
    await store.transact_write([Check(T, k(ns, "other"), ItemNotExists())])
    await store.put(T, {**k(ns), "fresh": True}, condition=ItemNotExists())
    assert await store.get(T, k(ns)) == {**k(ns), "fresh": True}


async def test_put_over_an_expired_item_in_a_transaction(
    store: Store, ns: str, expired: object
) -> None:
    await store.transact_write([Put(T, {**k(ns), "n": 1}, condition=AttrNotExists("secret"))])
    assert await store.get(T, k(ns)) == {**k(ns), "n": 1}


async def test_update_on_an_expired_item_starts_fresh(
    store: Store, ns: str, expired: object
) -> None:
    got = await store.update(T, k(ns), UpdateSpec(add={"count": 1}), condition=ItemNotExists())
    assert got == {**k(ns), "count": 1}
    assert await store.get(T, k(ns)) == got


async def test_future_expiry_is_visible(store: Store, ns: str) -> None:
    item = {**k(ns), "expires_at": int(time.time()) + 60}
    await store.put(T, item)
    assert await store.get(T, k(ns)) == item
    later = await store.update(T, k(ns), UpdateSpec(set={"expires_at": int(time.time()) - 1}))
    assert later["pk"] == item["pk"]
    assert await store.get(T, k(ns)) is None
