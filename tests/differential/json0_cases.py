"""Random json0 documents and strictly valid operations on them (Hypothesis).

The generator follows the reference's own (ot-json0's
``test/json0-generator.coffee``): an operation of several components is made
against a working copy of the document, each component valid on the copy as the
components before it left it, and the copy is then what the operation gives.
Unlike the reference's, every component is valid in the strict sense of
``prework.sync.json0.apply`` (see its module docstring): ``ld``/``od`` equal
what they remove, ``oi`` names an absent key, string offsets count UTF-16 code
units and never split a surrogate pair, number adds stay finite and within
+-(2**53 - 1), no root operation. Every kind of component is made: ``oi``,
``od``, ``oi``+``od``, ``li``, ``ld``, ``li``+``ld``, ``lm``, ``na``, ``si``,
``sd`` (empty ``si``/``sd`` and ``lm`` to the same index too).

Pairs are biased to conflict: the second operation of a pair is made with the
first one's components as *hints*, so most of its components land on the same
path, a parent or child of it (a delete of the subtree the other edits) or a
sibling, at list indexes, move targets and string offsets next to the hinted
ones. Strings mix ASCII, accents, a combining mark, CJK and non-BMP characters
(emoji, a musical symbol), so UTF-16 offsets and code points differ often.

Everything is drawn through Hypothesis (``st.composite``), so a failing case
shrinks to a minimal one.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")
Json = Any
Op = list[dict[str, Any]]
Path = list[str | int]

MAX_SAFE_INT = 2**53 - 1

KEYS: tuple[str, ...] = ("a", "b", "c", "x", "é", "日本", "😀", "", "0")
# single code points: ASCII, accents, a combining mark, CJK, and non-BMP ones
CHARS: tuple[str, ...] = ("a", "b", " ", "é", "\u0301", "日", "本", "😀", "👍", "\U0001f3fd", "𝄞")
SMALL_INTS: tuple[int, ...] = (0, 1, 2, 3, -1, 7, -5, 42, 1000)
BIG_INTS: tuple[int, ...] = (MAX_SAFE_INT, -MAX_SAFE_INT, 2**53 - 64, 2**40 + 1, -(10**15))
FLOATS: tuple[float, ...] = (
    0.5,
    0.25,
    -1.5,
    0.1,
    0.2,
    0.3,
    -2.75,
    3.0,  # integral: canonically the int 3
    -0.0,  # canonically 0
    1e-7,
    123456.789,
    2.5e15,
    6.02e-23,
)
NA_INTS: tuple[int, ...] = (1, -1, 2, 0, 5, -3, 10)
NA_FLOATS: tuple[float, ...] = (0.5, 0.1, -0.25, 0.2, 1.0, -2.5, 0.7, 1e-9)


# --------------------------------------------------------------------------- drawing
# Hypothesis spends most of a case building and checking strategies: build each
# integer range once, and pick from a sequence by drawing its index.
@functools.cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


def _int(draw: st.DrawFn, lo: int, hi: int) -> int:
    return draw(_ints(lo, hi)) if hi > lo else lo


def _pick(draw: st.DrawFn, seq: Sequence[T]) -> T:
    """One element of ``seq`` (non-empty); shrinks towards the first."""
    return seq[_int(draw, 0, len(seq) - 1)]


# --------------------------------------------------------------------------- helpers
def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_boundaries(text: str) -> list[int]:
    """Every UTF-16 offset of ``text`` that falls between two code points (0 and the end too)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return out


def code_point_index(text: str, offset: int) -> int:
    """The code point index at UTF-16 ``offset`` (a boundary)."""
    return utf16_boundaries(text).index(offset)


def add_numbers(x: int | float, y: int | float) -> int | float:
    """``x + y`` as JavaScript computes it, canonical: an integral result is an int."""
    if isinstance(x, int) and isinstance(y, int):
        return x + y
    result = float(x) + float(y)
    if math.isfinite(result) and result.is_integer():
        return int(result)
    return result


