"""Comparing JSON values as JavaScript sees them: numbers are doubles, a bool is no number.

``difference(x, y)`` is ``None`` when the two are the same JSON value, else the
path of the first difference and the two values there. Numbers are compared as
doubles (``1 == 1.0``, ``-0.0 == 0``; ``True`` never equals ``1``). With
``tolerance`` (an absolute bound), two numbers may differ by up to that much:
the rounding of fractional number adds that ran in another order (see
:func:`float_tolerance`; it is zero when every add and number is an int).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson

__all__ = ["difference", "float_tolerance", "numbers_in", "same"]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if _is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _numbers_equal(x: int | float, y: int | float, tolerance: float) -> bool:
    fx, fy = float(x), float(y)
    if fx == fy:
        return True
    return tolerance > 0 and abs(fx - fy) <= tolerance


def _identical_json(x: Any, y: Any) -> bool:
    """A fast sufficient test: the same canonical JSON text (``1`` and ``1.0`` differ)."""
    try:
        return orjson.dumps(x, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            y, option=orjson.OPT_SORT_KEYS
        )
    except TypeError:  # what orjson cannot write (a lone surrogate): the slow walk decides
        return False


def difference(
    x: Any, y: Any, *, tolerance: float = 0.0, path: tuple[object, ...] = ()
) -> tuple[tuple[object, ...], Any, Any] | None:
    """``None`` if ``x`` and ``y`` are the same JSON value, else (path, x there, y there)."""
    if not path and _identical_json(x, y):
        return None
    kx, ky = _kind(x), _kind(y)
    if kx != ky:
        return path, x, y
    if kx == "number":
        return None if _numbers_equal(x, y, tolerance) else (path, x, y)
    if kx == "list":
        if len(x) != len(y):
            return path, x, y
        for i, (a, b) in enumerate(zip(x, y, strict=True)):
            found = difference(a, b, tolerance=tolerance, path=(*path, i))
            if found is not None:
                return found
        return None
    if kx == "object":
        if set(x) != set(y):
            return path, x, y
        for key in x:
            found = difference(x[key], y[key], tolerance=tolerance, path=(*path, key))
            if found is not None:
                return found
        return None
    return None if x == y else (path, x, y)


def same(x: Any, y: Any, *, tolerance: float = 0.0) -> bool:
    return difference(x, y, tolerance=tolerance) is None


def numbers_in(value: Any) -> Iterable[int | float]:
    """Every number in a JSON value (bools excluded)."""
    if _is_number(value):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from numbers_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from numbers_in(item)


def float_tolerance(doc: Any, *ops: list[dict[str, Any]]) -> float:
    """How far two orders of the number adds of ``ops`` on ``doc`` may round apart.

    Zero when every add and every number is an int (the sums are then exact).
    Else each side rounds at most once per add, each time by at most half an
    ulp of the largest magnitude any intermediate sum can reach (the largest
    number plus every add's size), so two orders differ by at most
    ``adds * ulp(that magnitude)`` (one ulp more here, for the rounding of that
    magnitude itself).
    """
    adds = [c["na"] for op in ops for c in op if "na" in c]
    numbers = list(numbers_in(doc))
    for op in ops:
        for c in op:
            for key in ("oi", "li"):
                if key in c:
                    numbers.extend(numbers_in(c[key]))
    if not adds or all(isinstance(v, int) for v in [*adds, *numbers]):
        return 0.0
    reach = max((abs(float(v)) for v in numbers), default=0.0) + sum(abs(float(a)) for a in adds)
    return (len(adds) + 1) * math.ulp(reach)
