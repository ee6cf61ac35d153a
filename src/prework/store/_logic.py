"""Pure logic the embedded backends (memory, SQLite) share.

Everything here works on the *typed* form of an item (a mapping of attribute
name to DynamoDB attribute value, bytes as base64 text) exactly as the
embedded backends keep it, so both backends accept, reject, compare and
round-trip values the way DynamoDB does. No I/O, no clocks: callers pass
``now``.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeAlias

from prework.errors import (
    ConditionFailed,
    LimitExceeded,
    TooLarge,
    TransactionCanceled,
    ValidationFailed,
)
from prework.store.base import (
    KEY_ATTRS,
    MAX_ITEM_BYTES,
    MAX_TRANSACT_ITEMS,
    TTL_ATTR,
    All,
    Any_,
    AttrEquals,
    AttrExists,
    AttrGreaterThan,
    AttrLessThan,
    AttrNotEquals,
    AttrNotExists,
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
    UpdateSpec,
)
from prework.store.codec import (
    _MAX_MAGNITUDE,
    _MIN_MAGNITUDE,
    AttributeValue,
    _av_size,
    item_from_av,
    to_av,
)
from prework.store.schema import TableDef

__all__ = [
    "AvItem",
    "IndexKeys",
    "PreparedUpdate",
    "QuerySpec",
    "ResolvedOp",
    "Rows",
    "apply_update",
    "av_item_size",
    "check_condition",
    "check_key",
    "decode_cursor",
    "decode_item",
    "decode_many",
    "delete_flow",
    "dumps",
    "encode_cursor",
    "encode_item",
    "evaluate",
    "expiry",
    "index_keys",
    "is_expired",
    "loads",
    "prefix_upper_bound",
    "prepare_batch_write",
    "prepare_query",
    "prepare_update",
    "put_flow",
    "resolve_transaction",
    "table_def",
    "transact_flow",
    "update_flow",
]

AvItem: TypeAlias = dict[str, AttributeValue]
IndexKeys: TypeAlias = dict[str, tuple[str, str]]  # index name -> (partition, sort)

_NUMBER_CONTEXT = decimal.Context(prec=38, traps=[decimal.Inexact, decimal.Overflow])


# --------------------------------------------------------------------------- tables and keys
def table_def(tables: Mapping[str, TableDef], name: str) -> TableDef:
    """The definition of logical table ``name``; an unknown table is a bug."""
    try:
        return tables[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}") from None


def _check_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed(f"{what} is not valid UTF-8 text", code="invalid_value") from exc


def check_key(key: Key) -> tuple[str, str]:
    """``(pk, sk)`` of a key holding exactly two non-empty strings."""
    if not isinstance(key, Mapping) or set(key) != set(KEY_ATTRS):
        raise ValidationFailed("a key has exactly the attributes pk and sk", code="invalid_key")
    pk, sk = key["pk"], key["sk"]
    for name, value in (("pk", pk), ("sk", sk)):
        if not isinstance(value, str) or not value:
            raise ValidationFailed(
                f"key attribute {name} must be a non-empty string", code="invalid_key"
            )
        _check_text(value, f"key attribute {name}")
    return pk, sk


def _check_index_attrs(tdef: TableDef, item: AvItem) -> None:
    for index in tdef.indexes:
        for name in (f"{index}pk", f"{index}sk"):
            av = item.get(name)
            if av is not None and (set(av) != {"S"} or not av["S"]):
                raise ValidationFailed(
                    f"index key attribute {name} must be a non-empty string",
                    code="invalid_value",
                )


def av_item_size(item: AvItem) -> int:
    """DynamoDB's size of a typed item."""
    return sum(len(name.encode("utf-8")) + _av_size(av) for name, av in item.items())


def _check_size(item: AvItem) -> None:
    try:
        size = av_item_size(item)
    except UnicodeEncodeError as exc:
        raise ValidationFailed(
            "the item holds text that is not valid UTF-8", code="invalid_value"
        ) from exc
    if size > MAX_ITEM_BYTES:
        raise TooLarge(
            f"the item is {size} bytes; at most {MAX_ITEM_BYTES} are allowed",
            details={"size": size, "max": MAX_ITEM_BYTES},
        )


def encode_item(tdef: TableDef, item: Item) -> tuple[str, str, AvItem]:
    """Validate ``item`` for ``tdef`` and return ``(pk, sk, typed item)``.

    Raises ValidationFailed (bad key, bad value) or TooLarge (> 400 KB).
    """
    if not isinstance(item, Mapping):
        raise ValidationFailed("an item is a mapping", code="invalid_value")
    pk, sk = check_key({name: item.get(name, "") for name in KEY_ATTRS})
    encoded: AvItem = {}
    try:
        for name, value in item.items():
            if not isinstance(name, str) or not name:
                raise ValidationFailed(
                    "attribute names are non-empty strings", code="invalid_value"
                )
            name.encode("utf-8")
            encoded[name] = to_av(value, binary_as_text=True)
        _check_index_attrs(tdef, encoded)
        _check_size(encoded)
    except UnicodeEncodeError as exc:
        raise ValidationFailed(
            "the item holds text that is not valid UTF-8", code="invalid_value"
        ) from exc
    return pk, sk, encoded


