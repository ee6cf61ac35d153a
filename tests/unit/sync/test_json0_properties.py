"""Properties of prework.sync.json0 that need no reference: for generated valid ops on
generated documents, invert undoes, compose and normalize apply as the ops they combine."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prework.sync.json0 import (
    InvalidOp,
    apply,
    check_op,
    compose,
    invert,
    normalize,
    transform,
    transform_x,
    utf16_len,
)

Op = list[dict[str, Any]]
EMOJI = "\U0001f600"
KEYS = ["a", "b", "c", "d", "e", "f"]

FAST = settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

texts = st.lists(st.sampled_from(["a", "b", "é", EMOJI]), max_size=4).map("".join)
# numbers whose sums with small ints are exact (so that na then -na gives the start back)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-50, 50), st.sampled_from([0.5, -2.25, 1.5]), texts
)
values = st.recursive(
    scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.sampled_from(KEYS), kids, max_size=3)
    ),
    max_leaves=6,
)
docs = st.dictionaries(st.sampled_from(KEYS), values, max_size=4)


def _exactly(value: object) -> str:
    """``value`` as text that tells 1, 1.0 and True apart (JSON objects are unordered)."""
    return json.dumps(value, sort_keys=True)


def _actions(doc: Any) -> list[tuple[str, list[Any], Any]]:
    """What a component can do on ``doc``: (kind, path, the node there or its container)."""
    found: list[tuple[str, list[Any], Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, dict):
            if len(node) < len(KEYS):
                found.append(("oi", path, node))
            entries: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            found.append(("li", path, node))
            entries = list(enumerate(node))
        else:
            return
        for key, value in entries:
            here = [*path, key]
            if isinstance(node, dict):
                found.extend([("od", here, value), ("odoi", here, value)])
            else:
                found.extend([("ld", here, value), ("ldli", here, value), ("lm", here, node)])
            if isinstance(value, int | float) and not isinstance(value, bool):
                found.append(("na", here, value))
            if isinstance(value, str):
                found.append(("si", here, value))
                if value:
                    found.append(("sd", here, value))
            walk(value, here)

    walk(doc, [])
    return found


def _component(data: st.DataObject, doc: Any) -> dict[str, Any]:
    kind, path, node = data.draw(st.sampled_from(_actions(doc)))
    if kind == "oi":
        key = data.draw(st.sampled_from([k for k in KEYS if k not in node]))
        return {"p": [*path, key], "oi": data.draw(values)}
    if kind == "od":
        return {"p": path, "od": node}
    if kind == "odoi":
        return {"p": path, "od": node, "oi": data.draw(values)}
    if kind == "li":
        at = data.draw(st.integers(0, len(node)))
        return {"p": [*path, at], "li": data.draw(values)}
    if kind == "ld":
        return {"p": path, "ld": node}
    if kind == "ldli":
        return {"p": path, "ld": node, "li": data.draw(values)}
    if kind == "lm":
        return {"p": path, "lm": data.draw(st.integers(0, len(node) - 1))}
    if kind == "na":
        return {"p": path, "na": data.draw(st.integers(-5, 5))}
    # si / sd at code point boundaries, as UTF-16 offsets
    start = data.draw(st.integers(0, len(node)))
    offset = utf16_len(node[:start])
    if kind == "si":
        return {"p": [*path, offset], "si": data.draw(texts)}
    end = data.draw(st.integers(start, len(node)))
    return {"p": [*path, offset], "sd": node[start:end]}


def _op(data: st.DataObject, doc: Any) -> tuple[Op, Any]:
    """A valid op of 1 to 4 components on ``doc``, and the document it makes."""
    op: Op = []
    for _ in range(data.draw(st.integers(1, 4))):
        component = _component(data, doc)
        doc = apply(doc, [component])
        op.append(component)
    return op, doc


@FAST
@given(docs, st.data())
def test_invert_undoes_an_op(doc: dict[str, Any], data: st.DataObject) -> None:
    op, after = _op(data, doc)
    assert _exactly(apply(doc, op)) == _exactly(after)
    assert _exactly(apply(after, invert(op))) == _exactly(doc)


@FAST
@given(docs, st.data())
def test_compose_applies_as_its_two_ops(doc: dict[str, Any], data: st.DataObject) -> None:
    a, middle = _op(data, doc)
    b, after = _op(data, middle)
    assert _exactly(apply(doc, compose(a, b))) == _exactly(after)


@FAST
@given(docs, st.data())
def test_normalize_and_check_op_keep_what_an_op_does(
    doc: dict[str, Any], data: st.DataObject
) -> None:
    op, after = _op(data, doc)
    assert _exactly(apply(doc, normalize(op))) == _exactly(after)
    assert _exactly(check_op(op)) == _exactly(op)  # generated ops are already canonical


@FAST
@given(docs, st.data())
def test_transformed_ops_converge(doc: dict[str, Any], data: st.DataObject) -> None:
    # two valid ops on one document: each transformed by the other applies (strictly)
    # after it, and both orders give the same document (json0's TP1, as ot-fuzzer checks)
    a, after_a = _op(data, doc)
    b, after_b = _op(data, doc)
    a_, b_ = transform_x(a, b)
    assert _exactly(apply(after_b, a_)) == _exactly(apply(after_a, b_))
    assert _exactly(a_) == _exactly(transform(a, b, "left"))
    assert _exactly(b_) == _exactly(transform(b, a, "right"))


steps = st.one_of(st.sampled_from(["a", "b"]), st.integers(0, 2))


@st.composite
def shaped_components(draw: st.DrawFn) -> dict[str, Any]:
    """A component that passes check_op, not made for any document."""
    path: list[Any] = draw(st.lists(steps, max_size=2))
    kind = draw(st.sampled_from(["na", "li", "ld", "lild", "lm", "oi", "od", "oiod", "si", "sd"]))
    if kind in ("li", "ld", "lild", "lm"):
        path.append(draw(st.integers(0, 2)))
    elif kind in ("oi", "od", "oiod"):
        path.append(draw(st.sampled_from(["a", "b"])))
    elif kind in ("si", "sd"):
        path += [draw(steps), draw(st.integers(0, 3))]
    else:
        path.append(draw(steps))
    c: dict[str, Any] = {"p": path}
    if kind == "na":
        c["na"] = draw(st.integers(-2, 3))
    if kind == "lm":
        c["lm"] = draw(st.integers(0, 2))
    if kind in ("si", "sd"):
        c[kind] = draw(st.sampled_from(["a", "ab", EMOJI]))
    for key in ("li", "ld", "oi", "od"):
        if key in kind:
            c[key] = draw(values)
    return c


shaped_ops = st.lists(shaped_components(), min_size=1, max_size=2)


@FAST
@given(shaped_ops, shaped_ops)
def test_transform_of_any_two_valid_ops_gives_an_op_or_invalid_op(a: Op, b: Op) -> None:
    # ops each valid but perhaps not on one document (one takes a container for an
    # object, the other for a list): a result, or InvalidOp, never another exception
    for run in (
        lambda: transform(a, b, "left"),
        lambda: transform(a, b, "right"),
        lambda: transform_x(a, b),
        lambda: compose(a, b),
    ):
        with contextlib.suppress(InvalidOp):
            run()
