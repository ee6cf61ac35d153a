"""Updates: an :class:`~prework.store.base.UpdateSpec` validated, then applied.

:func:`prepare_update` checks a spec once, before anything is read, on every
backend (no key attribute, each attribute in one clause, numbers to add,
strings for sets, an index key attribute only set to a key value or removed)
and encodes its values; :func:`apply_update` applies it to a stored item's
typed form as DynamoDB would (exact numbers, string sets, the 400 KB limit on
the result), for the embedded backends.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prework.errors import ValidationFailed
from prework.store._items import (
    INDEX_KEY_LIMITS,
    AvItem,
    Stored,
    av_item_size,
    check_key_value,
    check_size,
    check_text,
    store_av,
)
from prework.store.base import KEY_ATTRS, UpdateSpec
from prework.store.codec import _MAX_MAGNITUDE, _MIN_MAGNITUDE, AttributeValue, to_av
from prework.store.schema import TableDef

__all__ = [
    "PreparedUpdate",
    "apply_update",
    "prepare_update",
]


_NUMBER_CONTEXT = decimal.Context(prec=38, traps=[decimal.Inexact, decimal.Overflow])


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
        check_text(value, name)
    return out


def prepare_update(tdef: TableDef, spec: UpdateSpec) -> PreparedUpdate:
    """Validate ``spec`` for table ``tdef`` statically: no key attribute, each
    attribute in one clause only, numbers to add, strings for sets, and an index
    key attribute only set to a key value or removed."""
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
    if tdef.indexes:
        for name in seen:
            found = INDEX_KEY_LIMITS.get(name)
            if found is not None and found[0] in tdef.indexes:
                _check_index_update(spec, name, found[1])
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


def _check_index_update(spec: UpdateSpec, name: str, limit: int) -> None:
    """An update may set index key attribute ``name`` to a key value, or remove it."""
    if name in spec.set:
        check_key_value(spec.set[name], f"index key attribute {name}", limit)
    elif name not in spec.remove:
        raise ValidationFailed(
            f"index key attribute {name} is a string: it can only be set or removed",
            code="invalid_key",
            details={"attribute": name},
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
) -> tuple[AvItem, Stored]:
    """The item after ``update`` (``current`` None = absent or expired), typed
    and as stored.

    Raises ValidationFailed on a type mismatch or text that is not UTF-8, and
    TooLarge if the result exceeds 400 KB.
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
    stored = store_av(tdef, item)
    check_size(stored.data, lambda: av_item_size(item))
    return item, stored