def number_ok(value: int | float) -> bool:
    if isinstance(value, int):
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT
    return math.isfinite(value)


def get(doc: Json, path: Sequence[str | int]) -> Json:
    node = doc
    for key in path:
        node = node[key]
    return node


def walk(doc: Json, path: Path | None = None) -> Iterator[tuple[Path, Json]]:
    """Every node of ``doc`` with its path, the root (``[]``) first."""
    here: Path = [] if path is None else path
    yield here, doc
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from walk(value, [*here, key])
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from walk(value, [*here, index])


def apply_component(doc: Json, c: dict[str, Any]) -> Json:
    """Apply one strictly valid component to ``doc`` in place (the root is a container)."""
    p: Path = c["p"]
    if "si" in c or "sd" in c:
        holder = get(doc, p[:-2])
        key = p[-2]
        text: str = holder[key]
        offset = p[-1]
        assert isinstance(offset, int)
        at = code_point_index(text, offset)
        if "si" in c:
            holder[key] = text[:at] + c["si"] + text[at:]
        else:
            removed = c["sd"]
            assert text[at : at + len(removed)] == removed, (text, c)
            holder[key] = text[:at] + text[at + len(removed) :]
        return doc
    parent = get(doc, p[:-1])
    key = p[-1]
    if "na" in c:
        parent[key] = add_numbers(parent[key], c["na"])
    elif "lm" in c:
        assert isinstance(key, int)
        item = parent.pop(key)
        parent.insert(c["lm"], item)
    elif "li" in c and "ld" in c:
        parent[key] = copy.deepcopy(c["li"])
    elif "li" in c:
        parent.insert(key, copy.deepcopy(c["li"]))
    elif "ld" in c:
        del parent[key]
    elif "oi" in c:
        parent[key] = copy.deepcopy(c["oi"])
    elif "od" in c:
        del parent[key]
    else:  # pragma: no cover - the generator makes no other kind
        raise AssertionError(c)
    return doc


def apply_op(doc: Json, op: Op) -> Json:
    """The generator's own model of a strict apply, on a copy."""
    out = copy.deepcopy(doc)
    for c in op:
        out = apply_component(out, c)
    return out


# --------------------------------------------------------------------------- values
def _draw_scalar(draw: st.DrawFn) -> Json:
    kind = _int(draw, 0, 6)
    if kind == 0:
        return None
    if kind == 1:
        return _int(draw, 0, 1) == 1
    if kind == 2:
        return _pick(draw, SMALL_INTS)
    if kind == 3:
        return _pick(draw, BIG_INTS)
    if kind == 4:
        return _pick(draw, FLOATS)
    return _draw_text(draw)


def _draw_text(draw: st.DrawFn) -> str:
    return "".join(_pick(draw, CHARS) for _ in range(_int(draw, 0, 5)))


def draw_value(draw: st.DrawFn, depth: int) -> Json:
    """A JSON value nested at most ``depth`` containers deep."""
    kind = _int(draw, 0, 3) if depth > 0 else 0
    if kind <= 1:
        return _draw_scalar(draw)
    if kind == 2:
        return [draw_value(draw, depth - 1) for _ in range(_int(draw, 0, 3))]
    out: dict[str, Json] = {}
    for _ in range(_int(draw, 0, 3)):
        out[_pick(draw, KEYS)] = draw_value(draw, depth - 1)
    return out


@st.composite
def documents(draw: st.DrawFn) -> Json:
    """A document: a dict (mostly) or a list at the root, up to four levels deep."""
    if _int(draw, 0, 4) == 4:
        return [draw_value(draw, 3) for _ in range(_int(draw, 0, 4))]
    out: dict[str, Json] = {}
    for _ in range(_int(draw, 0, 4)):
        out[_pick(draw, KEYS)] = draw_value(draw, 3)
    return out


