"""Item values <-> DynamoDB's typed attribute values, and DynamoDB's item size.

Every backend stores items in this typed form (the SQLite and memory backends
as JSON, with bytes in base64), so every backend accepts, rejects and
round-trips exactly the same values as DynamoDB does.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any

from prework.errors import ValidationFailed

AttributeValue = dict[str, Any]

# DynamoDB numbers: up to 38 significant digits, magnitude within 1e-130..1e126
_MAX_DIGITS = 38
_MIN_MAGNITUDE = Decimal("1E-130")
_MAX_MAGNITUDE = Decimal("1E+126")
# normalize() under the default context rounds to 28 digits; count exactly
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _number_text(value: int | float) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationFailed("numbers must be finite", code="invalid_value")
        text = repr(value)
    else:
        text = str(value)
    try:
        number = Decimal(text)
        digits = number.normalize(_EXACT).as_tuple().digits
    except InvalidOperation as exc:  # pragma: no cover - repr/str always parse
        raise ValidationFailed("not a number", code="invalid_value") from exc
    if len(digits) > _MAX_DIGITS:
        raise ValidationFailed("numbers have at most 38 significant digits", code="invalid_value")
    if number and not _MIN_MAGNITUDE <= abs(number) < _MAX_MAGNITUDE:
        raise ValidationFailed("numbers lie within 1e-130..1e126", code="invalid_value")
    return text


def to_av(value: Any, *, binary_as_text: bool = False) -> AttributeValue:
    """One Python value as a DynamoDB attribute value.

    ``binary_as_text`` encodes bytes as base64 text (for JSON storage).
    """
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float):
        return {"N": _number_text(value)}
    if isinstance(value, Decimal):
        return {"N": _number_text(float(value)) if value % 1 else _number_text(int(value))}
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"B": base64.b64encode(raw).decode("ascii") if binary_as_text else raw}
    if isinstance(value, set | frozenset):
        if not value:
            raise ValidationFailed("empty sets cannot be stored", code="invalid_value")
        if not all(isinstance(v, str) for v in value):
            raise ValidationFailed("only sets of strings can be stored", code="invalid_value")
        return {"SS": sorted(value)}
    if isinstance(value, list | tuple):
        return {"L": [to_av(v, binary_as_text=binary_as_text) for v in value]}
    if isinstance(value, Mapping):
        out: dict[str, AttributeValue] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValidationFailed("map keys must be strings", code="invalid_value")
            out[k] = to_av(v, binary_as_text=binary_as_text)
        return {"M": out}
    raise ValidationFailed(
        f"values of type {type(value).__name__} cannot be stored", code="invalid_value"
    )


def from_av(av: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as a Python value (bytes may be base64 text)."""
    ((tag, raw),) = av.items()
    if tag == "S":
        return raw
    if tag == "N":
        number = Decimal(raw)
        if number == number.to_integral_value():
            return int(number)
        return float(number)
    if tag == "BOOL":
        return bool(raw)
    if tag == "NULL":
        return None
    if tag == "B":
        return base64.b64decode(raw) if isinstance(raw, str) else bytes(raw)
    if tag == "SS":
        return set(raw)
    if tag == "L":
        return [from_av(v) for v in raw]
    if tag == "M":
        return {k: from_av(v) for k, v in raw.items()}
    raise ValueError(f"unsupported attribute type {tag!r}")


def item_to_av(item: Mapping[str, Any], *, binary_as_text: bool = False) -> dict[str, Any]:
    return {k: to_av(v, binary_as_text=binary_as_text) for k, v in item.items()}


def item_from_av(av_item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_av(v) for k, v in av_item.items()}


def _av_size(av: Mapping[str, Any]) -> int:
    ((tag, raw),) = av.items()
    if tag == "S":
        return len(raw.encode("utf-8"))
    if tag == "N":
        # DynamoDB: about 1 byte per two significant digits, plus 1
        digits = len(Decimal(raw).normalize(_EXACT).as_tuple().digits)
        return (digits + 1) // 2 + 1
    if tag == "B":
        return len(base64.b64decode(raw)) if isinstance(raw, str) else len(raw)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(s.encode("utf-8")) for s in raw)
    if tag == "L":
        return 3 + sum(1 + _av_size(v) for v in raw)
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + _av_size(v) for k, v in raw.items())
    raise ValueError(f"unsupported attribute type {tag!r}")


def item_size(item: Mapping[str, Any]) -> int:
    """The item's size by DynamoDB's rules (names plus values, in bytes)."""
    return sum(len(k.encode("utf-8")) + _av_size(to_av(v)) for k, v in item.items())
