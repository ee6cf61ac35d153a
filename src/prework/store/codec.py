"""Item values <-> DynamoDB's typed attribute values, DynamoDB's item size, and
the stored form of the embedded backends.

Every value goes through the typed form's rules (:func:`to_av`), so every
backend accepts, rejects and round-trips exactly the same values as DynamoDB.

The SQLite and memory backends keep an item as compact JSON bytes
(:func:`pack_item`, :func:`unpack_item`): attributes whose value is plain JSON
(text, booleans, null, numbers that read back as 64-bit integers or as the
same float, lists and string-keyed maps of those) are stored as they read
back; any other attribute (sets, bytes, bigger or finer numbers, or
a list or map holding one) is stored as the content of its typed form (the
``["a", "b"]`` of ``{"SS": ["a", "b"]}``). An item with only plain attributes
is the JSON object ``{...}``; one with typed attributes is
``[{...}, {"name": "SS", ...}]``, giving their types. Reading is then one
C-level JSON parse (for a whole page at once) plus a decode of the typed
attributes only.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterator, Mapping, Sequence
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from typing import Any, Final, NamedTuple

import orjson

from prework.errors import ValidationFailed

AttributeValue = dict[str, Any]

# DynamoDB numbers: up to 38 significant digits, magnitude within 1e-130..1e126
_MAX_DIGITS = 38
_MIN_MAGNITUDE = Decimal("1E-130")
_MAX_MAGNITUDE = Decimal("1E+126")
# normalize() under the default context rounds to 28 digits; count exactly
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


# every int shorter than this many bits is below 1e126 (2**418 < 1e126 < 2**419);
# every int longer than _LONG_INT_BITS (1,205 digits) is far above it
_SHORT_INT_BITS: Final = 419
_LONG_INT_BITS: Final = 4000


def _number_text(value: int | float) -> str:
    if type(value) is int and value.bit_length() < _SHORT_INT_BITS:
        # the usual number, checked on its digits: what follows, without Decimal
        text = str(value)
        if len(text.lstrip("-").rstrip("0")) > _MAX_DIGITS:
            raise ValidationFailed(
                "numbers have at most 38 significant digits", code="invalid_value"
            )
        return text
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationFailed("numbers must be finite", code="invalid_value")
        text = repr(value)
    elif value.bit_length() > _LONG_INT_BITS:  # (str() refuses ints past 4,300 digits)
        raise ValidationFailed("numbers lie within 1e-130..1e126", code="invalid_value")
    else:
        text = str(value)
    try:
        number = Decimal(text)
        digits = number.normalize(_EXACT).as_tuple().digits
    except InvalidOperation as exc:  # pragma: no cover - repr/str always parse
        raise ValidationFailed("not a number", code="invalid_value") from exc
    if len(digits) > _MAX_DIGITS:
        raise ValidationFailed("numbers have at most 38 significant digits", code="invalid_value")
    if number and not _MIN_MAGNITUDE <= number.copy_abs() < _MAX_MAGNITUDE:  # exact
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
        if not value.is_finite():
            raise ValidationFailed("numbers must be finite", code="invalid_value")
        if value == value.to_integral_value():  # not value % 1: it overflows past 28 digits
            return {"N": _number_text(int(value))}
        return {"N": _number_text(float(value))}
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


# --------------------------------------------------------------------------- stored form
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_EXACT_INT_FLOAT: Final = 2.0**53  # integral floats up to this convert exactly with int()
_TINY: Final = 1e-120  # smaller floats take the typed path, which checks the range exactly
_DUMPS_OPTIONS: Final = orjson.OPT_NON_STR_KEYS  # str subclasses as keys (names are str)


class _Typed:
    """Marks a value that has no plain JSON form."""


_TYPED: Final = _Typed()


def _plain(value: Any) -> Any:
    """``value`` as the plain JSON value it reads back as, or :data:`_TYPED`.

    A plain value is returned as is when it needs no change (no copy);
    integral floats become ints, tuples lists, as they read back. Anything
    not plain (or that needs the exact checks of :func:`to_av`) is _TYPED.
    """
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        return value if _INT64_MIN <= value <= _INT64_MAX else _TYPED
    if kind is float:
        if value.is_integer():
            return int(value) if -_EXACT_INT_FLOAT <= value <= _EXACT_INT_FLOAT else _TYPED
        # not integral: at most 17 digits and below 2**52, so only the lower
        # magnitude bound and non-finite values need the typed path's checks
        return value if math.isfinite(value) and not -_TINY < value < _TINY else _TYPED
    # in the loops below, text, booleans and None (and, in maps, whole numbers within
    # 64 bits: the leaves of most documents) are taken as they are without a call: a
    # 40 KB answers map has ~1,400 leaves, and a call each was a fifth of the walk
    if kind is list or kind is tuple:
        items: list[Any] | None = None
        for i, element in enumerate(value):
            leaf = type(element)
            if leaf is str or leaf is bool or element is None:
                plain = element
            else:
                plain = _plain(element)
                if plain is _TYPED:
                    return _TYPED
            if plain is not element and items is None:
                items = list(value[:i])
            if items is not None:
                items.append(plain)
        if items is not None:
            return items
        return value if kind is list else list(value)
    if kind is dict:
        entries: dict[str, Any] | None = None
        for k, element in value.items():
            if type(k) is not str:
                return _TYPED
            leaf = type(element)
            if leaf is str or leaf is bool or element is None:
                if entries is not None:
                    entries[k] = element
                continue
            if leaf is int and _INT64_MIN <= element <= _INT64_MAX:
                if entries is not None:
                    entries[k] = element
                continue
            plain = _plain(element)
            if plain is _TYPED:
                return _TYPED
            if plain is not element and entries is None:
                entries = {}
                for done, before in value.items():
                    if done == k:
                        break
                    entries[done] = before
            if entries is not None:
                entries[k] = plain
        return value if entries is None else entries
    return _TYPED


def _dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=_DUMPS_OPTIONS)
    except orjson.JSONEncodeError as exc:
        # every value was checked before: what is left is text that is not
        # UTF-8 (a lone surrogate) or nesting beyond orjson's depth (DynamoDB
        # allows 32 levels)
        raise ValidationFailed(f"the item cannot be stored: {exc}", code="invalid_value") from exc


def _typed_content(value: Any) -> tuple[Any, str]:
    """A value with no plain form as the content of its typed form, and its tag
    (ValidationFailed if DynamoDB would not take it)."""
    kind = type(value)
    if (kind is set or kind is frozenset) and value and all(type(v) is str for v in value):
        return sorted(value), "SS"  # to_av's result, sooner
    ((tag, content),) = to_av(value, binary_as_text=True).items()
    return content, tag


def pack_item(item: Mapping[str, Any]) -> bytes:
    """Validate the values of ``item`` and return its stored form.

    Attribute names are not checked here. Raises ValidationFailed on a value
    DynamoDB would not take. The size is not checked, but DynamoDB's size of
    the item is at most twice the length of the stored form (see
    :func:`size_bound_holds`).
    """
    out: dict[str, Any] = {}
    typed: dict[str, str] | None = None
    for name, value in item.items():
        plain = _plain(value)
        if plain is not _TYPED:
            out[name] = plain
            continue
        if typed is None:
            typed = {}
        out[name], typed[name] = _typed_content(value)
    return _dumps(out if typed is None else [out, typed])


class StoredValue(NamedTuple):
    """One attribute's value in the stored form (see :func:`stored_value`)."""

    value: Any  # what the stored form holds: the plain value, or its typed content
    tag: str | None  # the type tag of a typed value; None: plain
    json: orjson.Fragment  # ``value`` rendered, when it was given