# --------------------------------------------------------------------------- components
def _is_prefix(short: Sequence[object], long: Sequence[object]) -> bool:
    return len(short) <= len(long) and list(long[: len(short)]) == list(short)


def _related(path: Path, hints: Sequence[dict[str, Any]]) -> bool:
    for h in hints:
        hp = h["p"]
        if "si" in h or "sd" in h:
            hp = hp[:-1]  # the string itself
        if _is_prefix(path, hp) or _is_prefix(hp, path) or (path and path[:-1] == hp[:-1]):
            return True
    return False


def _hinted_positions(node_path: Path, hints: Sequence[dict[str, Any]]) -> set[int]:
    """Indexes/offsets into the node at ``node_path`` that the hints touch."""
    out: set[int] = set()
    depth = len(node_path)
    for h in hints:
        hp = h["p"]
        if len(hp) > depth and _is_prefix(node_path, hp) and isinstance(hp[depth], int):
            pos = hp[depth]
            out.add(pos)
            if len(hp) == depth + 1:
                if "lm" in h:
                    out.add(h["lm"])
                for text_key in ("si", "sd"):
                    if text_key in h:
                        out.add(pos + utf16_len(h[text_key]))
    return out


def _hinted_keys(node_path: Path, hints: Sequence[dict[str, Any]]) -> set[str]:
    depth = len(node_path)
    return {
        h["p"][depth]
        for h in hints
        if len(h["p"]) > depth and _is_prefix(node_path, h["p"]) and isinstance(h["p"][depth], str)
    }


def _pick_position(
    draw: st.DrawFn, choices: Sequence[int], hinted: set[int], *, spread: bool = True
) -> int:
    """One of ``choices`` (sorted, non-empty), next to a hinted one most of the time."""
    if hinted:
        near = {p + d for p in hinted for d in ((-1, 0, 1) if spread else (0,))}
        close = [c for c in choices if c in near]
        if close and _int(draw, 0, 3) < 3:
            return _pick(draw, close)
    return _pick(draw, choices)


def _draw_na(draw: st.DrawFn, target: int | float) -> int | float:
    amount: int | float = _pick(draw, NA_INTS) if _int(draw, 0, 2) < 2 else _pick(draw, NA_FLOATS)
    if number_ok(add_numbers(target, amount)):
        return amount
    return -1 if target > 0 else 1  # towards zero: always valid


# every kind of component, in the order a failing case shrinks towards
ACTIONS: tuple[str, ...] = ("oi", "od", "oi+od", "li", "ld", "li+ld", "lm", "na", "si", "sd")
# drawn from: lists and strings, where offsets meet, twice as often, moves and
# adds (rarer where they are possible) three times
_WEIGHTED_ACTIONS: tuple[str, ...] = (
    *ACTIONS,
    *("li", "ld", "lm", "na", "si", "sd"),
    *("lm", "na"),
)


def _actions(doc: Json, path: Path, value: Json) -> list[str]:
    """The kinds of component that can act on the node at ``path``."""
    actions: list[str] = []
    if path:
        parent = get(doc, path[:-1])
        if isinstance(parent, dict):
            actions += ["od", "oi+od"]
        elif isinstance(parent, list):
            actions += ["ld", "li+ld", "lm"]
        else:
            return []  # not a node: a path into a string
        if isinstance(value, str):
            actions += ["si", "sd"]
        elif is_number(value):
            actions.append("na")
    if isinstance(value, dict):
        actions.append("oi")
    elif isinstance(value, list):
        actions.append("li")
    return actions


def _kind_of(c: dict[str, Any]) -> str:
    keys = sorted(k for k in c if k != "p")
    return "+".join(sorted(keys, key=lambda k: k not in ("oi", "li")))  # "oi+od", "li+ld"


def _has(container: Json, key: str | int) -> bool:
    if isinstance(container, dict):
        return isinstance(key, str) and key in container
    if isinstance(container, list):
        return isinstance(key, int) and 0 <= key < len(container)
    return False


