"""Queries and their cursors, the same on every backend.

:func:`prepare_query` checks a query once (key values within their limits,
bounds that fit together, a positive limit) into a :class:`QuerySpec`. A
cursor (:func:`encode_cursor`) holds the last item's position and is bound to
the query that made it; :func:`decode_cursor` takes back only a position that
query could have ended a page on, so a forged or foreign cursor is rejected
before anything is read or sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from prework.errors import ValidationFailed
from prework.store._items import check_key_value, is_key_value
from prework.store.base import MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES
from prework.store.schema import TableDef

__all__ = [
    "MergedSpec",
    "QuerySpec",
    "decode_cursor",
    "encode_cursor",
    "prefix_upper_bound",
    "prepare_merged",
    "prepare_query",
]


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
    _fingerprint: str = ""  # computed when a cursor is made or read

    @property
    def fingerprint(self) -> str:
        """What binds a cursor to this query (its table, index, key and bounds)."""
        if not self._fingerprint:
            prefixed = self.sk_prefix is not None
            self._fingerprint = _digest(
                [
                    self.table,
                    self.index,
                    self.pk,
                    self.sk_prefix,
                    None if prefixed else self.lower,
                    None if prefixed else self.upper,
                    self.descending,
                ]
            )
        return self._fingerprint

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
    return QuerySpec(
        tdef.name, index, pk, sk_prefix, lower, upper, upper_inclusive, limit, descending
    )


def _digest(signature: list[Any]) -> str:
    return hashlib.sha256(orjson.dumps(signature)).hexdigest()[:16]


@dataclass(slots=True)
class MergedSpec:
    """A validated merged query (treat as immutable): partitions ``pks`` of
    ``index``, index sort keys within ``lower`` (inclusive) / ``after``
    (exclusive) / ``upper`` (inclusive), ascending."""

    table: str
    index: str
    pks: tuple[str, ...]
    lower: str | None
    after: str | None
    upper: str | None
    limit: int
    _fingerprint: str = ""
    key_width = 3  # a position is (index sk, pk, sk)

    @property
    def fingerprint(self) -> str:
        if not self._fingerprint:
            self._fingerprint = _digest(
                [self.table, self.index, sorted(self.pks), self.lower, self.after, self.upper,
                 "merged"]
            )  # fmt: skip
        return self._fingerprint

    def sk_matches(self, sk: str) -> bool:
        if self.lower is not None and sk < self.lower:
            return False
        if self.after is not None and sk <= self.after:
            return False
        return self.upper is None or sk <= self.upper

    def can_continue_after(self, sk: str) -> bool:
        return self.sk_matches(sk)

    def partition(self, pk: str) -> QuerySpec:
        """The query of one partition (the merge's part of it; its lower bound the
        greater of ``lower`` and ``after``, ``after`` itself applied by the reader)."""
        lower = self.lower
        if self.after is not None and (lower is None or self.after > lower):
            lower = self.after
        return QuerySpec(self.table, self.index, pk, None, lower, self.upper, True, None, False)


def prepare_merged(
    tdef: TableDef,
    *,
    index: str,
    pks: Sequence[str],
    sk_gte: str | None,
    sk_after: str | None,
    sk_lte: str | None,
    limit: int,
) -> MergedSpec:
    if index not in tdef.indexes:
        raise ValueError(f"table {tdef.name!r} has no index {index!r}")
    if isinstance(pks, str) or not isinstance(pks, Sequence):
        raise ValidationFailed("pks must be a list of partition keys", code="invalid_query")
    if not pks:
        raise ValidationFailed("a merged query reads one partition or more", code="invalid_query")
    for pk in pks:
        check_key_value(pk, "a partition key", MAX_PARTITION_KEY_BYTES)
    if len(set(pks)) != len(pks):
        raise ValidationFailed("the partition keys must be distinct", code="invalid_query")
    for name, value in (("sk_gte", sk_gte), ("sk_after", sk_after), ("sk_lte", sk_lte)):
        if value is not None:
            check_key_value(value, name, MAX_SORT_KEY_BYTES)
    if sk_gte is not None and sk_lte is not None and sk_gte > sk_lte:
        raise ValidationFailed("sk_gte is greater than sk_lte", code="invalid_query")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationFailed("limit must be a positive integer", code="invalid_query")
    return MergedSpec(tdef.name, index, tuple(pks), sk_gte, sk_after, sk_lte, limit)


class _Positioned(Protocol):
    @property
    def fingerprint(self) -> str: ...

    @property
    def key_width(self) -> int: ...

    def can_continue_after(self, sk: str) -> bool: ...


# the most UTF-8 bytes of each part of a cursor's position, by its width
_POSITION_LIMITS = {
    1: (MAX_SORT_KEY_BYTES,),
    3: (MAX_SORT_KEY_BYTES, MAX_PARTITION_KEY_BYTES, MAX_SORT_KEY_BYTES),
}


def encode_cursor(query: _Positioned, position: Sequence[str]) -> str:
    """An opaque cursor continuing ``query`` after ``position``: the last
    item's ``(sk,)`` on a table, ``(index sk, pk, sk)`` on an index."""
    raw = orjson.dumps({"q": query.fingerprint, "k": list(position)})
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(query: _Positioned, cursor: str) -> tuple[str, ...]:
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
