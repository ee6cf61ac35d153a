"""Writes of many items, and the embedded backends' write flows.

:func:`resolve_transaction` and :func:`prepare_batch_write` check a whole
transaction (at most 100 operations, each on a distinct item) or batch write
(each item once) before anything is written, on every backend. The write
flows (:func:`put_flow`, :func:`update_flow`, :func:`delete_flow`,
:func:`transact_flow`) are the read-check-write of the memory and SQLite
backends, over the :class:`Rows` each gives inside its own atomic scope (a
lock, a database transaction). No I/O of their own, no clocks: callers pass
``now``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from prework.errors import ConditionFailed, LimitExceeded, TransactionCanceled, ValidationFailed
from prework.store._conditions import check_condition, evaluate
from prework.store._items import (
    Stored,
    check_key,
    decode_stored,
    encode_item,
    stored_av,
    table_def,
)
from prework.store._updates import PreparedUpdate, apply_update, prepare_update
from prework.store.base import (
    MAX_TRANSACT_ITEMS,
    All,
    Any_,
    Check,
    Condition,
    Delete,
    Item,
    ItemExists,
    ItemNotExists,
    Key,
    Put,
    TransactOp,
    Update,
)
from prework.store.codec import AttributeValue, StoredItem
from prework.store.schema import TableDef

__all__ = [
    "ResolvedOp",
    "Rows",
    "delete_flow",
    "prepare_batch_write",
    "put_flow",
    "resolve_transaction",
    "transact_flow",
    "update_flow",
]


# --------------------------------------------------------------------------- transactions
class ResolvedOp(NamedTuple):
    """A transaction operation, validated, with everything encoded."""

    op: TransactOp
    table: TableDef
    pk: str
    sk: str
    item: Stored | None = None  # Put
    update: PreparedUpdate | None = None  # Update


def resolve_transaction(
    tables: Mapping[str, TableDef], ops: Sequence[TransactOp]
) -> list[ResolvedOp]:
    """Validate a transaction: at most 100 operations on distinct items."""
    if len(ops) > MAX_TRANSACT_ITEMS:
        raise LimitExceeded(
            f"a transaction holds at most {MAX_TRANSACT_ITEMS} operations, not {len(ops)}",
            details={"max": MAX_TRANSACT_ITEMS, "given": len(ops)},
        )
    resolved: list[ResolvedOp] = []
    seen: set[tuple[str, str, str]] = set()
    for op in ops:
        tdef = table_def(tables, op.table)
        if isinstance(op, Put):
            pk, sk, item = encode_item(tdef, op.item)
            rop = ResolvedOp(op, tdef, pk, sk, item=item)
        elif isinstance(op, Update):
            pk, sk = check_key(op.key)
            rop = ResolvedOp(op, tdef, pk, sk, update=prepare_update(tdef, op.spec))
        elif isinstance(op, Delete | Check):
            pk, sk = check_key(op.key)
            rop = ResolvedOp(op, tdef, pk, sk)
        else:
            raise ValidationFailed(f"unknown transaction operation {op!r}", code="invalid_value")
        check_condition(op.condition)
        ident = (tdef.name, pk, sk)
        if ident in seen:
            raise LimitExceeded(
                "a transaction may touch each item only once",
                code="duplicate_item",
                details={"table": tdef.name, "pk": pk, "sk": sk},
            )
        seen.add(ident)
        resolved.append(rop)
    return resolved


# --------------------------------------------------------------------------- write flows
class Rows(Protocol):
    """Row access a backend gives the write flows, inside its own atomic scope
    (a lock, a database transaction)."""

    def read(self, table: TableDef, pk: str, sk: str, now: float) -> bytes | None:
        """The visible (unexpired) item's stored ``data``, or None."""

    def write(self, table: TableDef, pk: str, sk: str, item: Stored) -> None: ...

    def remove(self, table: TableDef, pk: str, sk: str) -> None: ...


def _failed(condition: Condition | None) -> ConditionFailed:
    return ConditionFailed(
        "the write condition did not hold; nothing was written",
        details={"condition": repr(condition)},
    )