def stored_value(value: Any) -> StoredValue:
    """An attribute's new value in the stored form, checked as :func:`pack_item`
    checks it and rendered at once (a caller changing its maps afterwards changes
    nothing written)."""
    plain = _plain(value)
    if plain is not _TYPED:
        return StoredValue(plain, None, orjson.Fragment(_dumps(plain)))
    content, tag = _typed_content(value)
    return StoredValue(content, tag, orjson.Fragment(_dumps(content)))


def dump_stored(values: Mapping[str, Any], typed: Mapping[str, str]) -> bytes:
    """The stored form of an item's stored values (``orjson.Fragment`` ones
    included as they are) and the tags of its typed ones."""
    return _dumps(values if not typed else [values, typed])


class StoredItem(Mapping[str, AttributeValue]):
    """A stored item as its typed form, each attribute converted when read: a
    condition reads one or two attributes of an item, an update none of those it
    leaves as they are. ``stored`` and ``tags`` are the stored form's two parts: the
    stored values, and the type tags of the typed ones (held, not copied)."""

    __slots__ = ("stored", "tags")

    def __init__(self, stored: dict[str, Any], tags: dict[str, str]) -> None:
        self.stored = stored
        self.tags = tags

    @classmethod
    def parse(cls, data: bytes) -> StoredItem:
        obj = orjson.loads(data)
        return cls(obj, {}) if type(obj) is dict else cls(obj[0], obj[1])

    def __getitem__(self, name: str) -> AttributeValue:
        value = self.stored[name]
        tag = self.tags.get(name)
        return _plain_av(value) if tag is None else {tag: value}

    def __contains__(self, name: object) -> bool:
        return name in self.stored

    def __iter__(self) -> Iterator[str]:
        return iter(self.stored)

    def __len__(self) -> int:
        return len(self.stored)


