"""Updates: an :class:`~prework.store.base.UpdateSpec` validated, then applied.

:func:`prepare_update` checks a spec once, before anything is read, on every
backend (no key attribute, each attribute in one clause, numbers to add,
strings for sets, an index key attribute only set to a key value or removed)
and encodes its values; :func:`apply_update` applies it to a stored item's
stored form as DynamoDB would (exact numbers, string sets, the 400 KB limit on
the result), for the embedded backends: a new value is rendered once, when the
update is prepared, and an attribute the update leaves as it is stays as stored
(never converted to the typed form and back: a document of many answers changed
in one answer costs its one answer, not all of them).
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prework.errors import ValidationFailed
from prework.store._items import (
    INDEX_KEY_LIMITS,
    Stored,
    av_item_size,
    check_key_value,
    check_size,
    check_text,
    expiry,
    index_keys,
)
from prework.store.base import KEY_ATTRS, UpdateSpec
from prework.store.codec import (
    _MAX_MAGNITUDE,
    _MIN_MAGNITUDE,
    AttributeValue,
    StoredItem,
    StoredValue,
    dump_stored,
    put_av,
    stored_value,
    to_av,
)
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

    set: dict[str, StoredValue]
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
    set_ = {name: stored_value(value) for name, value in spec.set.items()}
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
    if total and not _MIN_MAGNITUDE <= total.copy_abs() < _MAX_MAGNITUDE:  # exact
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
    tdef: TableDef, pk: str, sk: str, current: StoredItem | None, update: PreparedUpdate
) -> Stored:
    """The item after ``update`` (``current`` None = absent or expired), as stored.

    Raises ValidationFailed on a type mismatch, and TooLarge if the result
    exceeds 400 KB.
    """
    if current is None:
        values: dict[str, Any] = {"pk": pk, "sk": sk}
        typed: dict[str, str] = {}
    else:
        values, typed = dict(current.stored), dict(current.tags)
    item = StoredItem(values, typed)  # the result so far, read as typed values
    for name, new in update.set.items():
        values[name] = new.value
        if new.tag is None:
            typed.pop(name, None)
        else:
            typed[name] = new.tag
    for name, delta in update.add.items():
        put_av(values, typed, name, _add_numbers(name, item.get(name), delta))
    for name, values_added in update.add_to_set.items():
        merged = _current_set(name, item.get(name), "add_to_set") | values_added
        put_av(values, typed, name, {"SS": sorted(merged)})
    for name, values_removed in update.remove_from_set.items():
        if name not in item:
            continue
        left = _current_set(name, item.get(name), "remove_from_set") - values_removed
        if left:
            put_av(values, typed, name, {"SS": sorted(left)})
        else:
            del values[name]
            typed.pop(name, None)
    for name in update.remove:
        values.pop(name, None)
        typed.pop(name, None)
    # the new values as rendered when prepared (an attribute is in one clause only)
    rendered = {**values, **{name: new.json for name, new in update.set.items()}}
    data = dump_stored(rendered, typed)
    check_size(data, lambda: av_item_size(StoredItem.parse(data)))
    return Stored(data, expiry(tdef, item), index_keys(tdef, item))
