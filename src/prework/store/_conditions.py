"""Conditions: checked before anything is read, evaluated on the typed form.

:func:`check_condition` validates a condition's operands once, before any
read, on every backend; :func:`evaluate` decides it on a stored item's typed
form (:data:`~prework.store._items.AvItem`, or a view making it an attribute at a
time) comparing values as DynamoDB does
(type tag included, numbers exact). The embedded backends evaluate every
condition; DynamoDB only needs to know whether one holds on an absent item.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from prework.errors import ValidationFailed
from prework.store.base import (
    All,
    Any_,
    AttrEquals,
    AttrExists,
    AttrGreaterThan,
    AttrLessThan,
    AttrNotEquals,
    AttrNotExists,
    Condition,
    ItemExists,
    ItemNotExists,
)
from prework.store.codec import AttributeValue, to_av

_Attrs = Mapping[str, AttributeValue]  # an item's typed form (or a view of it)

__all__ = [
    "check_condition",
    "evaluate",
]


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


def _ordered(item: _Attrs, cond: AttrLessThan | AttrGreaterThan) -> bool:
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


def evaluate(cond: Condition | None, item: _Attrs | None) -> bool:
    """Whether ``cond`` holds for the stored (visible) ``item``; None = absent."""
    if cond is None:
        return True
    attrs: _Attrs = item or {}
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