def _reads_attributes(cond: Condition | None) -> bool:
    match cond:
        case None | ItemExists() | ItemNotExists():
            return False
        case All(conditions) | Any_(conditions):
            return any(_reads_attributes(c) for c in conditions)
    return True


def _typed(data: bytes | None, cond: Condition | None) -> Mapping[str, AttributeValue] | None:
    """A stored item in the typed form as far as ``cond`` reads it (only
    whether it exists, if the condition looks at no attribute)."""
    if data is None:
        return None
    return stored_av(data) if _reads_attributes(cond) else {}


def _holds(rows: Rows, table: TableDef, pk: str, sk: str, cond: Condition, now: float) -> bool:
    return evaluate(cond, _typed(rows.read(table, pk, sk, now), cond))


def put_flow(
    rows: Rows,
    table: TableDef,
    encoded: tuple[str, str, Stored],
    condition: Condition | None,
    now: float,
) -> None:
    pk, sk, item = encoded
    if condition is not None and not _holds(rows, table, pk, sk, condition, now):
        raise _failed(condition)
    rows.write(table, pk, sk, item)


def update_flow(
    rows: Rows,
    table: TableDef,
    pk: str,
    sk: str,
    update: PreparedUpdate,
    condition: Condition | None,
    now: float,
) -> Item:
    """The update's read-check-write; the item as it reads back after it."""
    stored = rows.read(table, pk, sk, now)
    current = None if stored is None else stored_av(stored)
    if not evaluate(condition, current):
        raise _failed(condition)
    new = apply_update(table, pk, sk, current, update)
    rows.write(table, pk, sk, new)
    return decode_stored(new.data)


def delete_flow(
    rows: Rows, table: TableDef, pk: str, sk: str, condition: Condition | None, now: float
) -> None:
    if condition is not None and not _holds(rows, table, pk, sk, condition, now):
        raise _failed(condition)
    rows.remove(table, pk, sk)


def transact_flow(rows: Rows, resolved: Sequence[ResolvedOp], now: float) -> None:
    """Check every condition, compute every write, then write: all or nothing
    as long as the caller's atomic scope is."""
    # an unconditional put or delete does not need the stored item, an update
    # needs all of it, a condition what it reads
    current: list[Mapping[str, AttributeValue] | None] = []
    for r in resolved:
        if r.update is not None:
            stored = rows.read(r.table, r.pk, r.sk, now)
            current.append(None if stored is None else stored_av(stored))
        elif r.op.condition is not None:
            stored = rows.read(r.table, r.pk, r.sk, now)
            current.append(_typed(stored, r.op.condition))
        else:
            current.append(None)
    failed = [
        i
        for i, (r, item) in enumerate(zip(resolved, current, strict=True))
        if not evaluate(r.op.condition, item)
    ]
    if failed:
        raise TransactionCanceled(
            f"the transaction was canceled: the conditions of operations {failed} did not hold",
            failed_indexes=failed,
        )
    writes: list[tuple[ResolvedOp, Stored | None]] = []
    for r, item in zip(resolved, current, strict=True):
        if r.item is not None:
            writes.append((r, r.item))
        elif r.update is not None:
            assert item is None or isinstance(item, StoredItem)  # read whole, above
            writes.append((r, apply_update(r.table, r.pk, r.sk, item, r.update)))
        elif isinstance(r.op, Delete):
            writes.append((r, None))
    for r, new in writes:
        if new is None:
            rows.remove(r.table, r.pk, r.sk)
        else:
            rows.write(r.table, r.pk, r.sk, new)


def prepare_batch_write(
    table: TableDef, puts: Sequence[Item], deletes: Sequence[Key]
) -> list[tuple[str, str, Stored | None]]:
    """Validate a batch write up front (nothing is written if any item is
    invalid); each item may appear once. A None item is a delete."""
    writes: list[tuple[str, str, Stored | None]] = [encode_item(table, item) for item in puts]
    writes.extend((*check_key(key), None) for key in deletes)
    if len({(pk, sk) for pk, sk, _ in writes}) != len(writes):
        raise ValidationFailed("a batch write may touch each item only once", code="duplicate_key")
    return writes
