"""Properties of prework.sync.json0 that need no reference: for generated valid ops on
generated documents, invert undoes, compose and normalize apply as the ops they combine."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prework.sync.json0 import apply, check_op, compose, invert, normalize, utf16_len

Op = list[dict[str, Any]]
EMOJI = "\U0001f600"
KEYS = ["a", "b", "c", "d", "e", "f"]

FAST = settings(
    max_examples=60,
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