def decode_item(item: AvItem) -> Item:
    return item_from_av(item)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(item: AvItem) -> str:
    """The stored JSON text of a typed item."""
    return _ENCODER.encode(item)


def loads(text: str) -> AvItem:
    result: AvItem = json.loads(text)
    return result


def decode_many(texts: Sequence[str]) -> list[Item]:
    """Stored JSON texts as items (one JSON parse for all: much faster)."""
    if not texts:
        return []
    typed: list[AvItem] = json.loads("[" + ",".join(texts) + "]")
    return [item_from_av(item) for item in typed]


# --------------------------------------------------------------------------- TTL and indexes
def expiry(tdef: TableDef, item: AvItem) -> float | None:
    """The item's expiry in epoch seconds, if its table has TTL and it has one.

    As on DynamoDB, only a number in ``expires_at`` counts.
    """
    if not tdef.ttl:
        return None
    av = item.get(TTL_ATTR)
    if av is None or "N" not in av:
        return None
    return float(Decimal(av["N"]))


def is_expired(expires_at: float | None, now: float) -> bool:
    return expires_at is not None and expires_at <= now


def index_keys(tdef: TableDef, item: AvItem) -> IndexKeys:
    """The indexes the item is in (it has both string key attributes)."""
    out: IndexKeys = {}
    for index in tdef.indexes:
        ipk = item.get(f"{index}pk")
        isk = item.get(f"{index}sk")
        if ipk is not None and isk is not None and "S" in ipk and "S" in isk:
            out[index] = (ipk["S"], isk["S"])
    return out


# --------------------------------------------------------------------------- conditions
def _canon(av: Mapping[str, Any]) -> Any:
    """A hashable, comparable form of an attribute value (type tag included)."""
    ((tag, raw),) = av.items()
    if tag == "N":
        return ("N", Decimal(raw))
    if tag == "B":
        return ("B", base64.b64decode(raw) if isinstance(raw, str) else bytes(raw))
    if tag == "SS":
        return ("SS", frozenset(raw))
    if tag == "L":
        return ("L", tuple(_canon(v) for v in raw))
    if tag == "M":
        return ("M", frozenset((k, _canon(v)) for k, v in raw.items()))
    return (tag, raw)


def _operand(value: Any) -> Any:
    return _canon(to_av(value, binary_as_text=True))


def _ordered(item: AvItem, cond: AttrLessThan | AttrGreaterThan) -> bool:
    right = _operand(cond.value)
    if right[0] not in ("N", "S", "B"):
        raise ValidationFailed(
            "only numbers, strings and bytes can be compared by order",
            code="invalid_condition",
        )
    stored = item.get(cond.name)
    if stored is None:
        return False
    left = _canon(stored)
    if left[0] != right[0]:
        return False
    if isinstance(cond, AttrLessThan):
        return bool(left[1] < right[1])
    return bool(left[1] > right[1])


def evaluate(cond: Condition | None, item: AvItem | None) -> bool:
    """Whether ``cond`` holds for the stored (visible) ``item``; None = absent."""
    if cond is None:
        return True
    attrs: AvItem = item or {}
    match cond:
        case ItemExists():
            return item is not None
        case ItemNotExists():
            return item is None
        case AttrExists(name):
            return name in attrs
        case AttrNotExists(name):
            return name not in attrs
        case AttrEquals(name, value):
            return name in attrs and _canon(attrs[name]) == _operand(value)
        case AttrNotEquals(name, value):
            return name not in attrs or _canon(attrs[name]) != _operand(value)
        case AttrLessThan() | AttrGreaterThan():
            return _ordered(attrs, cond)
        case All(conditions):
            return all(evaluate(c, item) for c in conditions)
        case Any_(conditions):
            return any(evaluate(c, item) for c in conditions)
    raise ValidationFailed(f"unknown condition {cond!r}", code="invalid_condition")


def check_condition(cond: Condition | None) -> None:
    """Static validation of a condition (operand values and types), before any read."""
    match cond:
        case AttrEquals(_, value) | AttrNotEquals(_, value):
            _operand(value)
        case AttrLessThan() | AttrGreaterThan():
            _ordered({}, cond)
        case All(conditions) | Any_(conditions):
            for inner in conditions:
                check_condition(inner)
        case None | ItemExists() | ItemNotExists() | AttrExists() | AttrNotExists():
            pass
        case _:
            raise ValidationFailed(f"unknown condition {cond!r}", code="invalid_condition")