def _plain_av(value: Any) -> AttributeValue:
    """A plain stored value as an attribute value (bytes never occur)."""
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is bool:
        return {"BOOL": value}
    if value is None:
        return {"NULL": True}
    if kind is int:
        return {"N": str(value)}
    if kind is float:
        return {"N": repr(value)}
    if kind is list:
        return {"L": [_plain_av(v) for v in value]}
    return {"M": {k: _plain_av(v) for k, v in value.items()}}


def _decode_typed(item: dict[str, Any], typed: Mapping[str, str]) -> dict[str, Any]:
    for name, tag in typed.items():
        raw = item[name]
        item[name] = set(raw) if tag == "SS" else from_av({tag: raw})
    return item


def unpack_item(data: bytes) -> dict[str, Any]:
    """A stored item as the item it reads back as."""
    obj = orjson.loads(data)
    if type(obj) is dict:
        return obj
    return _decode_typed(*obj)


def unpack_many(rows: Sequence[bytes]) -> list[dict[str, Any]]:
    """Stored items as items (one JSON parse for all)."""
    if not rows:
        return []
    out: list[Any] = orjson.loads(b"[" + b",".join(rows) + b"]")
    for i, obj in enumerate(out):
        if type(obj) is list:  # [item, typed]: _decode_typed, inlined (the hot loop)
            item, typed = obj
            for name, tag in typed.items():
                item[name] = set(item[name]) if tag == "SS" else from_av({tag: item[name]})
            out[i] = item
    return out


def _av_plain(av: Mapping[str, Any]) -> Any:
    """The plain stored value of an attribute value (base64 bytes), or
    :data:`_TYPED` when it reads back as something else."""
    ((tag, raw),) = av.items()
    if tag == "S":
        return raw if type(raw) is str else _TYPED
    if tag == "N":
        number = Decimal(raw)
        if number == number.to_integral_value():
            whole = int(number)
            return whole if _INT64_MIN <= whole <= _INT64_MAX else _TYPED
        value = float(number)
        return value if Decimal(repr(value)) == number else _TYPED
    if tag == "BOOL":
        return bool(raw)
    if tag == "NULL":
        return None
    if tag == "L":
        values = [_av_plain(v) for v in raw]
        return _TYPED if any(v is _TYPED for v in values) else values
    if tag == "M":
        entries = {k: _av_plain(v) for k, v in raw.items()}
        return _TYPED if any(v is _TYPED for v in entries.values()) else entries
    return _TYPED  # B, SS


def put_av(values: dict[str, Any], typed: dict[str, str], name: str, av: AttributeValue) -> None:
    """Set attribute ``name`` of a stored form (its two parts) to a typed value."""
    plain = _av_plain(av)
    if plain is _TYPED:
        ((typed[name], values[name]),) = av.items()
    else:
        values[name] = plain
        typed.pop(name, None)


def size_bound_holds(data: bytes, limit: int) -> bool:
    """Whether an item stored as ``data`` is surely no bigger than ``limit``
    bytes by DynamoDB's rules (False: compute the exact size).

    DynamoDB's size is at most twice the length of the stored JSON, by
    induction on values: a string costs its UTF-8 bytes (JSON: those, 2
    quotes and any escapes); a number of k significant digits costs
    (k + 1) // 2 + 1 <= 2k (JSON: at least k characters); a boolean or null
    costs 1 (JSON: 4 or 5); a list of n costs 3 + n + its elements (JSON:
    n + 1 brackets and commas + its elements, and 3 + n <= 2(n + 1)); a map
    of n costs 3 + n + its keys and values (JSON: 4n + 1 quotes, colons,
    braces and commas + its keys and values); an attribute costs its name
    and value, as a map entry. A typed value's JSON holds at least what the
    value costs: the number text in quotes, the base64 of the bytes (4/3 as
    long), the set's strings in quotes, the typed elements of a list or map.
    """
    return 2 * len(data) <= limit
