"""``transact_write``: all or nothing."""

from __future__ import annotations

import pytest

from prework.errors import ConditionFailed, LimitExceeded, TransactionCanceled
from prework.store.base import (
    MAX_TRANSACT_ITEMS,
    AttrEquals,
    Check,
    Delete,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
)


def k(ns: str, sk: str) -> dict[str, str]:
    return {"pk": f"{ns}#X", "sk": sk}


async def _seed(store: Store, ns: str) -> None:
    await store.put("teams", {**k(ns, "team"), "members": 1, "version": 1})
    await store.put("teams", {**k(ns, "old"), "v": "old"})
    await store.put("users", {**k(ns, "guard")})


def _ops(ns: str, *, fail_at: int | None = None) -> list[TransactOp]:
    """Put, Update, Delete, Check on four items; ``fail_at`` breaks one condition."""
    return [
        Put(
            "users",
            {**k(ns, "user"), "name": "Ann"},
            condition=ItemExists() if fail_at == 0 else ItemNotExists(),
        ),
        Update(
            "teams",
            k(ns, "team"),
            UpdateSpec(add={"members": 1, "version": 1}),
            condition=AttrEquals("version", 7 if fail_at == 1 else 1),
        ),
        Delete("teams", k(ns, "old"), condition=ItemNotExists() if fail_at == 2 else ItemExists()),
        Check("users", k(ns, "guard"), ItemNotExists() if fail_at == 3 else ItemExists()),
    ]


async def _state(store: Store, ns: str) -> list[object]:
    return [
        await store.get("users", k(ns, "user")),
        await store.get("teams", k(ns, "team")),
        await store.get("teams", k(ns, "old")),
        await store.get("users", k(ns, "guard")),
    ]


async def test_all_operations_apply(store: Store, ns: str) -> None:
    await _seed(store, ns)
    await store.transact_write(_ops(ns))
    assert await _state(store, ns) == [
        {**k(ns, "user"), "name": "Ann"},
        {**k(ns, "team"), "members": 2, "version": 2},
        None,
        k(ns, "guard"),
    ]


@pytest.mark.parametrize("fail_at", [0, 1, 2, 3])
async def test_a_failed_condition_cancels_everything(store: Store, ns: str, fail_at: int) -> None:
    await _seed(store, ns)
    before = await _state(store, ns)
    with pytest.raises(TransactionCanceled) as caught:
        await store.transact_write(_ops(ns, fail_at=fail_at))
    assert caught.value.failed_indexes == [fail_at]
    assert caught.value.details["failed_indexes"] == [fail_at]
    assert caught.value.code == "transaction_canceled"
    assert isinstance(caught.value, ConditionFailed)
    assert await _state(store, ns) == before


async def test_unconditional_operations(store: Store, ns: str) -> None:
    await store.put("teams", {**k(ns, "b")})
    await store.transact_write(
        [
            Put("teams", {**k(ns, "a"), "x": 1}),
            Delete("teams", k(ns, "b")),
            Update("teams", k(ns, "c"), UpdateSpec(add_to_set={"s": ["q"]})),
        ]
    )
    assert await store.get("teams", k(ns, "a")) == {**k(ns, "a"), "x": 1}
    assert await store.get("teams", k(ns, "b")) is None
    assert await store.get("teams", k(ns, "c")) == {**k(ns, "c"), "s": {"q"}}


async def test_100_operations_pass_and_101_are_rejected(store: Store, ns: str) -> None:
    ops: list[TransactOp] = [
        Put("teams", {**k(ns, f"{i:03d}"), "i": i}) for i in range(MAX_TRANSACT_ITEMS)
    ]
    await store.transact_write(ops)
    assert len((await store.query("teams", pk=f"{ns}#X")).items) == MAX_TRANSACT_ITEMS
    ops.append(Put("teams", {**k(ns, "101")}))
    with pytest.raises(LimitExceeded):
        await store.transact_write(ops)
    assert await store.get("teams", k(ns, "101")) is None


async def test_two_operations_on_one_item_are_rejected(store: Store, ns: str) -> None:
    with pytest.raises(LimitExceeded):
        await store.transact_write(
            [
                Put("teams", {**k(ns, "a"), "x": 1}),
                Put("teams", {**k(ns, "b")}),
                Update("teams", k(ns, "a"), UpdateSpec(set={"y": 2})),
            ]
        )
    assert await store.get("teams", k(ns, "a")) is None
    assert await store.get("teams", k(ns, "b")) is None


async def test_same_key_in_two_tables_is_two_items(store: Store, ns: str) -> None:
    await store.transact_write([Put("teams", {**k(ns, "a")}), Put("users", {**k(ns, "a")})])
    assert await store.get("teams", k(ns, "a")) == k(ns, "a")
    assert await store.get("users", k(ns, "a")) == k(ns, "a")
