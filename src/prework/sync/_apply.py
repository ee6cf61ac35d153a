"""Applying json0 operations strictly, without modifying the document."""

from __future__ import annotations

import math
from typing import Any

from prework.sync._text0 import from_units, to_units
from prework.sync._values import (
    DEFAULT_LIMITS,
    MAX_SAFE_INTEGER,
    Component,
    InvalidOp,
    Json,
    Limits,
    Op,
    canonical,
    check_op,
    json_equal,
)

__all__ = ["add", "apply", "apply_checked"]  # apply_checked: for checked operations


def _splits_pair(units: bytes, offset: int) -> bool:
    """Whether UTF-16 ``offset`` falls between the halves of a surrogate pair."""
    if not 0 < offset < len(units) // 2:
        return False
    return 0xDC00 <= int.from_bytes(units[2 * offset : 2 * offset + 2], "little") <= 0xDFFF


def _insert_text(s: str, offset: int, insert: str) -> str:
    if s.isascii():
        if offset > len(s):
            raise InvalidOp(f"offset {offset} is past the end of a {len(s)}-unit string.")
        return s[:offset] + insert + s[offset:]
    units = to_units(s)
    if offset > len(units) // 2:
        raise InvalidOp(f"offset {offset} is past the end of a {len(units) // 2}-unit string.")
    if _splits_pair(units, offset):
        raise InvalidOp(f"offset {offset} splits a surrogate pair (one character).")
    return from_units(units[: 2 * offset]) + insert + from_units(units[2 * offset :])


def _delete_text(s: str, offset: int, deleted: str) -> str:
    if s.isascii() and deleted.isascii():
        if offset > len(s) or s[offset : offset + len(deleted)] != deleted:
            raise InvalidOp("sd does not match the text at its offset.")
        return s[:offset] + s[offset + len(deleted) :]
    units, gone = to_units(s), to_units(deleted)
    if offset > len(units) // 2:
        raise InvalidOp(f"offset {offset} is past the end of a {len(units) // 2}-unit string.")
    if _splits_pair(units, offset):
        raise InvalidOp(f"offset {offset} splits a surrogate pair (one character).")
    start = 2 * offset
    if units[start : start + len(gone)] != gone:
        raise InvalidOp("sd does not match the text at its offset.")
    return from_units(units[:start] + units[start + len(gone) :])


def apply(doc: Json, op: object, limits: Limits = DEFAULT_LIMITS, *, rebased: bool = False) -> Json:
    """``doc`` with ``op`` applied, as a new document (``doc`` is not modified);
    InvalidOp, and nothing applied, if ``op`` is malformed or does not fit.
    ``rebased``: ``op`` was transformed over others (a server applying a client's
    operation made on an older version): the values it deletes were rebased, and
    fractional adds summed in another order may differ in the last bit, so they are
    not compared (the structure still is)."""
    return apply_checked(doc, check_op(op, limits), lax=rebased)


def apply_checked(doc: Json, op: Op, *, lax: bool = False) -> Json:
    """Apply checked components; root paths are allowed (the transform applies
    components to a deleted value). ``lax``, as the reference's apply: a deleted value
    (``od``/``ld``) need not equal what is there and ``oi`` may replace a key (the
    transform rebases a deletion by the other operation this way, where fractional
    adds summed in another order can differ in the last bit)."""
    holder: list[Json] = [doc]
    owned: dict[int, Json] = {}  # id -> container copied by this call (safe to change)
    for index, c in enumerate(op):
        try:
            _apply_component(holder, c, owned, lax)
        except InvalidOp as exc:
            message = f"Component {index}: {exc.message}"
            raise InvalidOp(message, details={"component": index}) from None
    return holder[0]


def _owned(parent: Any, key: Any, owned: dict[int, Json]) -> Json:
    """``parent[key]``; a container is first replaced by a copy of this call's own."""
    value = parent[key]
    t = type(value)
    if (t is dict or t is list) and id(value) not in owned:
        value = value.copy()
        parent[key] = value
        owned[id(value)] = value
    return value


def _where(path: list[Any]) -> str:
    return "/" + "/".join(str(s) for s in path)


def _kind(value: Json) -> str:
    t = type(value)
    if t is dict:
        return "an object"
    if t is list:
        return "a list"
    if t is str:
        return "a string"
    if value is None:
        return "null"
    if t is bool:
        return "a boolean"
    return "a number"


