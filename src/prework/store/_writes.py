"""Pure logic the embedded backends (memory, SQLite) share.

The embedded backends keep an item in the codec's stored form
(:class:`Stored`: compact JSON bytes, see :mod:`prework.store.codec`, plus the
expiry and index keys copied out for lookups). Puts go from the caller's item
straight to that form, and reads straight back. Conditions and updates work on
the *typed* form of an item (a mapping of attribute name to DynamoDB attribute
value, bytes as base64 text, numbers exact), so both backends accept, reject,
compare and round-trip values the way DynamoDB does. No I/O, no clocks:
callers pass ``now``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import orjson

from prework.errors import (
    ConditionFailed,
    LimitExceeded,
    TransactionCanceled,
    ValidationFailed,
)
from prework.store._conditions import check_condition, evaluate
from prework.store._items import (
    AvItem,
    Stored,
    check_key,
    check_key_value,
    encode_item,
    is_key_value,
    stored_av,
    table_def,
)
from prework.store._updates import PreparedUpdate, apply_update, prepare_update
from prework.store.base import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
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
from prework.store.schema import TableDef

__all__ = [
    "QuerySpec",
    "ResolvedOp",
    "Rows",
    "decode_cursor",
    "delete_flow",
    "encode_cursor",
    "prefix_upper_bound",
    "prepare_batch_write",
    "prepare_query",
    "put_flow",
    "resolve_transaction",
    "transact_flow",
    "update_flow",
]


# --------------------------------------------------------------------------- queries
@dataclass(slots=True)  # not frozen: made on every query, and 5x cheaper to make
class QuerySpec:
    """A validated query (treat as immutable). ``lower``/``upper`` bound the
    sort key (inclusive lower, ``upper_inclusive`` says for upper; None =
    unbounded)."""

    table: str
    index: str | None
    pk: str
    sk_prefix: str | None
    lower: str | None
    upper: str | None
    upper_inclusive: bool
    limit: int | None
    descending: bool
    fingerprint: str

    def sk_matches(self, sk: str) -> bool:
        if self.sk_prefix is not None:
            return sk.startswith(self.sk_prefix)
        if self.lower is not None and sk < self.lower:
            return False
        return self.upper is None or sk <= self.upper

    def can_continue_after(self, sk: str) -> bool:
        """Whether a page may end on an item of sort key ``sk`` (of the index, on
        an index) and have a next page: ``sk`` is in the key range and, on the
        table, whose sort keys are unique in a partition, not at the range's far
        end (the upper bound going up, the lower going down: nothing follows it;
        DynamoDB rejects such a start key). On an index items may share a sort
        key, so either end is a position."""
        if not self.sk_matches(sk):
            return False
        if self.index is not None:
            return True
        if self.descending:
            return sk != self.lower
        return not (self.upper_inclusive and sk == self.upper)

    @property
    def key_width(self) -> int:
        """How many strings a position (last key) holds."""
        return 1 if self.index is None else 3


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``
    (by code point, which is UTF-8 byte order), or None if there is none."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:
            code = 0xE000  # skip the surrogates: they are not text
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def prepare_query(
    tdef: TableDef,
    *,
    pk: str,
    index: str | None,
    sk_prefix: str | None,
    sk_gte: str | None,
    sk_lte: str | None,
    limit: int | None,
    descending: bool,
) -> QuerySpec:
    if index is not None and index not in tdef.indexes:
        raise ValueError(f"table {tdef.name!r} has no index {index!r}")
    check_key_value(pk, "the partition key", MAX_PARTITION_KEY_BYTES)
    if sk_prefix is not None:
        check_key_value(sk_prefix, "sk_prefix", MAX_SORT_KEY_BYTES)
    if sk_gte is not None:
        check_key_value(sk_gte, "sk_gte", MAX_SORT_KEY_BYTES)
    if sk_lte is not None:
        check_key_value(sk_lte, "sk_lte", MAX_SORT_KEY_BYTES)
    if sk_prefix is not None and (sk_gte is not None or sk_lte is not None):
        raise ValidationFailed(
            "sk_prefix and sk_gte/sk_lte exclude each other", code="invalid_query"
        )
    if sk_gte is not None and sk_lte is not None and sk_gte > sk_lte:
        raise ValidationFailed("sk_gte is greater than sk_lte", code="invalid_query")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValidationFailed("limit must be a positive integer", code="invalid_query")
    if sk_prefix is not None:
        lower: str | None = sk_prefix
        upper = prefix_upper_bound(sk_prefix)
        upper_inclusive = False
    else:
        lower, upper, upper_inclusive = sk_gte, sk_lte, True
    signature = [tdef.name, index, pk, sk_prefix, sk_gte, sk_lte, descending]
    fingerprint = hashlib.sha256(orjson.dumps(signature)).hexdigest()[:16]
    return QuerySpec(
        tdef.name,
        index,
        pk,
        sk_prefix,
        lower,
        upper,
        upper_inclusive,
        limit,
        descending,
        fingerprint,
    )


# the most UTF-8 bytes of each part of a cursor's position, by its width
_POSITION_LIMITS = {
    1: (MAX_SORT_KEY_BYTES,),
    3: (MAX_SORT_KEY_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES),
}


def encode_cursor(query: QuerySpec, position: Sequence[str]) -> str:
    """An opaque cursor continuing ``query`` after ``position``: the last
    item's ``(sk,)`` on a table, ``(index sk, pk, sk)`` on an index."""
    raw = orjson.dumps({"q": query.fingerprint, "k": list(position)})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(query: QuerySpec, cursor: str) -> tuple[str, ...]:
    """The position in ``cursor``; ValidationFailed ``invalid_cursor`` if it is
    malformed, was made by another query, or its position is not a key the
    query could have ended a page on: key values within their limits, the sort
    key (of the index, on an index) inside the query's key range. DynamoDB
    rejects such a start key; checking here rejects it on every backend."""
    invalid = ValidationFailed(
        "the cursor is malformed or belongs to another query", code="invalid_cursor"
    )
    if not isinstance(cursor, str) or not cursor:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = orjson.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or data.get("q") != query.fingerprint:
        raise invalid
    position = data.get("k")
    if not isinstance(position, list) or len(position) != query.key_width:
        raise invalid
    # (sk,) on a table, (index sk, pk, sk) on an index: the first is a sort key
    # inside the query's range, the others the item's table key
    limits = _POSITION_LIMITS[query.key_width]
    for part, limit in zip(position, limits, strict=True):
        if not is_key_value(part, limit):
            raise invalid
    if not query.can_continue_after(position[0]):
        raise invalid
    return tuple(position)


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


def _typed(data: bytes | None, cond: Condition | None) -> AvItem | None:
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
) -> AvItem:
    stored = rows.read(table, pk, sk, now)
    current = None if stored is None else stored_av(stored)
    if not evaluate(condition, current):
        raise _failed(condition)
    item, new = apply_update(table, pk, sk, current, update)
    rows.write(table, pk, sk, new)
    return item


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
    current: list[AvItem | None] = []
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
            writes.append((r, apply_update(r.table, r.pk, r.sk, item, r.update)[1]))
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
