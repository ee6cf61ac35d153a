"""What a json0 operation may hold: the shape check, canonical numbers and JSON
equality (no document involved)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from prework.errors import ValidationFailed

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_SAFE_INTEGER",
    "Component",
    "InvalidOp",
    "Json",
    "Limits",
    "Op",
    "Side",
    "canonical",
    "check_op",
    "identical",
    "json_equal",
]

Json = Any
Component = dict[str, Any]
Op = list[Component]
Side = Literal["left", "right"]

MAX_SAFE_INTEGER: Final = 2**53 - 1
_FORBIDDEN_KEY: Final = "__proto__"

# the instruction sets a component may carry besides its path
_KINDS: Final = frozenset(
    frozenset(k)
    for k in (
        ("na",),
        ("li",),
        ("ld",),
        ("li", "ld"),
        ("lm",),
        ("oi",),
        ("od",),
        ("oi", "od"),
        ("si",),
        ("sd",),
    )
)


class InvalidOp(ValidationFailed, ValueError):
    """An operation that is malformed or does not fit the document (nothing applied)."""

    code = "invalid_op"
    default_message = "The operation is not valid."


@dataclass(frozen=True, slots=True)
class Limits:
    """What one operation may hold."""

    max_components: int = 256
    max_value_bytes: int = 64 * 1024  # one inserted or deleted value, as compact JSON
    max_depth: int = 32  # nesting of a value, and length of a path
    max_key_length: int = 256  # an object key, in characters


DEFAULT_LIMITS: Final = Limits()


def check_op(op: object, limits: Limits = DEFAULT_LIMITS) -> Op:
    """``op`` checked for shape (not against a document) and made canonical (new
    components; numbers as JavaScript has them); InvalidOp if it is not a json0
    operation this module accepts."""
    if type(op) is not list:
        raise InvalidOp("An operation is a list of components.")
    if len(op) > limits.max_components:
        raise InvalidOp(
            f"An operation has at most {limits.max_components} components ({len(op)} given)."
        )
    return [_check_component(c, i, limits) for i, c in enumerate(op)]


def _check_component(c: object, index: int, limits: Limits) -> Component:
    def invalid(why: str) -> InvalidOp:
        return InvalidOp(f"Component {index}: {why}", details={"component": index})

    if type(c) is not dict:
        raise invalid("a component is an object with a path p and an instruction.")
    p = c.get("p")
    if type(p) is not list or not p:
        raise invalid("p must be a non-empty list of keys and indices.")
    if len(p) > limits.max_depth:
        raise invalid(f"the path is deeper than {limits.max_depth}.")
    for step in p:
        if type(step) is str:
            _check_key(step, limits, invalid)
        elif type(step) is not int or not 0 <= step <= MAX_SAFE_INTEGER:
            raise invalid("a path holds object keys (strings) and indices (integers >= 0).")
    kind = frozenset(k for k in c if k != "p")
    if kind not in _KINDS:
        raise invalid(
            "a component has exactly one of na, li, ld, li+ld, lm, oi, od, oi+od, si, sd "
            f"besides p (got {', '.join(sorted(kind)) or 'none'})."
        )
    out: Component = {"p": list(p)}
    last = p[-1]
    for key in kind:
        value = c[key]
        if key == "na":
            if type(value) not in (int, float):
                raise invalid("na must be a number.")
            out["na"] = _number(value, invalid)
        elif key == "lm":
            if type(value) is not int or not 0 <= value <= MAX_SAFE_INTEGER:
                raise invalid("lm must be a list index (an integer >= 0).")
            out["lm"] = value
        elif key in ("si", "sd"):
            if type(value) is not str:
                raise invalid(f"{key} must be a string.")
            out[key] = _check_value(value, 0, limits, invalid)
        else:
            out[key] = _check_value(value, 0, limits, invalid)
        if key in ("oi", "od"):
            if type(last) is not str:
                raise invalid(f"{key} needs a path ending in an object key.")
        elif key != "na" and type(last) is not int:
            what = "a string offset" if key in ("si", "sd") else "a list index"
            raise invalid(f"{key} needs a path ending in {what}.")
    if ("si" in kind or "sd" in kind) and len(p) < 2:
        raise invalid("a string edit needs the string's path before its offset.")
    for key in kind & {"oi", "od", "li", "ld", "si", "sd"}:
        try:
            size = len(orjson.dumps(out[key]))
        except orjson.JSONEncodeError:  # nested past what JSON encoding takes
            raise invalid(f"{key} is nested too deeply.") from None
        if size > limits.max_value_bytes:
            raise invalid(f"{key} is {size} bytes; at most {limits.max_value_bytes}.")
    return out


def _check_key(key: str, limits: Limits, invalid: Any) -> None:
    if key == _FORBIDDEN_KEY:
        raise invalid(f"the key {_FORBIDDEN_KEY} is not allowed.")
    if len(key) > limits.max_key_length:
        raise invalid(f"a key is at most {limits.max_key_length} characters.")
    if not _encodable(key):
        raise invalid("a key holds a lone surrogate.")


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_value(value: Json, depth: int, limits: Limits, invalid: Any) -> Json:
    """``value`` as a canonical JSON value (a new container), or ``invalid``."""
    t = type(value)
    if t is str:
        if not _encodable(value):
            raise invalid("a string holds a lone surrogate.")
        return value
    if value is None or t is bool:
        return value
    if t is int or t is float:
        return _number(value, invalid)
    if depth >= limits.max_depth:
        raise invalid(f"a value is nested deeper than {limits.max_depth}.")
    if t is list:
        return [_check_value(v, depth + 1, limits, invalid) for v in value]
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise invalid("object keys are strings.")
            _check_key(k, limits, invalid)
            out[k] = _check_value(v, depth + 1, limits, invalid)
        return out
    raise invalid(f"a value must be JSON (got {t.__name__}).")


def _number(value: int | float, invalid: Any) -> int | float:
    if type(value) is int:
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise invalid("an integer is beyond JavaScript's safe range (2**53 - 1).")
        return value
    if not math.isfinite(value):
        raise invalid("a number must be finite.")
    return canonical(value)


def canonical(value: int | float) -> int | float:
    """A number as JavaScript prints it: an integral float is an int (``-0.0`` too)."""
    if type(value) is float and value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


def json_equal(a: Json, b: Json) -> bool:
    """JSON equality: ``1 == 1.0``, but a bool is never a number."""
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta is dict:
        return (
            tb is dict and a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
        )
    if ta is list:
        return tb is list and len(a) == len(b) and all(map(json_equal, a, b))
    if ta in (int, float):
        return tb in (int, float) and a == b
    return ta is tb and a == b


def identical(a: Json, b: Json) -> bool:
    """JavaScript's ``===`` on a cloned value: containers never are."""
    ta, tb = type(a), type(b)
    if ta in (dict, list) or tb in (dict, list):
        return False
    return json_equal(a, b)