def _locate(holder: list[Json], p: list[Any], n: int, owned: dict[int, Json]) -> tuple[Any, Any]:
    """``(parent, key)``: ``parent[key]`` is what ``p[:n]`` names; each container
    on the way is this call's own."""
    parent: Any = holder
    key: Any = 0
    for i in range(n):
        node = _owned(parent, key, owned)
        step = p[i]
        t = type(node)
        if t is dict:
            if type(step) is not str:
                raise InvalidOp(f"{_where(p[:i])} is an object: {step!r} is not a key.")
            if step not in node:
                raise InvalidOp(f"{_where(p[: i + 1])} does not exist.")
        elif t is list:
            if type(step) is not int:
                raise InvalidOp(f"{_where(p[:i])} is a list: {step!r} is not an index.")
            if step >= len(node):
                raise InvalidOp(f"{_where(p[: i + 1])} is past the end of the list.")
        else:
            raise InvalidOp(f"{_where(p[:i])} is {_kind(node)}, not an object or a list.")
        parent, key = node, step
    return parent, key


def _apply_component(holder: list[Json], c: Component, owned: dict[int, Json], lax: bool) -> None:
    p = c["p"]
    n = len(p)
    if "na" in c:
        parent, key = _locate(holder, p, n, owned)
        current = parent[key]
        if type(current) not in (int, float):
            raise InvalidOp(f"{_where(p)} is {_kind(current)}, not a number.")
        parent[key] = _add_checked(current, c["na"])
    elif "si" in c or "sd" in c:
        parent, key = _locate(holder, p, n - 1, owned)
        text = parent[key]
        if type(text) is not str:
            raise InvalidOp(f"{_where(p[:-1])} is {_kind(text)}, not a string.")
        if "si" in c:
            parent[key] = _insert_text(text, p[-1], c["si"])
        else:
            parent[key] = _delete_text(text, p[-1], c["sd"])
    elif "li" in c or "ld" in c or "lm" in c:
        _apply_list(holder, c, p, owned, lax)
    elif n == 0:
        raise InvalidOp("an object edit needs a path ending in a key.")
    else:
        parent, key = _locate(holder, p, n - 1, owned)
        obj = _owned(parent, key, owned)
        if type(obj) is not dict:
            raise InvalidOp(f"{_where(p[:-1])} is {_kind(obj)}, not an object.")
        name = p[-1]
        if "od" in c:
            if name not in obj:
                raise InvalidOp(f"{_where(p)} does not exist: nothing to delete.")
            if not lax and not json_equal(obj[name], c["od"]):
                raise InvalidOp(f"od does not match the value at {_where(p)}.")
        elif name in obj and not lax:
            raise InvalidOp(f"{_where(p)} exists: replace it with od and oi.")
        if "oi" in c:
            obj[name] = c["oi"]
        else:
            del obj[name]


def _apply_list(
    holder: list[Json], c: Component, p: list[Any], owned: dict[int, Json], lax: bool
) -> None:
    if not p:
        raise InvalidOp("a list edit needs a path ending in an index.")
    parent, key = _locate(holder, p, len(p) - 1, owned)
    items = _owned(parent, key, owned)
    if type(items) is not list:
        raise InvalidOp(f"{_where(p[:-1])} is {_kind(items)}, not a list.")
    index = p[-1]
    size = len(items)
    if "lm" in c:
        to = c["lm"]
        if index >= size or to >= size:
            raise InvalidOp(f"lm moves within a list of {size}: {index} -> {to} is out of range.")
        if to != index:
            items.insert(to, items.pop(index))
        return
    if "ld" in c:
        if index >= size:
            raise InvalidOp(f"{_where(p)} is past the end of the list.")
        if not lax and not json_equal(items[index], c["ld"]):
            raise InvalidOp(f"ld does not match the element at {_where(p)}.")
        if "li" in c:
            items[index] = c["li"]
        else:
            del items[index]
        return
    if index > size:
        raise InvalidOp(f"{_where(p)} is past the end of the list ({size} elements).")
    items.insert(index, c["li"])


def _add_checked(a: int | float, b: int | float) -> int | float:
    total = add(a, b)
    if type(total) is int:
        if not -MAX_SAFE_INTEGER <= total <= MAX_SAFE_INTEGER:
            raise InvalidOp("na takes the number beyond JavaScript's safe range (2**53 - 1).")
    elif not math.isfinite(total):
        raise InvalidOp("na makes the number infinite.")
    return total


def add(a: int | float, b: int | float) -> int | float:
    if type(a) is int and type(b) is int:
        return a + b
    return canonical(float(a) + float(b))
