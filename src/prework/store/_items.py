"""Keys, items and their stored form: what every backend checks of them.

A key value is a non-empty string of UTF-8 text within DynamoDB's limits
(:func:`check_key`, :func:`check_key_value`); an item is checked and encoded in
one pass (:func:`encode_item`) into the form the embedded backends keep
(:class:`Stored`: the codec's compact JSON bytes, see
:mod:`prework.store.codec`, plus the expiry and index keys copied out for
lookups), and read straight back (:func:`decode_stored`). Conditions read the
*typed* form of an item (:data:`AvItem`: attribute name to DynamoDB attribute
value, bytes as base64 text, numbers exact), made an attribute at a time from the
stored form (:func:`stored_av`); updates change the stored form. No I/O, no
clocks: callers pass ``now``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias

from prework.errors import TooLarge, ValidationFailed
from prework.store.base import (
    MAX_ITEM_BYTES,
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    TTL_ATTR,
    Item,
    Key,
)
from prework.store.codec import (
    AttributeValue,
    StoredItem,
    _av_size,
    item_from_av,
    item_size,
    pack_item,
    size_bound_holds,
    unpack_item,
    unpack_many,
)
from prework.store.schema import INDEX_NAMES, TableDef

__all__ = [
    "INDEX_KEY_LIMITS",
    "AvItem",
    "IndexKeys",
    "Stored",
    "av_item_size",
    "check_key",
    "check_key_value",
    "check_size",
    "check_text",
    "decode_item",
    "decode_many",
    "decode_stored",
    "encode_item",
    "expiry",
    "index_keys",
    "is_expired",
    "is_key_value",
    "stored_av",
    "table_def",
]

AvItem: TypeAlias = dict[str, AttributeValue]
IndexKeys: TypeAlias = dict[str, tuple[str, str]]  # index name -> (partition, sort)

_INDEX_ATTRS = {index: (f"{index}pk", f"{index}sk") for index in INDEX_NAMES}


class Stored(NamedTuple):
    """An item as the embedded backends keep it (immutable: share freely)."""

    data: bytes  # the codec's stored form
    expires_at: float | None  # see expiry()
    indexes: IndexKeys  # see index_keys()


def table_def(tables: Mapping[str, TableDef], name: str) -> TableDef:
    """The definition of logical table ``name``; an unknown table is a bug."""
    try:
        return tables[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}") from None


def check_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValidationFailed(f"{what} is not valid UTF-8 text", code="invalid_value") from exc


def _key_problem(value: Any, limit: int) -> str | None:
    """What keeps ``value`` from being a key value of at most ``limit`` UTF-8
    bytes (a non-empty string of text), or None if nothing does."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    if size > limit:
        return f"is {size} bytes long; at most {limit} bytes are allowed"
    return None


def is_key_value(value: Any, limit: int) -> bool:
    if type(value) is str and value.isascii():
        return 0 < len(value) <= limit
    return _key_problem(value, limit) is None


def check_key_value(value: Any, what: str, limit: int) -> str:
    """``value`` if it is a key value (see :mod:`prework.store.base`), else
    ValidationFailed ``invalid_key``; ``what`` names it in the message."""
    if type(value) is str and value.isascii() and 0 < len(value) <= limit:
        return value  # the usual key, told apart without encoding it
    problem = _key_problem(value, limit)
    if problem is not None:
        details = {"max_bytes": limit}
        raise ValidationFailed(f"{what} {problem}", code="invalid_key", details=details)
    return str(value)


def check_key(key: Key) -> tuple[str, str]:
    """``(pk, sk)`` of a key holding exactly the two key values ``pk`` and ``sk``."""
    if not isinstance(key, Mapping) or len(key) != 2 or "pk" not in key or "sk" not in key:
        raise ValidationFailed("a key has exactly the attributes pk and sk", code="invalid_key")
    return (
        check_key_value(key["pk"], "key attribute pk", MAX_PARTITION_KEY_BYTES),
        check_key_value(key["sk"], "key attribute sk", MAX_SORT_KEY_BYTES),
    )