# --------------------------------------------------------------------------- updates
@dataclass(frozen=True, slots=True)
class PreparedUpdate:
    """An :class:`UpdateSpec` validated once, with its values encoded."""

    set: dict[str, AttributeValue]
    add: dict[str, Decimal]
    add_to_set: dict[str, frozenset[str]]
    remove_from_set: dict[str, frozenset[str]]
    remove: tuple[str, ...]


def _string_set(name: str, values: Any) -> frozenset[str]:
    if isinstance(values, str | bytes):
        raise ValidationFailed(f"{name}: give an iterable of strings", code="invalid_update")
    out = frozenset(values)
    if not out:
        raise ValidationFailed(f"{name}: an empty set of strings", code="invalid_value")
    for value in out:
        if not isinstance(value, str):
            raise ValidationFailed(f"{name}: sets hold only strings", code="invalid_value")
        _check_text(value, name)
    return out


def prepare_update(spec: UpdateSpec) -> PreparedUpdate:
    """Validate ``spec`` statically: no key attribute, each attribute in one
    clause only, numbers to add, strings for sets."""
    seen: set[str] = set()
    clauses: list[Any] = [
        spec.set,
        spec.add,
        spec.add_to_set,
        spec.remove_from_set,
        list(spec.remove),
    ]
    for clause in clauses:
        for name in clause:
            if not isinstance(name, str) or not name:
                raise ValidationFailed(
                    "attribute names are non-empty strings", code="invalid_update"
                )
            if name in KEY_ATTRS:
                raise ValidationFailed(
                    f"the key attribute {name} cannot be updated", code="invalid_update"
                )
            if name in seen:
                raise ValidationFailed(
                    f"attribute {name} appears in more than one clause", code="invalid_update"
                )
            seen.add(name)
    try:
        set_ = {name: to_av(value, binary_as_text=True) for name, value in spec.set.items()}
    except UnicodeEncodeError as exc:
        raise ValidationFailed("text that is not valid UTF-8", code="invalid_value") from exc
    add: dict[str, Decimal] = {}
    for name, delta in spec.add.items():
        if isinstance(delta, bool) or not isinstance(delta, int | float):
            raise ValidationFailed(f"add: {name} needs a number", code="invalid_update")
        add[name] = Decimal(to_av(delta)["N"])
    return PreparedUpdate(
        set=set_,
        add=add,
        add_to_set={n: _string_set(n, v) for n, v in spec.add_to_set.items()},
        remove_from_set={n: _string_set(n, v) for n, v in spec.remove_from_set.items()},
        remove=tuple(spec.remove),
    )


def _add_numbers(name: str, current: AttributeValue | None, delta: Decimal) -> AttributeValue:
    if current is None:
        base = Decimal(0)
    elif "N" in current:
        base = Decimal(current["N"])
    else:
        raise ValidationFailed(f"add: attribute {name} is not a number", code="invalid_update")
    try:
        total = _NUMBER_CONTEXT.add(base, delta)
    except decimal.DecimalException as exc:
        raise ValidationFailed(f"add: {name} would lose precision", code="invalid_value") from exc
    if total and not _MIN_MAGNITUDE <= abs(total) < _MAX_MAGNITUDE:
        raise ValidationFailed(f"add: {name} would be out of range", code="invalid_value")
    return {"N": str(total)}


def _current_set(name: str, current: AttributeValue | None, clause: str) -> set[str]:
    if current is None:
        return set()
    if "SS" not in current:
        raise ValidationFailed(
            f"{clause}: attribute {name} is not a string set", code="invalid_update"
        )
    return set(current["SS"])


