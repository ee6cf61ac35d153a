"""DynamoDB expressions: the port's conditions and updates as a request's text.

:class:`Expr` collects one request's placeholders (every attribute name and
value is one) and writes its ``ConditionExpression`` and ``UpdateExpression``.
On a TTL table a condition holds on an expired item exactly when it holds on
an absent one, and an update's condition fails on an expired item (so that the
caller clears it and starts from nothing): see :mod:`prework.store.dynamodb.store`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prework.errors import ValidationFailed
from prework.store._conditions import evaluate
from prework.store._updates import PreparedUpdate
from prework.store.base import (
    TTL_ATTR,
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
    UpdateSpec,
)
from prework.store.codec import to_av
from prework.store.schema import TableDef

__all__ = ["AV", "Expr"]

AV = dict[str, Any]  # a DynamoDB attribute value, as the client takes it


def _constant(cond: Condition) -> bool | None:
    """The value of a condition that holds or fails whatever the item (made of
    empty ``All()``/``Any_()``), else None."""
    if isinstance(cond, All | Any_):
        absorbing = isinstance(cond, Any_)
        values = [_constant(c) for c in cond.conditions]
        if absorbing in values:
            return absorbing
        if all(v is not None for v in values):
            return not absorbing
    return None


def _paren(text: str) -> str:
    """``text`` in parentheses, unless it already is one group (DynamoDB rejects
    redundant parentheses such as ``((a = b))``)."""
    if text.startswith("("):
        depth = 0
        for position, char in enumerate(text):
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth == 0:
                if position == len(text) - 1:
                    return text
                break
    return f"({text})"


class Expr:
    """Placeholders for attribute names and values of one request."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # attribute -> placeholder
        self.values: dict[str, AV] = {}

    def name(self, attr: str) -> str:
        placeholder = self._names.get(attr)
        if placeholder is None:
            placeholder = f"#n{len(self._names)}"
            self._names[attr] = placeholder
        return placeholder

    def value(self, av: AV) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = av
        return placeholder

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self._names:
            out["ExpressionAttributeNames"] = {ph: attr for attr, ph in self._names.items()}
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out

    # -- conditions
    def always(self, holds: bool) -> str:
        pk = self.name("pk")
        joiner = "OR" if holds else "AND"
        return f"(attribute_exists({pk}) {joiner} attribute_not_exists({pk}))"

    def direct(self, cond: Condition) -> str | bool:
        """``cond`` on the stored item as it is (a bool when it is constant)."""
        match cond:
            case ItemExists():
                return f"attribute_exists({self.name('pk')})"
            case ItemNotExists():
                return f"attribute_not_exists({self.name('pk')})"
            case AttrExists(name):
                return f"attribute_exists({self.name(name)})"
            case AttrNotExists(name):
                return f"attribute_not_exists({self.name(name)})"
            case AttrEquals(name, value):
                return f"{self.name(name)} = {self.value(to_av(value))}"
            case AttrNotEquals(name, value):
                attr = self.name(name)
                return f"(attribute_not_exists({attr}) OR {attr} <> {self.value(to_av(value))})"
            case AttrLessThan(name, value):
                return f"{self.name(name)} < {self.value(to_av(value))}"
            case AttrGreaterThan(name, value):
                return f"{self.name(name)} > {self.value(to_av(value))}"
            case All(conditions):
                return self._join(conditions, "AND")
            case Any_(conditions):
                return self._join(conditions, "OR")
        raise ValidationFailed(f"unknown condition {cond!r}", code="invalid_condition")

    def _join(self, conditions: Sequence[Condition], joiner: str) -> str | bool:
        # constants first, so that no placeholder is made for a part folded away
        # (DynamoDB rejects unused placeholders)
        absorbing = joiner == "OR"  # True absorbs an OR, False absorbs an AND
        constants = [_constant(c) for c in conditions]
        if absorbing in constants:
            return absorbing
        texts = [
            str(self.direct(c))
            for c, fixed in zip(conditions, constants, strict=True)
            if fixed is None
        ]
        if not texts:
            return not absorbing
        if len(texts) == 1:
            return texts[0]
        return f" {joiner} ".join(_paren(t) for t in texts)

    def expired(self, now: float) -> str:
        return f"{self.name(TTL_ATTR)} <= {self.value(to_av(now))}"

    def write_condition(self, tdef: TableDef, cond: Condition | None, now: float) -> str | None:
        """The ConditionExpression of a put, delete or check (None: always holds)."""
        if cond is None:
            return None
        direct = self.direct(cond)
        if tdef.ttl:
            if evaluate(cond, None):  # holds on an absent item, so on an expired one
                if direct is True:
                    return None
                return (
                    self.expired(now)
                    if direct is False
                    else f"{self.expired(now)} OR {_paren(direct)}"
                )
            if direct is False:
                return self.always(False)
            live = f"NOT ({self.expired(now)})"
            return live if direct is True else f"{live} AND {_paren(direct)}"
        if isinstance(direct, bool):
            return None if direct else self.always(False)
        return direct

    def update_condition(self, tdef: TableDef, cond: Condition | None, now: float) -> str | None:
        """The ConditionExpression of an update: on a TTL table it also fails on an
        expired item, so that the caller can clear it and start from nothing."""
        direct: str | bool = True if cond is None else self.direct(cond)
        if direct is False:
            return self.always(False)
        if not tdef.ttl:
            return None if direct is True else str(direct)
        live = f"NOT ({self.expired(now)})"
        return live if direct is True else f"{live} AND {_paren(direct)}"

    # -- updates
    def update(self, spec: UpdateSpec, prepared: PreparedUpdate) -> str | None:
        clauses: list[str] = []
        if spec.set:
            sets = [f"{self.name(n)} = {self.value(to_av(v))}" for n, v in spec.set.items()]
            clauses.append("SET " + ", ".join(sets))
        adds = [f"{self.name(n)} {self.value({'N': str(d)})}" for n, d in prepared.add.items()]
        adds += [
            f"{self.name(n)} {self.value({'SS': sorted(v)})}"
            for n, v in prepared.add_to_set.items()
        ]
        if adds:
            clauses.append("ADD " + ", ".join(adds))
        if prepared.remove_from_set:
            deletes = [
                f"{self.name(n)} {self.value({'SS': sorted(v)})}"
                for n, v in prepared.remove_from_set.items()
            ]
            clauses.append("DELETE " + ", ".join(deletes))
        if prepared.remove:
            clauses.append("REMOVE " + ", ".join(self.name(n) for n in prepared.remove))
        return " ".join(clauses) or None