# every possible index key attribute: its index and the most UTF-8 bytes it holds
INDEX_KEY_LIMITS: dict[str, tuple[str, int]] = {
    name: (index, limit)
    for index, (ipk, isk) in _INDEX_ATTRS.items()
    for name, limit in ((ipk, MAX_PARTITION_KEY_BYTES), (isk, MAX_SORT_KEY_BYTES))
}


def av_item_size(item: Mapping[str, AttributeValue]) -> int:
    """DynamoDB's size of a typed item."""
    return sum(len(name.encode("utf-8")) + _av_size(av) for name, av in item.items())


def check_size(data: bytes, exact: Callable[[], int]) -> None:
    """TooLarge if the item stored as ``data`` exceeds 400 KB; ``exact`` gives
    its exact size, needed only near the limit."""
    if size_bound_holds(data, MAX_ITEM_BYTES):
        return
    size = exact()
    if size > MAX_ITEM_BYTES:
        raise TooLarge(
            f"the item is {size} bytes; at most {MAX_ITEM_BYTES} are allowed",
            details={"size": size, "max": MAX_ITEM_BYTES},
        )


def _ttl_of(value: Any) -> float | None:
    """The expiry an ``expires_at`` value gives (only numbers count)."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    return None


def encode_item(tdef: TableDef, item: Item) -> tuple[str, str, Stored]:
    """Validate ``item`` for ``tdef`` and return ``(pk, sk, stored item)``.

    Raises ValidationFailed (bad key, bad value) or TooLarge (> 400 KB).
    """
    if not isinstance(item, Mapping):
        raise ValidationFailed("an item is a mapping", code="invalid_value")
    pk = check_key_value(item.get("pk"), "key attribute pk", MAX_PARTITION_KEY_BYTES)
    sk = check_key_value(item.get("sk"), "key attribute sk", MAX_SORT_KEY_BYTES)
    for name in item:
        if not isinstance(name, str) or not name:
            raise ValidationFailed("attribute names are non-empty strings", code="invalid_value")
    data = pack_item(item)  # checks every value (and, serializing, all text)
    indexes: IndexKeys = {}
    for index in tdef.indexes:
        ipk, isk = _INDEX_ATTRS[index]
        # DynamoDB checks an index key attribute even when its pair is missing
        if ipk in item:
            check_key_value(item[ipk], f"index key attribute {ipk}", MAX_PARTITION_KEY_BYTES)
        if isk in item:
            check_key_value(item[isk], f"index key attribute {isk}", MAX_SORT_KEY_BYTES)
            if ipk in item:
                indexes[index] = (item[ipk], item[isk])
    check_size(data, lambda: item_size(item))
    expires_at = _ttl_of(item.get(TTL_ATTR)) if tdef.ttl else None
    return pk, sk, Stored(data, expires_at, indexes)


def stored_av(data: bytes) -> StoredItem:
    """A stored item (its ``data``) in the typed form (for conditions and updates),
    each attribute converted when read."""
    return StoredItem.parse(data)


def decode_item(item: AvItem) -> Item:
    """A typed item as the item it reads back as."""
    return item_from_av(item)


def decode_stored(data: bytes) -> Item:
    """A stored item (its ``data``) as the item it reads back as."""
    return unpack_item(data)


def decode_many(rows: Sequence[bytes]) -> list[Item]:
    """Stored items (their ``data``) as items (one JSON parse for all)."""
    return unpack_many(rows)


def expiry(tdef: TableDef, item: Mapping[str, AttributeValue]) -> float | None:
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


def index_keys(tdef: TableDef, item: Mapping[str, AttributeValue]) -> IndexKeys:
    """The indexes the item is in (it has both string key attributes)."""
    out: IndexKeys = {}
    for index in tdef.indexes:
        ipk = item.get(f"{index}pk")
        isk = item.get(f"{index}sk")
        if ipk is not None and isk is not None and "S" in ipk and "S" in isk:
            out[index] = (ipk["S"], isk["S"])
    return out