def _mirror(
    draw: st.DrawFn, doc: Json, hints: Sequence[dict[str, Any]]
) -> tuple[str, Path, Json] | None:
    """A hint's kind of component on the node it acted on, if that is possible on ``doc``."""
    hint = _pick(draw, hints)
    kind = _kind_of(hint)
    path: Path = list(hint["p"][:-1] if kind in ("si", "sd", "li", "oi") else hint["p"])
    value = doc
    for key in path:  # the hint's node may be gone, or be of another kind now
        if not _has(value, key):
            return None
        value = value[key]
    if kind not in _actions(doc, path, value):
        return None
    return kind, path, value


def draw_component(draw: st.DrawFn, doc: Json, hints: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One component strictly valid on ``doc`` (a container), biased to the hinted paths."""
    # every (kind, node) possible on doc; a kind first (so each kind is as
    # likely as another), then one of its nodes, related to a hint mostly;
    # or, a third of the time, a hint's own kind on the hint's node
    by_action: dict[str, list[tuple[Path, Json]]] = {}
    for node in walk(doc):
        for action in _actions(doc, *node):
            by_action.setdefault(action, []).append(node)
    mirrored = _mirror(draw, doc, hints) if hints and _int(draw, 0, 2) == 0 else None
    if mirrored is not None:
        action, path, value = mirrored
    else:
        action = _pick(draw, [a for a in _WEIGHTED_ACTIONS if a in by_action])
        nodes = by_action[action]
        hot = [n for n in nodes if _related(n[0], hints)] if hints else []
        path, value = _pick(draw, hot if hot and _int(draw, 0, 9) < 8 else nodes)

    if action == "od":
        return {"p": path, "od": copy.deepcopy(value)}
    if action == "oi+od":
        return {"p": path, "od": copy.deepcopy(value), "oi": draw_value(draw, 2)}
    if action == "ld":
        return {"p": path, "ld": copy.deepcopy(value)}
    if action == "li+ld":
        return {"p": path, "ld": copy.deepcopy(value), "li": draw_value(draw, 2)}
    if action == "lm":
        parent_list = get(doc, path[:-1])
        start = path[-1]
        assert isinstance(start, int)
        near = _hinted_positions(path[:-1], hints) | {start}
        to = _pick_position(draw, range(len(parent_list)), near)
        return {"p": path, "lm": to}
    if action == "oi":
        free = [k for k in KEYS if k not in value]
        hinted = [k for k in free if k in _hinted_keys(path, hints)]
        if hinted and _int(draw, 0, 2) < 2:
            key = _pick(draw, hinted)
        elif free:
            key = _pick(draw, free)
        else:
            key = next(f"k{i}" for i in range(len(value) + 1) if f"k{i}" not in value)
        return {"p": [*path, key], "oi": draw_value(draw, 2)}
    if action == "li":
        index = _pick_position(draw, range(len(value) + 1), _hinted_positions(path, hints))
        return {"p": [*path, index], "li": draw_value(draw, 2)}
    if action == "na":
        return {"p": path, "na": _draw_na(draw, value)}
    bounds = utf16_boundaries(value)
    offset = _pick_position(draw, bounds, _hinted_positions(path, hints))
    start = code_point_index(value, offset)
    if action == "si":
        return {"p": [*path, offset], "si": _draw_text(draw)}
    length = _int(draw, 0, min(3, len(value) - start))
    return {"p": [*path, offset], "sd": value[start : start + length]}


# components in an op: index by a draw of 0..9 (0 shrinks to the empty op)
_COMPONENT_COUNTS: tuple[int, ...] = (0, 1, 1, 1, 2, 2, 2, 3, 3, 4)


def draw_op(draw: st.DrawFn, doc: Json, hints: Sequence[dict[str, Any]] = ()) -> tuple[Op, Json]:
    """A strictly valid op on ``doc`` and the document it gives (``doc`` is not modified)."""
    work = copy.deepcopy(doc)
    op: Op = []
    for _ in range(_pick(draw, _COMPONENT_COUNTS)):
        c = draw_component(draw, work, [*hints, *op])
        apply_component(work, c)
        op.append(copy.deepcopy(c))
    return op, work


# --------------------------------------------------------------------------- cases
CONCURRENT = 4  # ops on the same document: every pair of them is a concurrent pair
SEQUENTIAL = 2  # the first ops get an op made after each: a sequential pair


@dataclass(frozen=True)
class Case:
    """A document, concurrent ops on it, and ops made after some of them.

    ``ops[i]`` is an op on ``doc`` (each with the earlier ones' components as
    hints), ``docs[i]`` what the generator's model says it gives. ``afters[i]``
    is an op on ``docs[i]`` (made after ``ops[i]``, hinted by it, its last
    component first), ``after_docs[i]`` what it gives there.
    """

    doc: Json
    ops: tuple[Op, ...]
    docs: tuple[Json, ...]
    afters: tuple[Op, ...]
    after_docs: tuple[Json, ...]

    def concurrent_pairs(self) -> Iterator[tuple[int, int]]:
        for i in range(len(self.ops)):
            for j in range(i + 1, len(self.ops)):
                yield i, j


@st.composite
def cases(draw: st.DrawFn) -> Case:
    doc = draw(documents())
    ops: list[Op] = []
    docs: list[Json] = []
    for _ in range(CONCURRENT):
        op, result = draw_op(draw, doc, [c for earlier in ops for c in earlier])
        ops.append(op)
        docs.append(result)
    afters: list[Op] = []
    after_docs: list[Json] = []
    for i in range(SEQUENTIAL):
        op, result = draw_op(draw, docs[i], list(reversed(ops[i])))
        afters.append(op)
        after_docs.append(result)
    return Case(
        doc=doc,
        ops=tuple(ops),
        docs=tuple(docs),
        afters=tuple(afters),
        after_docs=tuple(after_docs),
    )


# --------------------------------------------------------------------------- coverage
CONFLICTS: tuple[str, ...] = (
    "same path",
    "parent and child paths",
    "a delete of a subtree the other edits",
    "moves in one list",
    "string edits at overlapping offsets",
    "non-BMP text edits",
    "number adds on one number",
)

_DELETES = ("od", "ld")


def _text(c: dict[str, Any]) -> str:
    text: str = c["si"] if "si" in c else c["sd"]
    return text


def _text_range(c: dict[str, Any]) -> tuple[int, int]:
    offset: int = c["p"][-1]
    return offset, offset + utf16_len(_text(c))


def conflicts(a: Op, b: Op) -> set[str]:
    """Which kinds of conflict the concurrent ops ``a`` and ``b`` hold (for coverage)."""
    out: set[str] = set()
    for x in a:
        for y in b:
            px, py = x["p"], y["p"]
            if px == py:
                out.add("same path")
            elif _is_prefix(px, py) or _is_prefix(py, px):
                out.add("parent and child paths")
                outer = x if len(px) < len(py) else y
                if any(k in outer for k in _DELETES):
                    out.add("a delete of a subtree the other edits")
            if "lm" in x and "lm" in y and px[:-1] == py[:-1]:
                out.add("moves in one list")
            texts = [c for c in (x, y) if "si" in c or "sd" in c]
            if len(texts) == 2 and px[:-1] == py[:-1]:
                (x0, x1), (y0, y1) = _text_range(x), _text_range(y)
                if x0 <= y1 and y0 <= x1:
                    out.add("string edits at overlapping offsets")
                if any(ord(ch) > 0xFFFF for c in texts for ch in _text(c)):
                    out.add("non-BMP text edits")
            if "na" in x and "na" in y and px == py:
                out.add("number adds on one number")
    return out