def apply_update(
    tdef: TableDef, pk: str, sk: str, current: AvItem | None, update: PreparedUpdate
) -> AvItem:
    """The item after ``update`` (``current`` None = absent or expired).

    Raises ValidationFailed on a type mismatch and TooLarge if the result
    exceeds 400 KB.
    """
    item: AvItem = dict(current) if current is not None else {"pk": {"S": pk}, "sk": {"S": sk}}
    item.update(update.set)
    for name, delta in update.add.items():
        item[name] = _add_numbers(name, item.get(name), delta)
    for name, values in update.add_to_set.items():
        merged = _current_set(name, item.get(name), "add_to_set") | values
        item[name] = {"SS": sorted(merged)}
    for name, values in update.remove_from_set.items():
        if name not in item:
            continue
        left = _current_set(name, item.get(name), "remove_from_set") - values
        if left:
            item[name] = {"SS": sorted(left)}
        else:
            del item[name]
    for name in update.remove:
        item.pop(name, None)
    _check_index_attrs(tdef, item)
    _check_size(item)
    return item


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A validated query. ``lower``/``upper`` bound the sort key (inclusive
    lower, ``upper_inclusive`` says for upper; None = unbounded)."""

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
    if not isinstance(pk, str) or not pk:
        raise ValidationFailed("the partition key must be a non-empty string", code="invalid_query")
    _check_text(pk, "the partition key")
    for name, bound in (("sk_prefix", sk_prefix), ("sk_gte", sk_gte), ("sk_lte", sk_lte)):
        if bound is not None:
            if not isinstance(bound, str) or not bound:
                raise ValidationFailed(f"{name} must be a non-empty string", code="invalid_query")
            _check_text(bound, name)
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
    fingerprint = hashlib.sha256(
        json.dumps(signature, ensure_ascii=False).encode("utf-8")
    ).hexdigest()[:16]
    return QuerySpec(
        table=tdef.name,
        index=index,
        pk=pk,
        sk_prefix=sk_prefix,
        lower=lower,
        upper=upper,
        upper_inclusive=upper_inclusive,
        limit=limit,
        descending=descending,
        fingerprint=fingerprint,
    )


def encode_cursor(query: QuerySpec, position: Sequence[str]) -> str:
    """An opaque cursor continuing ``query`` after ``position``: the last
    item's ``(sk,)`` on a table, ``(index sk, pk, sk)`` on an index."""
    raw = json.dumps(
        {"q": query.fingerprint, "k": list(position)}, ensure_ascii=False, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(query: QuerySpec, cursor: str) -> tuple[str, ...]:
    """The position in ``cursor``; ValidationFailed ``invalid_cursor`` if it is
    malformed or was made by another query."""
    invalid = ValidationFailed(
        "the cursor is malformed or belongs to another query", code="invalid_cursor"
    )
    if not isinstance(cursor, str) or not cursor:
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise invalid from exc
    if not isinstance(data, dict) or data.get("q") != query.fingerprint:
        raise invalid
    position = data.get("k")
    if (
        not isinstance(position, list)
        or len(position) != query.key_width
        or not all(isinstance(part, str) for part in position)
    ):
        raise invalid
    return tuple(position)


# --------------------------------------------------------------------------- transactions
@dataclass(frozen=True, slots=True)
class ResolvedOp:
    """A transaction operation, validated, with everything encoded."""

    op: TransactOp
    table: TableDef
    pk: str
    sk: str
    item: AvItem | None = None  # Put
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
            rop = ResolvedOp(op, tdef, pk, sk, update=prepare_update(op.spec))
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

    def read(self, table: TableDef, pk: str, sk: str, now: float) -> AvItem | None:
        """The visible (unexpired) item, or None."""

    def write(self, table: TableDef, pk: str, sk: str, item: AvItem) -> None: ...

    def remove(self, table: TableDef, pk: str, sk: str) -> None: ...


def _failed(condition: Condition | None) -> ConditionFailed:
    return ConditionFailed(
        "the write condition did not hold; nothing was written",
        details={"condition": repr(condition)},
    )


def put_flow(
    rows: Rows,
    table: TableDef,
    encoded: tuple[str, str, AvItem],
    condition: Condition | None,
    now: float,
) -> None:
    pk, sk, item = encoded
    if condition is not None and not evaluate(condition, rows.read(table, pk, sk, now)):
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
    current = rows.read(table, pk, sk, now)
    if not evaluate(condition, current):
        raise _failed(condition)
    item = apply_update(table, pk, sk, current, update)
    rows.write(table, pk, sk, item)
    return item


def delete_flow(
    rows: Rows, table: TableDef, pk: str, sk: str, condition: Condition | None, now: float
) -> None:
    if condition is not None and not evaluate(condition, rows.read(table, pk, sk, now)):
        raise _failed(condition)
    rows.remove(table, pk, sk)


def transact_flow(rows: Rows, resolved: Sequence[ResolvedOp], now: float) -> None:
    """Check every condition, compute every write, then write: all or nothing
    as long as the caller's atomic scope is."""
    # an unconditional put or delete does not need the stored item
    current = [
        rows.read(r.table, r.pk, r.sk, now)
        if r.op.condition is not None or r.update is not None
        else None
        for r in resolved
    ]
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
    writes: list[tuple[ResolvedOp, AvItem | None]] = []
    for r, item in zip(resolved, current, strict=True):
        if r.item is not None:
            writes.append((r, r.item))
        elif r.update is not None:
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
) -> list[tuple[str, str, AvItem | None]]:
    """Validate a batch write up front (nothing is written if any item is
    invalid); each item may appear once. A None item is a delete."""
    writes: list[tuple[str, str, AvItem | None]] = [encode_item(table, item) for item in puts]
    writes.extend((*check_key(key), None) for key in deletes)
    if len({(pk, sk) for pk, sk, _ in writes}) != len(writes):
        raise ValidationFailed("a batch write may touch each item only once", code="duplicate_key")
    return writes
