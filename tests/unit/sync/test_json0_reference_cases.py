"""ot-json0 1.1.0's own test cases (test/json0.coffee, and the parts of test/text0.coffee
that reach json0 through its si/sd string components), ported case by case with the
reference's expected results (each checked against the reference's lib/json0.js).

A reference case that our strict rules refuse on purpose is kept, as a case that our
module raises ``InvalidOp`` (check_op, apply, and transform/compose, which check their
arguments too); the comment on each says why we are strict there: subtype ops (t/o),
root-path ops (a string edit of the document itself included), and ops no document takes
(oi/od at an int index, li/ld/lm or si at a str key). Where such a case has a meaning we
do accept, it is also kept "adapted": moved under a key, with the result the reference
gives for the adapted ops (its own result under the same key).

Not ported (nothing of our API to test them on): ``create()``; text0's transformCursor
and its normalize of components without ``p`` or of a bare component (json0 components
always carry a path, and our normalize takes a list); the randomizers (ot-fuzzer), whose
place the hypothesis properties in test_json0_properties.py take; the two cases that the
reference itself comments out (null moves composing to no-ops, li {} vs lm 0 -> 0).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from prework.sync.json0 import (
    InvalidOp,
    Side,
    apply,
    check_op,
    compose,
    normalize,
    transform,
    transform_x,
)

Op = list[dict[str, Any]]


def _refused(op: object) -> None:
    with pytest.raises(InvalidOp) as info:
        check_op(op)
    assert info.value.code == "invalid_op"
    assert str(info.value)


def _exactly(value: object) -> str:
    """``value`` as text that tells 1, 1.0 and True apart (== does not)."""
    return json.dumps(value, sort_keys=True)


def _assert_apply_refused(doc: Any, op: object) -> None:
    before = copy.deepcopy(doc)
    with pytest.raises(InvalidOp) as info:
        apply(doc, op)
    assert info.value.code == "invalid_op"
    assert _exactly(doc) == _exactly(before)


# --------------------------------------------------------------------------- apply


APPLY = [
    # number
    pytest.param([1], [{"p": [0], "na": 2}], [3], id="number-adds-in-a-list"),
    # string #apply() works (its first two, on a root string, are in APPLY_REFUSED; here
    # adapted under the key "x", as its third one is)
    pytest.param({"x": "a"}, [{"p": ["x", 1], "si": "bc"}], {"x": "abc"}, id="string-si-under-key"),
    pytest.param({"x": "abc"}, [{"p": ["x", 0], "sd": "a"}], {"x": "bc"}, id="adapted-string-sd"),
    # list apply inserts
    pytest.param(["b", "c"], [{"p": [0], "li": "a"}], ["a", "b", "c"], id="list-inserts-0"),
    pytest.param(["a", "c"], [{"p": [1], "li": "b"}], ["a", "b", "c"], id="list-inserts-1"),
    pytest.param(["a", "b"], [{"p": [2], "li": "c"}], ["a", "b", "c"], id="list-inserts-2"),
    # list apply deletes
    pytest.param(["a", "b", "c"], [{"p": [0], "ld": "a"}], ["b", "c"], id="list-deletes-0"),
    pytest.param(["a", "b", "c"], [{"p": [1], "ld": "b"}], ["a", "c"], id="list-deletes-1"),
    pytest.param(["a", "b", "c"], [{"p": [2], "ld": "c"}], ["a", "b"], id="list-deletes-2"),
    # list apply replaces
    pytest.param(
        ["a", "x", "b"], [{"p": [1], "ld": "x", "li": "y"}], ["a", "y", "b"], id="list-replaces"
    ),
    # list apply moves
    pytest.param(["b", "a", "c"], [{"p": [1], "lm": 0}], ["a", "b", "c"], id="list-moves-1-0"),
    pytest.param(["b", "a", "c"], [{"p": [0], "lm": 1}], ["a", "b", "c"], id="list-moves-0-1"),
    # object passes sanity checks
    pytest.param({"x": "a"}, [{"p": ["y"], "oi": "b"}], {"x": "a", "y": "b"}, id="object-oi"),
    pytest.param({"x": "a"}, [{"p": ["x"], "od": "a"}], {}, id="object-od"),
    pytest.param({"x": "a"}, [{"p": ["x"], "od": "a", "oi": "b"}], {"x": "b"}, id="object-od-oi"),
    # adapted: number 'Adds a number' (1 na 2 -> 3 at the root) under a key
    pytest.param({"r": 1}, [{"p": ["r"], "na": 2}], {"r": 3}, id="adapted-number-adds"),
]


@pytest.mark.parametrize(("doc", "op", "expected"), APPLY)
def test_apply(doc: Any, op: Op, expected: Any) -> None:
    before = copy.deepcopy(doc)
    assert _exactly(apply(doc, op)) == _exactly(expected)
    assert _exactly(doc) == _exactly(before)


APPLY_REFUSED = [
    # string #apply() works: 'abc' == apply 'a', [{p:[1], si:'bc'}] and 'bc' == apply 'abc',
    # [{p:[0], sd:'a'}]. A string edit of the document itself is a root-path op (its
    # subtype form is {p: [], t: 'text0'}): refused like every root op (the document
    # itself is never replaced or edited, only what it holds). Adapted under a key in APPLY.
    pytest.param("a", [{"p": [1], "si": "bc"}], id="string-si-on-a-root-string"),
    pytest.param("abc", [{"p": [0], "sd": "a"}], id="string-sd-on-a-root-string"),
    # number 'Adds a number': apply 1, [{p:[], na:2}] -> 3. A root-path op: we refuse
    # every op on the root (the document itself is never replaced or added to); the
    # same add under a key is in APPLY ("adapted-number-adds").
    pytest.param(1, [{"p": [], "na": 2}], id="number-adds-at-the-root"),
    # number 'throws when adding a string to a number' / '... a number to a string'
    # (the reference throws too; ours is InvalidOp, also for the root path).
    pytest.param(1, [{"p": [], "na": "a"}], id="number-na-a-string"),
    pytest.param("a", [{"p": [], "na": 1}], id="number-na-on-a-string"),
    pytest.param({"n": 1}, [{"p": ["n"], "na": "a"}], id="adapted-number-na-a-string"),
    pytest.param({"s": "a"}, [{"p": ["s"], "na": 1}], id="adapted-number-na-on-a-string"),
    # string 'throws when the target is not a string' / '... inserted content is not a string'
    pytest.param([1], [{"p": [0], "si": "a"}], id="string-si-into-a-list"),
    pytest.param("a", [{"p": [0], "si": 1}], id="string-si-not-a-string"),
    # string subtype #apply() works: subtype ops ("t"/"o") are refused (our clients send
    # text edits as si/sd only; a subtype would run code the server does not know to be
    # strict). The si/sd forms of these three are in APPLY.
    pytest.param(
        "a", [{"p": [], "t": "text0", "o": [{"p": 1, "i": "bc"}]}], id="subtype-text0-insert"
    ),
    pytest.param(
        "abc", [{"p": [], "t": "text0", "o": [{"p": 0, "d": "a"}]}], id="subtype-text0-delete"
    ),
    pytest.param(
        {"x": "a"},
        [{"p": ["x"], "t": "text0", "o": [{"p": 1, "i": "bc"}]}],
        id="subtype-text0-under-key",
    ),
    # list 'throws when keying a list ... with a string' (the reference throws too)
    pytest.param(["a", "b", "c"], [{"p": ["0"], "li": "x", "ld": "a"}], id="list-replace-str-key"),
    pytest.param(["a", "b", "c"], [{"p": ["0"], "li": "x"}], id="list-insert-str-key"),
    pytest.param(["a", "b", "c"], [{"p": ["0"], "ld": "a"}], id="list-delete-str-key"),
    pytest.param(["a", "b", "c"], [{"p": ["0"], "lm": 0}], id="list-move-str-key"),
    pytest.param(["a", "b", "c"], [{"p": [1], "lm": "0"}], id="list-move-str-target"),
    pytest.param({"arr": [{"x": "a"}]}, [{"p": ["arr", "0", "x"], "od": "a"}], id="list-str-index"),
    # object 'throws when the insertion / deletion key is a number', '... part-way'
    pytest.param({"1": "a"}, [{"p": [2], "oi": "a"}], id="object-oi-int-key"),
    pytest.param({"1": "a"}, [{"p": [1], "od": "a"}], id="object-od-int-key"),
    pytest.param({"1": {"x": "a"}}, [{"p": [1, "x"], "od": "a"}], id="object-int-key-part-way"),
]


@pytest.mark.parametrize(("doc", "op"), APPLY_REFUSED)
def test_apply_refused(doc: Any, op: Op) -> None:
    _assert_apply_refused(doc, op)


# ----------------------------------------------------------------------- transform


TRANSFORM = [
    # sanity #transform() returns sane values: t(op1, op2) is op1 for both sides
    pytest.param([], [], "left", [], id="sanity-empty-left"),
    pytest.param([], [], "right", [], id="sanity-empty-right"),
    pytest.param([{"p": ["foo"], "oi": 1}], [], "left", [{"p": ["foo"], "oi": 1}], id="sanity-1"),
    pytest.param([{"p": ["foo"], "oi": 1}], [], "right", [{"p": ["foo"], "oi": 1}], id="sanity-2"),
    pytest.param(
        [{"p": ["foo"], "oi": 1}],
        [{"p": ["bar"], "oi": 2}],
        "left",
        [{"p": ["foo"], "oi": 1}],
        id="sanity-3",
    ),
    pytest.param(
        [{"p": ["foo"], "oi": 1}],
        [{"p": ["bar"], "oi": 2}],
        "right",
        [{"p": ["foo"], "oi": 1}],
        id="sanity-4",
    ),
    # string #transform() (its "splits deletes", on a root string, is in TRANSFORM_REFUSED;
    # adapted below)
    pytest.param(
        [{"p": ["s", 0], "sd": "ab"}],
        [{"p": ["s", 1], "si": "x"}],
        "left",
        [{"p": ["s", 0], "sd": "a"}, {"p": ["s", 1], "sd": "b"}],
        id="adapted-string-splits-deletes",
    ),
    pytest.param(
        [{"p": ["k", 5], "sd": "a"}],
        [{"p": ["k", 5], "sd": "a"}],
        "left",
        [],
        id="string-cancels-other-deletes",
    ),
    pytest.param(
        [{"p": ["k", 5], "si": ""}],
        [{"p": ["k", 3], "si": "a"}],
        "left",
        [],
        id="string-blank-inserts",
    ),
    # list #transform() bumps paths when list elements are inserted or removed (its 6th to
    # 8th cases hold ops no document takes, see TRANSFORM_REFUSED; the 7th and 8th are
    # adapted at the end of this group)
    pytest.param(
        [{"p": [1, 200], "si": "hi"}],
        [{"p": [0], "li": "x"}],
        "left",
        [{"p": [2, 200], "si": "hi"}],
        id="list-bumps-1",
    ),
    pytest.param(
        [{"p": [0, 201], "si": "hi"}],
        [{"p": [0], "li": "x"}],
        "right",
        [{"p": [1, 201], "si": "hi"}],
        id="list-bumps-2",
    ),
    pytest.param(
        [{"p": [0, 202], "si": "hi"}],
        [{"p": [1], "li": "x"}],
        "left",
        [{"p": [0, 202], "si": "hi"}],
        id="list-bumps-3",
    ),
    pytest.param(
        [{"p": [1, 203], "si": "hi"}],
        [{"p": [0], "ld": "x"}],
        "left",
        [{"p": [0, 203], "si": "hi"}],
        id="list-bumps-4",
    ),
    pytest.param(
        [{"p": [0, 204], "si": "hi"}],
        [{"p": [1], "ld": "x"}],
        "left",
        [{"p": [0, 204], "si": "hi"}],
        id="list-bumps-5",
    ),
    pytest.param(
        [{"p": [0], "ld": 2}],
        [{"p": [0], "li": 1}],
        "left",
        [{"p": [1], "ld": 2}],
        id="list-bumps-9",
    ),
    pytest.param(
        [{"p": ["x", 3, "x", 0], "si": "hi"}],
        [{"p": ["x", 5], "li": 0}],
        "left",
        [{"p": ["x", 3, "x", 0], "si": "hi"}],
        id="adapted-list-bumps-7",
    ),
    pytest.param(
        [{"p": ["x", 3, "x", 0], "si": "hi"}],
        [{"p": ["x", 0], "li": 0}],
        "left",
        [{"p": ["x", 4, "x", 0], "si": "hi"}],
        id="adapted-list-bumps-8",
    ),
    pytest.param(
        [{"p": [0], "ld": 2}],
        [{"p": [0], "li": 1}],
        "right",
        [{"p": [1], "ld": 2}],
        id="list-bumps-10",
    ),
    # list converts ops on deleted elements to noops
    pytest.param(
        [{"p": [1, 0], "si": "hi"}], [{"p": [1], "ld": "x"}], "left", [], id="list-deleted-1"
    ),
    pytest.param(
        [{"p": [0], "li": "x"}],
        [{"p": [0], "ld": "y"}],
        "left",
        [{"p": [0], "li": "x"}],
        id="list-deleted-2",
    ),
    pytest.param([{"p": [0], "na": -3}], [{"p": [0], "ld": 48}], "left", [], id="list-deleted-3"),
    # list converts ops on replaced elements to noops
    pytest.param(
        [{"p": [1, 0], "si": "hi"}],
        [{"p": [1], "ld": "x", "li": "y"}],
        "left",
        [],
        id="list-replaced-1",
    ),
    pytest.param(
        [{"p": [0], "li": "hi"}],
        [{"p": [0], "ld": "x", "li": "y"}],
        "left",
        [{"p": [0], "li": "hi"}],
        id="list-replaced-2",
    ),
    # list changes deleted data to reflect edits
    pytest.param(
        [{"p": [1], "ld": "a"}],
        [{"p": [1, 1], "si": "bc"}],
        "left",
        [{"p": [1], "ld": "abc"}],
        id="list-deleted-data-follows-edits",
    ),
    # list puts the left op first if two inserts are simultaneous
    pytest.param(
        [{"p": [1], "li": "a"}],
        [{"p": [1], "li": "b"}],
        "left",
        [{"p": [1], "li": "a"}],
        id="list-simultaneous-inserts-left",
    ),
    pytest.param(
        [{"p": [1], "li": "b"}],
        [{"p": [1], "li": "a"}],
        "right",
        [{"p": [2], "li": "b"}],
        id="list-simultaneous-inserts-right",
    ),
    # list converts an attempt to re-delete a list element into a no-op
    pytest.param(
        [{"p": [1], "ld": "x"}], [{"p": [1], "ld": "x"}], "left", [], id="list-redelete-l"
    ),
    pytest.param(
        [{"p": [1], "ld": "x"}], [{"p": [1], "ld": "x"}], "right", [], id="list-redelete-r"
    ),
    # list #compose() composes insert then delete into a no-op (its second assertion)
    pytest.param(
        [{"p": [0], "ld": None, "li": "x"}],
        [{"p": [0], "li": "The"}],
        "right",
        [{"p": [1], "ld": None, "li": "x"}],
        id="list-replace-vs-insert-right",
    ),
    # list moves ops on a moved element with the element
    pytest.param(
        [{"p": [4], "ld": "x"}],
        [{"p": [4], "lm": 10}],
        "left",
        [{"p": [10], "ld": "x"}],
        id="list-moved-1",
    ),
    pytest.param(
        [{"p": [4, 1], "si": "a"}],
        [{"p": [4], "lm": 10}],
        "left",
        [{"p": [10, 1], "si": "a"}],
        id="list-moved-2",
    ),
    pytest.param(
        [{"p": [4, 1], "li": "a"}],
        [{"p": [4], "lm": 10}],
        "left",
        [{"p": [10, 1], "li": "a"}],
        id="list-moved-3",
    ),
    pytest.param(
        [{"p": [4, 1], "ld": "b", "li": "a"}],
        [{"p": [4], "lm": 10}],
        "left",
        [{"p": [10, 1], "ld": "b", "li": "a"}],
        id="list-moved-4",
    ),
    pytest.param(
        [{"p": [0], "li": None}],
        [{"p": [0], "lm": 1}],
        "left",
        [{"p": [0], "li": None}],
        id="list-moved-5",
    ),
    pytest.param(
        [{"p": [5], "li": "x"}],
        [{"p": [5], "lm": 1}],
        "left",
        [{"p": [6], "li": "x"}],
        id="list-moved-6",
    ),
    pytest.param(
        [{"p": [5], "ld": 6}],
        [{"p": [5], "lm": 1}],
        "left",
        [{"p": [1], "ld": 6}],
        id="list-moved-7",
    ),
    pytest.param(
        [{"p": [0], "li": []}],
        [{"p": [1], "lm": 0}],
        "left",
        [{"p": [0], "li": []}],
        id="list-moved-8",
    ),
    pytest.param(
        [{"p": [2], "li": "x"}],
        [{"p": [0], "lm": 1}],
        "left",
        [{"p": [2], "li": "x"}],
        id="list-moved-9",
    ),
    # list moves target index on ld/li
    pytest.param(
        [{"p": [0], "lm": 2}],
        [{"p": [1], "ld": "x"}],
        "left",
        [{"p": [0], "lm": 1}],
        id="list-lm-target-1",
    ),
    pytest.param(
        [{"p": [2], "lm": 4}],
        [{"p": [1], "ld": "x"}],
        "left",
        [{"p": [1], "lm": 3}],
        id="list-lm-target-2",
    ),
    pytest.param(
        [{"p": [0], "lm": 2}],
        [{"p": [1], "li": "x"}],
        "left",
        [{"p": [0], "lm": 3}],
        id="list-lm-target-3",
    ),
    pytest.param(
        [{"p": [2], "lm": 4}],
        [{"p": [1], "li": "x"}],
        "left",
        [{"p": [3], "lm": 5}],
        id="list-lm-target-4",
    ),
    pytest.param(
        [{"p": [0], "lm": 0}],
        [{"p": [0], "li": 28}],
        "left",
        [{"p": [1], "lm": 1}],
        id="list-lm-target-5",
    ),
    # list tiebreaks lm vs. ld/li
    pytest.param([{"p": [0], "lm": 2}], [{"p": [0], "ld": "x"}], "left", [], id="list-tiebreak-1"),
    pytest.param([{"p": [0], "lm": 2}], [{"p": [0], "ld": "x"}], "right", [], id="list-tiebreak-2"),
    pytest.param(
        [{"p": [0], "lm": 2}],
        [{"p": [0], "li": "x"}],
        "left",
        [{"p": [1], "lm": 3}],
        id="list-tiebreak-3",
    ),
    pytest.param(
        [{"p": [0], "lm": 2}],
        [{"p": [0], "li": "x"}],
        "right",
        [{"p": [1], "lm": 3}],
        id="list-tiebreak-4",
    ),
    # list replacement vs. deletion / insertion / replacement
    pytest.param(
        [{"p": [0], "ld": "x", "li": "y"}],
        [{"p": [0], "ld": "x"}],
        "right",
        [{"p": [0], "li": "y"}],
        id="list-replacement-vs-deletion",
    ),
    pytest.param(
        [{"p": [0], "ld": {}, "li": "brillig"}],
        [{"p": [0], "li": 36}],
        "left",
        [{"p": [1], "ld": {}, "li": "brillig"}],
        id="list-replacement-vs-insertion",
    ),
    pytest.param(
        [{"p": [0], "ld": None, "li": []}],
        [{"p": [0], "ld": None, "li": 0}],
        "right",
        [],
        id="list-replacement-vs-replacement-right",
    ),
    pytest.param(
        [{"p": [0], "ld": None, "li": 0}],
        [{"p": [0], "ld": None, "li": []}],
        "left",
        [{"p": [0], "ld": [], "li": 0}],
        id="list-replacement-vs-replacement-left",
    ),
    # object Ops on deleted / replaced elements become noops; Deleted data is changed to
    # reflect edits; If two inserts are simultaneous, the lefts insert will win: the
    # reference's cases put oi/od at the int key 1, which no document takes (see
    # TRANSFORM_REFUSED); here adapted to the key "k"
    pytest.param(
        [{"p": ["k", 0], "si": "hi"}],
        [{"p": ["k"], "od": "x"}],
        "left",
        [],
        id="adapted-object-deleted-1",
    ),
    pytest.param(
        [{"p": ["k", 0], "si": "hi"}],
        [{"p": ["k"], "od": "x", "oi": "y"}],
        "left",
        [],
        id="adapted-object-replaced-1",
    ),
    pytest.param(
        [{"p": ["k"], "od": "a"}],
        [{"p": ["k", 1], "si": "bc"}],
        "left",
        [{"p": ["k"], "od": "abc"}],
        id="adapted-object-deleted-data-1",
    ),
    pytest.param(
        [{"p": ["k"], "oi": "a"}],
        [{"p": ["k"], "oi": "b"}],
        "left",
        [{"p": ["k"], "oi": "a", "od": "b"}],
        id="adapted-object-simultaneous-inserts-left",
    ),
    pytest.param(
        [{"p": ["k"], "oi": "b"}],
        [{"p": ["k"], "oi": "a"}],
        "right",
        [],
        id="adapted-object-simultaneous-inserts-right",
    ),
    pytest.param(
        [{"p": ["He"], "od": []}],
        [{"p": ["The"], "na": -3}],
        "right",
        [{"p": ["He"], "od": []}],
        id="object-deleted-data-8",
    ),
    # object parallel ops on different keys miss each other
    pytest.param(
        [{"p": ["a"], "oi": "x"}],
        [{"p": ["b"], "oi": "z"}],
        "left",
        [{"p": ["a"], "oi": "x"}],
        id="object-parallel-1",
    ),
    pytest.param(
        [{"p": ["a"], "oi": "x"}],
        [{"p": ["b"], "od": "z"}],
        "left",
        [{"p": ["a"], "oi": "x"}],
        id="object-parallel-2",
    ),
    pytest.param(
        [{"p": ["in", "he"], "oi": {}}],
        [{"p": ["and"], "od": {}}],
        "right",
        [{"p": ["in", "he"], "oi": {}}],
        id="object-parallel-3",
    ),
    pytest.param(
        [{"p": ["x", 0], "si": "his "}],
        [{"p": ["y"], "od": 0, "oi": 1}],
        "right",
        [{"p": ["x", 0], "si": "his "}],
        id="object-parallel-4",
    ),
    # object An attempt to re-delete a key becomes a no-op
    pytest.param(
        [{"p": ["k"], "od": "x"}], [{"p": ["k"], "od": "x"}], "left", [], id="object-redelete-l"
    ),
    pytest.param(
        [{"p": ["k"], "od": "x"}], [{"p": ["k"], "od": "x"}], "right", [], id="object-redelete-r"
    ),
    # adapted (the root-path cases of TRANSFORM_REFUSED under the key "r"; expected: the
    # reference's own result for the adapted ops, which is its root result under "r")
    pytest.param(
        [{"p": ["r", 9], "si": "bite "}],
        [{"p": ["r"], "od": "agimble s", "oi": None}],
        "right",
        [],
        id="adapted-object-deleted-3",
    ),
    pytest.param(
        [{"p": ["r"], "od": 22, "oi": []}],
        [{"p": ["r"], "na": 3}],
        "left",
        [{"p": ["r"], "od": 25, "oi": []}],
        id="adapted-object-deleted-data-3",
    ),
    pytest.param(
        [{"p": ["r"], "od": {"toves": 0}, "oi": 4}],
        [{"p": ["r", "toves"], "od": 0, "oi": ""}],
        "left",
        [{"p": ["r"], "od": {"toves": ""}, "oi": 4}],
        id="adapted-object-deleted-data-4",
    ),
    pytest.param(
        [{"p": ["r"], "od": "thou and ", "oi": []}],
        [{"p": ["r", 7], "sd": "d "}],
        "left",
        [{"p": ["r"], "od": "thou an", "oi": []}],
        id="adapted-object-deleted-data-5",
    ),
    pytest.param(
        [{"p": ["r", "bird"], "na": 2}],
        [{"p": ["r"], "od": {"bird": 38}, "oi": 20}],
        "right",
        [],
        id="adapted-object-deleted-data-6",
    ),
    pytest.param(
        [{"p": ["r"], "od": {"bird": 38}, "oi": 20}],
        [{"p": ["r", "bird"], "na": 2}],
        "left",
        [{"p": ["r"], "od": {"bird": 40}, "oi": 20}],
        id="adapted-object-deleted-data-7",
    ),
    pytest.param(
        [{"p": ["r", "He"], "oi": {}}],
        [{"p": ["r"], "od": {}, "oi": "the"}],
        "left",
        [],
        id="adapted-object-deleted-data-9",
    ),
    pytest.param(
        [{"p": ["r"], "od": [""], "oi": {}}],
        [{"p": ["r"], "od": [""]}],
        "right",
        [{"p": ["r"], "oi": {}}],
        id="adapted-object-replacement-vs-deletion",
    ),
    pytest.param(
        [{"p": ["r"], "od": [""]}, {"p": ["r"], "oi": {}}],
        [{"p": ["r"], "od": [""]}, {"p": ["r"], "oi": None}],
        "right",
        [],
        id="adapted-object-replacement-vs-replacement-1",
    ),
    pytest.param(
        [{"p": ["r"], "od": [""]}, {"p": ["r"], "oi": {}}],
        [{"p": ["r"], "od": [""]}, {"p": ["r"], "oi": None}],
        "left",
        [{"p": ["r"], "od": None, "oi": {}}],
        id="adapted-object-replacement-vs-replacement-2",
    ),
    pytest.param(
        [{"p": ["r"], "od": [""], "oi": {}}],
        [{"p": ["r"], "od": [""], "oi": None}],
        "right",
        [],
        id="adapted-object-replacement-vs-replacement-3",
    ),
    pytest.param(
        [{"p": ["r"], "od": [""], "oi": {}}],
        [{"p": ["r"], "od": [""], "oi": None}],
        "left",
        [{"p": ["r"], "od": None, "oi": {}}],
        id="adapted-object-replacement-vs-replacement-4",
    ),
]


def _lm(frm: int, to: int) -> Op:
    return [{"p": [frm], "lm": to}]


def _li(at: int) -> Op:
    return [{"p": [at], "li": []}]


# list 'lm vs lm': (op, other, side, expected) as lm (from, to) pairs, in the reference's order
LM_VS_LM = [
    ((0, 2), (2, 1), "left", (0, 2)),
    ((3, 3), (5, 0), "left", (4, 4)),
    ((2, 0), (1, 0), "left", (2, 0)),
    ((2, 0), (1, 0), "right", (2, 1)),
    ((2, 0), (5, 0), "right", (3, 1)),
    ((2, 0), (5, 0), "left", (3, 0)),
    ((2, 5), (2, 0), "left", (0, 5)),
    ((2, 5), (2, 0), "left", (0, 5)),
    ((1, 0), (0, 5), "right", (0, 0)),
    ((1, 0), (0, 1), "right", (0, 0)),
    ((0, 1), (1, 0), "left", (1, 1)),
    ((0, 1), (5, 0), "right", (1, 2)),
    ((2, 1), (5, 0), "right", (3, 2)),
    ((3, 1), (1, 3), "left", (2, 1)),
    ((1, 3), (3, 1), "left", (2, 3)),
    ((2, 6), (0, 1), "left", (2, 6)),
    ((2, 6), (0, 1), "right", (2, 6)),
    ((2, 6), (1, 0), "left", (2, 6)),
    ((2, 6), (1, 0), "right", (2, 6)),
    ((0, 1), (2, 1), "left", (0, 2)),
    ((2, 1), (0, 1), "right", (2, 0)),
    ((0, 0), (1, 0), "left", (1, 1)),
    ((0, 1), (1, 3), "left", (0, 0)),
    ((2, 1), (3, 2), "left", (3, 1)),
    ((3, 2), (2, 1), "left", (3, 3)),
]
TRANSFORM += [
    pytest.param(_lm(*op), _lm(*other), side, _lm(*expected), id=f"lm-vs-lm-{n}")
    for n, (op, other, side, expected) in enumerate(LM_VS_LM, 1)
]

# list 'changes indices correctly around a move'
TRANSFORM += [
    pytest.param(
        [{"p": [0, 0], "li": {}}],
        _lm(1, 0),
        "left",
        [{"p": [1, 0], "li": {}}],
        id="around-a-move-1",
    ),
    pytest.param(_lm(1, 0), [{"p": [0], "ld": {}}], "left", _lm(0, 0), id="around-a-move-2"),
    pytest.param(_lm(0, 1), [{"p": [1], "ld": {}}], "left", _lm(0, 0), id="around-a-move-3"),
    pytest.param(_lm(6, 0), [{"p": [2], "ld": {}}], "left", _lm(5, 0), id="around-a-move-4"),
    pytest.param(_lm(1, 0), [{"p": [2], "ld": {}}], "left", _lm(1, 0), id="around-a-move-5"),
    pytest.param(_lm(2, 1), [{"p": [1], "ld": 3}], "right", _lm(1, 1), id="around-a-move-6"),
    pytest.param(
        [{"p": [2], "ld": {}}], _lm(1, 2), "right", [{"p": [1], "ld": {}}], id="around-a-move-7"
    ),
    pytest.param(
        [{"p": [1], "ld": {}}], _lm(2, 1), "left", [{"p": [2], "ld": {}}], id="around-a-move-8"
    ),
    pytest.param(
        [{"p": [1], "ld": {}}], _lm(0, 1), "right", [{"p": [0], "ld": {}}], id="around-a-move-9"
    ),
    pytest.param(
        [{"p": [1], "ld": 1, "li": 2}],
        _lm(1, 0),
        "left",
        [{"p": [0], "ld": 1, "li": 2}],
        id="around-a-move-10",
    ),
    pytest.param(
        [{"p": [1], "ld": 2, "li": 3}],
        _lm(0, 1),
        "left",
        [{"p": [0], "ld": 2, "li": 3}],
        id="around-a-move-11",
    ),
    pytest.param(
        [{"p": [0], "ld": 3, "li": 4}],
        _lm(1, 0),
        "left",
        [{"p": [1], "ld": 3, "li": 4}],
        id="around-a-move-12",
    ),
]

# list 'li vs lm': xf(a, b, side) with li(p) = [{p:[p], li:[]}], lm(f, t) = [{p:[f], lm:t}]
LI_VS_LM: list[tuple[Op, Op, str, Op]] = [
    (_li(0), _lm(1, 3), "left", _li(0)),
    (_li(1), _lm(1, 3), "left", _li(1)),
    (_li(2), _lm(1, 3), "left", _li(1)),
    (_li(3), _lm(1, 3), "left", _li(2)),
    (_li(4), _lm(1, 3), "left", _li(4)),
    (_lm(1, 3), _li(0), "right", _lm(2, 4)),
    (_lm(1, 3), _li(1), "right", _lm(2, 4)),
    (_lm(1, 3), _li(2), "right", _lm(1, 4)),
    (_lm(1, 3), _li(3), "right", _lm(1, 4)),
    (_lm(1, 3), _li(4), "right", _lm(1, 3)),
    (_li(0), _lm(1, 2), "left", _li(0)),
    (_li(1), _lm(1, 2), "left", _li(1)),
    (_li(2), _lm(1, 2), "left", _li(1)),
    (_li(3), _lm(1, 2), "left", _li(3)),
    (_li(0), _lm(3, 1), "left", _li(0)),
    (_li(1), _lm(3, 1), "left", _li(1)),
    (_li(2), _lm(3, 1), "left", _li(3)),
    (_li(3), _lm(3, 1), "left", _li(4)),
    (_li(4), _lm(3, 1), "left", _li(4)),
    (_lm(3, 1), _li(0), "right", _lm(4, 2)),
    (_lm(3, 1), _li(1), "right", _lm(4, 2)),
    (_lm(3, 1), _li(2), "right", _lm(4, 1)),
    (_lm(3, 1), _li(3), "right", _lm(4, 1)),
    (_lm(3, 1), _li(4), "right", _lm(3, 1)),
    (_li(0), _lm(2, 1), "left", _li(0)),
    (_li(1), _lm(2, 1), "left", _li(1)),
    (_li(2), _lm(2, 1), "left", _li(3)),
    (_li(3), _lm(2, 1), "left", _li(3)),
]
TRANSFORM += [
    pytest.param(op, other, side, expected, id=f"li-vs-lm-{n}")
    for n, (op, other, side, expected) in enumerate(LI_VS_LM, 1)
]


@pytest.mark.parametrize(("op", "other", "side", "expected"), TRANSFORM)
def test_transform(op: Op, other: Op, side: Side, expected: Op) -> None:
    op_before, other_before = copy.deepcopy(op), copy.deepcopy(other)
    assert _exactly(transform(op, other, side)) == _exactly(expected)
    assert _exactly(op) == _exactly(op_before)
    assert _exactly(other) == _exactly(other_before)


# A reference case whose ops our strict rules refuse: ``bad`` names the op(s) refused.
TRANSFORM_REFUSED = [
    # string #transform() splits deletes: a string edit of the document itself (p: [0]) is
    # a root-path op (see APPLY_REFUSED); adapted under "s" in TRANSFORM.
    pytest.param(
        [{"p": [0], "sd": "ab"}], [{"p": [1], "si": "x"}], "both", id="string-splits-deletes"
    ),
    # Ops no document takes, refused by the shape check (check_op) already: an instruction
    # whose path ends in the wrong kind of step (oi/od need an object key, li/ld/lm a list
    # index, si/sd a string offset); "a str key into a list / an int index into a dict"
    # would be the refusal on any document. The reference transforms them blindly.
    pytest.param(
        [{"p": ["x", 3], "si": "hi"}],
        [{"p": ["x", 0, "x"], "li": 0}],
        "other",
        id="list-bumps-6",
    ),
    pytest.param(
        [{"p": ["x", 3, "x"], "si": "hi"}], [{"p": ["x", 5], "li": 0}], "op", id="list-bumps-7"
    ),
    pytest.param(
        [{"p": ["x", 3, "x"], "si": "hi"}], [{"p": ["x", 0], "li": 0}], "op", id="list-bumps-8"
    ),
    pytest.param(
        [{"p": [1, 0], "si": "hi"}], [{"p": [1], "od": "x"}], "other", id="object-deleted-1"
    ),
    pytest.param(
        [{"p": [1, 0], "si": "hi"}],
        [{"p": [1], "od": "x", "oi": "y"}],
        "other",
        id="object-replaced-1",
    ),
    pytest.param(
        [{"p": [1], "od": "a"}], [{"p": [1, 1], "si": "bc"}], "op", id="object-deleted-data-1"
    ),
    pytest.param(
        [{"p": [1], "oi": "a"}],
        [{"p": [1], "oi": "b"}],
        "both",
        id="object-simultaneous-inserts-left",
    ),
    pytest.param(
        [{"p": [1], "oi": "b"}],
        [{"p": [1], "oi": "a"}],
        "both",
        id="object-simultaneous-inserts-right",
    ),
    # string subtype #transform() / subtype with non-array operation: subtype ops
    # ("t"/"o") are refused (see APPLY_REFUSED); their si/sd forms are in TRANSFORM.
    pytest.param(
        [{"p": [], "t": "text0", "o": [{"p": 0, "d": "ab"}]}],
        [{"p": [], "t": "text0", "o": [{"p": 1, "i": "x"}]}],
        "both",
        id="subtype-splits-deletes",
    ),
    pytest.param(
        [{"p": ["k"], "t": "text0", "o": [{"p": 5, "d": "a"}]}],
        [{"p": ["k"], "t": "text0", "o": [{"p": 5, "d": "a"}]}],
        "both",
        id="subtype-cancels-other-deletes",
    ),
    pytest.param(
        [{"p": ["k"], "t": "text0", "o": [{"p": 5, "i": ""}]}],
        [{"p": ["k"], "t": "text0", "o": [{"p": 3, "i": "a"}]}],
        "both",
        id="subtype-blank-inserts",
    ),
    pytest.param(
        [{"p": [], "t": "mock", "o": "foo"}],
        [{"p": [], "t": "mock", "o": "bar"}],
        "both",
        id="subtype-mock-non-array-op",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 200, "i": "hi"}]}],
        [{"p": [0], "li": "x"}],
        "op",
        id="subtype-list-bumps-1",
    ),
    pytest.param(
        [{"p": [0], "t": "text0", "o": [{"p": 201, "i": "hi"}]}],
        [{"p": [0], "li": "x"}],
        "op",
        id="subtype-list-bumps-2",
    ),
    pytest.param(
        [{"p": [0], "t": "text0", "o": [{"p": 202, "i": "hi"}]}],
        [{"p": [1], "li": "x"}],
        "op",
        id="subtype-list-bumps-3",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 203, "i": "hi"}]}],
        [{"p": [0], "ld": "x"}],
        "op",
        id="subtype-list-bumps-4",
    ),
    pytest.param(
        [{"p": [0], "t": "text0", "o": [{"p": 204, "i": "hi"}]}],
        [{"p": [1], "ld": "x"}],
        "op",
        id="subtype-list-bumps-5",
    ),
    pytest.param(
        [{"p": ["x"], "t": "text0", "o": [{"p": 3, "i": "hi"}]}],
        [{"p": ["x", 0, "x"], "li": 0}],
        "both",
        id="subtype-list-bumps-6",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 0, "i": "hi"}]}],
        [{"p": [1], "ld": "x"}],
        "op",
        id="subtype-list-deleted",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 0, "i": "hi"}]}],
        [{"p": [1], "ld": "x", "li": "y"}],
        "op",
        id="subtype-list-replaced",
    ),
    pytest.param(
        [{"p": [1], "ld": "a"}],
        [{"p": [1], "t": "text0", "o": [{"p": 1, "i": "bc"}]}],
        "other",
        id="subtype-list-deleted-data",
    ),
    pytest.param(
        [{"p": [4], "t": "text0", "o": [{"p": 1, "i": "a"}]}],
        [{"p": [4], "lm": 10}],
        "op",
        id="subtype-list-moved",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 0, "i": "hi"}]}],
        [{"p": [1], "od": "x"}],
        "both",
        id="subtype-object-deleted",
    ),
    pytest.param(
        [{"p": [1], "t": "text0", "o": [{"p": 0, "i": "hi"}]}],
        [{"p": [1], "od": "x", "oi": "y"}],
        "both",
        id="subtype-object-replaced",
    ),
    pytest.param(
        [{"p": [1], "od": "a"}],
        [{"p": [1], "t": "text0", "o": [{"p": 1, "i": "bc"}]}],
        "both",
        id="subtype-object-deleted-data",
    ),
    pytest.param(
        [{"p": ["x"], "t": "text0", "o": [{"p": 0, "i": "his "}]}],
        [{"p": ["y"], "od": 0, "oi": 1}],
        "op",
        id="subtype-object-parallel",
    ),
    # Root-path ops (p: []) are refused: the document itself is never replaced, deleted
    # or added to (a document is created and dropped by the store, not by an op). Each of
    # these is also in TRANSFORM adapted under the key "r".
    pytest.param(
        [{"p": [9], "si": "bite "}],
        [{"p": [], "od": "agimble s", "oi": None}],
        "both",
        id="root-object-deleted-3",
    ),
    pytest.param(
        [{"p": [], "t": "text0", "o": [{"p": 9, "i": "bite "}]}],
        [{"p": [], "od": "agimble s", "oi": None}],
        "both",
        id="root-subtype-object-deleted-4",
    ),
    pytest.param(
        [{"p": [], "od": 22, "oi": []}],
        [{"p": [], "na": 3}],
        "both",
        id="root-object-deleted-data-3",
    ),
    pytest.param(
        [{"p": [], "od": {"toves": 0}, "oi": 4}],
        [{"p": ["toves"], "od": 0, "oi": ""}],
        "op",
        id="root-object-deleted-data-4",
    ),
    pytest.param(
        [{"p": [], "od": "thou and ", "oi": []}],
        [{"p": [7], "sd": "d "}],
        "both",
        id="root-object-deleted-data-5",
    ),
    pytest.param(
        [{"p": [], "od": "thou and ", "oi": []}],
        [{"p": [], "t": "text0", "o": [{"p": 7, "d": "d "}]}],
        "both",
        id="root-subtype-object-deleted-data-6",
    ),
    pytest.param(
        [{"p": ["bird"], "na": 2}],
        [{"p": [], "od": {"bird": 38}, "oi": 20}],
        "other",
        id="root-object-deleted-data-7",
    ),
    pytest.param(
        [{"p": [], "od": {"bird": 38}, "oi": 20}],
        [{"p": ["bird"], "na": 2}],
        "op",
        id="root-object-deleted-data-8",
    ),
    pytest.param(
        [{"p": ["He"], "oi": {}}],
        [{"p": [], "od": {}, "oi": "the"}],
        "other",
        id="root-object-deleted-data-10",
    ),
    pytest.param(
        [{"p": [], "od": [""], "oi": {}}],
        [{"p": [], "od": [""]}],
        "both",
        id="root-object-replacement-vs-deletion",
    ),
    pytest.param(
        [{"p": [], "od": [""]}, {"p": [], "oi": {}}],
        [{"p": [], "od": [""]}, {"p": [], "oi": None}],
        "both",
        id="root-object-replacement-vs-replacement-1",
    ),
    pytest.param(
        [{"p": [], "od": [""], "oi": {}}],
        [{"p": [], "od": [""], "oi": None}],
        "both",
        id="root-object-replacement-vs-replacement-3",
    ),
    # number "doesn't overwrite values when it merges na in append": root-path ops (its
    # adapted form is test_adapted_na_merge_in_append_converges)
    pytest.param(
        [{"p": [], "od": 0, "oi": 15}, {"p": [], "na": 4}, {"p": [], "na": 1}, {"p": [], "na": 1}],
        [{"p": [], "na": 4}, {"p": [], "na": -1}],
        "both",
        id="root-number-na-merge-in-append",
    ),
]


@pytest.mark.parametrize(("op", "other", "bad"), TRANSFORM_REFUSED)
def test_transform_case_refused(op: Op, other: Op, bad: str) -> None:
    for name, value in (("op", op), ("other", other)):
        if bad in (name, "both"):
            _refused(value)
        else:
            check_op(value)
    sides: tuple[Side, Side] = ("left", "right")
    for side in sides:
        with pytest.raises(InvalidOp):
            transform(op, other, side)
    with pytest.raises(InvalidOp):
        transform_x(op, other)


def test_root_diamond_refused() -> None:
    # object 'replacement vs. replacement', its diamond: type.apply(null, [{p:[], od:null,
    # oi:{}}]) replaces the document at the root: refused (root-path ops, see above).
    _assert_apply_refused(None, [{"p": [], "od": None, "oi": {}}])
    _assert_apply_refused(None, [{"p": [], "od": None, "oi": ""}])


def test_adapted_replacement_diamond_converges() -> None:
    # The same diamond under the key "r", on a document where od null matches.
    right_ops: Op = [{"p": ["r"], "od": None, "oi": {}}]
    left_ops: Op = [{"p": ["r"], "od": None, "oi": ""}]
    right_has = apply({"r": None}, right_ops)
    left_has = apply({"r": None}, left_ops)
    left_, right_ = transform(left_ops, right_ops, "left"), transform(right_ops, left_ops, "right")
    assert apply(right_has, left_) == left_has
    assert apply(left_has, right_) == left_has
    assert (left_, right_) == transform_x(left_ops, right_ops)


def test_adapted_na_merge_in_append_converges() -> None:
    # number "doesn't overwrite values when it merges na in append", under the key "n":
    # from {"n": 0}, the right op makes 21, the left op 3; both orders agree. (The
    # reference's right op deletes od 0 from a document it never shows; here it is there.)
    right_op: Op = [
        {"p": ["n"], "od": 0, "oi": 15},
        {"p": ["n"], "na": 4},
        {"p": ["n"], "na": 1},
        {"p": ["n"], "na": 1},
    ]
    left_op: Op = [{"p": ["n"], "na": 4}, {"p": ["n"], "na": -1}]
    right_has, left_has = apply({"n": 0}, right_op), apply({"n": 0}, left_op)
    assert (right_has, left_has) == ({"n": 21}, {"n": 3})
    right_, left_ = transform(right_op, left_op, "left"), transform(left_op, right_op, "right")
    assert apply(right_has, left_) == apply(left_has, right_) == {"n": 21}
    assert (right_, left_) == transform_x(right_op, left_op)


# ------------------------------------------------------------------------- compose


COMPOSE = [
    # sanity #compose()
    pytest.param(
        [{"p": ["foo"], "od": 1}],
        [{"p": ["foo"], "oi": 2}],
        [{"p": ["foo"], "od": 1, "oi": 2}],
        id="od-then-oi",
    ),
    pytest.param(
        [{"p": ["foo"], "od": 1}],
        [{"p": ["bar"], "oi": 2}],
        [{"p": ["foo"], "od": 1}, {"p": ["bar"], "oi": 2}],
        id="od-then-oi-elsewhere",
    ),
    pytest.param(
        [{"p": ["foo"], "od": 1, "oi": 3}],
        [{"p": ["foo"], "od": 3, "oi": 2}],
        [{"p": ["foo"], "od": 1, "oi": 2}],
        id="od-oi-then-od-oi",
    ),
    # number compresses two adds together in compose
    pytest.param(
        [{"p": ["a", "b"], "na": 1}],
        [{"p": ["a", "b"], "na": 2}],
        [{"p": ["a", "b"], "na": 3}],
        id="na-then-na",
    ),
    pytest.param(
        [{"p": ["a"], "na": 1}],
        [{"p": ["b"], "na": 2}],
        [{"p": ["a"], "na": 1}, {"p": ["b"], "na": 2}],
        id="na-then-na-elsewhere",
    ),
    # list #compose()
    pytest.param([{"p": [1], "li": "abc"}], [{"p": [1], "ld": "abc"}], [], id="li-then-ld"),
    pytest.param(
        [{"p": [0], "ld": "abc", "li": None}],
        [{"p": [0], "ld": None}],
        [{"p": [0], "ld": "abc"}],
        id="ld-li-then-ld",
    ),
    # list 'composes replace with delete of replaced element results in insert'
    # list 'composes together adjacent string ops' (its si form is on a root string, in
    # test_compose_refused; here adapted under "s")
    pytest.param(
        [{"p": ["s", 100], "si": "h"}],
        [{"p": ["s", 101], "si": "i"}],
        [{"p": ["s", 100], "si": "hi"}],
        id="adapted-adjacent-si",
    ),
    pytest.param(
        [{"p": [2], "ld": [], "li": None}],
        [{"p": [2], "ld": None}],
        [{"p": [2], "ld": []}],
        id="replace-then-delete",
    ),
]


@pytest.mark.parametrize(("a", "b", "expected"), COMPOSE)
def test_compose(a: Op, b: Op, expected: Op) -> None:
    a_before, b_before = copy.deepcopy(a), copy.deepcopy(b)
    assert _exactly(compose(a, b)) == _exactly(expected)
    assert _exactly(a) == _exactly(a_before)
    assert _exactly(b) == _exactly(b_before)


def test_compose_does_not_change_the_original_object() -> None:
    a: Op = [{"p": [0], "ld": "abc", "li": None}]
    assert compose(a, [{"p": [0], "ld": None}]) == [{"p": [0], "ld": "abc"}]
    assert a == [{"p": [0], "ld": "abc", "li": None}]


def test_compose_refused() -> None:
    # list 'composes together adjacent string ops': its si form edits a root string and its
    # subtype form is a subtype op, both refused (see APPLY_REFUSED); adapted in COMPOSE.
    for a, b in (
        ([{"p": [100], "si": "h"}], [{"p": [101], "si": "i"}]),
        (
            [{"p": [], "t": "text0", "o": [{"p": 100, "i": "h"}]}],
            [{"p": [], "t": "text0", "o": [{"p": 101, "i": "i"}]}],
        ),
    ):
        _refused(a)
        _refused(b)
        with pytest.raises(InvalidOp):
            compose(a, b)


# ------------------------------------------- text0 (through json0's si / sd components)
#
# A text0 component {i|d: s, p: n} is json0's {p: [..., n], si|sd: s} on the string at
# [...]; here the string is at ["s"].


def _t(*components: tuple[str, str, int]) -> Op:
    return [
        {"p": ["s", at], ("si" if kind == "i" else "sd"): text} for kind, text, at in components
    ]


TEXT0_COMPOSE = [
    pytest.param(_t(), _t(), _t(), id="empty"),
    pytest.param(_t(("i", "x", 0)), _t(), _t(("i", "x", 0)), id="then-nothing"),
    pytest.param(_t(), _t(("i", "x", 0)), _t(("i", "x", 0)), id="after-nothing"),
    pytest.param(
        _t(("i", "y", 100)),
        _t(("i", "x", 0)),
        _t(("i", "y", 100), ("i", "x", 0)),
        id="apart",
    ),
]


@pytest.mark.parametrize(("a", "b", "expected"), TEXT0_COMPOSE)
def test_text0_compose(a: Op, b: Op, expected: Op) -> None:
    assert compose(a, b) == expected


TEXT0_TRANSFORM = [
    # transform is sane
    pytest.param(_t(), _t(), "left", _t(), id="sane-1"),
    pytest.param(_t(), _t(), "right", _t(), id="sane-2"),
    pytest.param(
        _t(("i", "y", 100), ("i", "x", 0)),
        _t(),
        "left",
        _t(("i", "y", 100), ("i", "x", 0)),
        id="sane-3",
    ),
    pytest.param(_t(), _t(("i", "y", 100), ("i", "x", 0)), "right", _t(), id="sane-4"),
    # inserts (its transform, not transformX, cases)
    pytest.param(_t(("i", "x", 10)), _t(("d", "a", 11)), "left", _t(("i", "x", 10)), id="insert-1"),
    pytest.param(_t(("i", "x", 10)), _t(("d", "a", 10)), "left", _t(("i", "x", 10)), id="insert-2"),
    pytest.param(
        _t(("i", "x", 10)), _t(("d", "a", 10)), "right", _t(("i", "x", 10)), id="insert-3"
    ),
]


@pytest.mark.parametrize(("op", "other", "side", "expected"), TEXT0_TRANSFORM)
def test_text0_transform(op: Op, other: Op, side: Side, expected: Op) -> None:
    assert transform(op, other, side) == expected


TEXT0_TRANSFORM_X = [
    # inserts
    pytest.param(
        _t(("i", "x", 9)), _t(("i", "a", 1)), _t(("i", "x", 10)), _t(("i", "a", 1)), id="inserts-1"
    ),
    pytest.param(
        _t(("i", "x", 10)),
        _t(("i", "a", 10)),
        _t(("i", "x", 10)),
        _t(("i", "a", 11)),
        id="inserts-2",
    ),
    pytest.param(
        _t(("i", "x", 11)), _t(("d", "a", 9)), _t(("i", "x", 10)), _t(("d", "a", 9)), id="inserts-3"
    ),
    pytest.param(
        _t(("i", "x", 11)),
        _t(("d", "a", 10)),
        _t(("i", "x", 10)),
        _t(("d", "a", 10)),
        id="inserts-4",
    ),
    pytest.param(
        _t(("i", "x", 11)),
        _t(("d", "a", 11)),
        _t(("i", "x", 11)),
        _t(("d", "a", 12)),
        id="inserts-5",
    ),
    # deletes
    pytest.param(
        _t(("d", "abc", 10)),
        _t(("d", "xy", 4)),
        _t(("d", "abc", 8)),
        _t(("d", "xy", 4)),
        id="deletes-1",
    ),
    pytest.param(
        _t(("d", "abc", 10)), _t(("d", "b", 11)), _t(("d", "ac", 10)), _t(), id="deletes-2"
    ),
    pytest.param(
        _t(("d", "b", 11)), _t(("d", "abc", 10)), _t(), _t(("d", "ac", 10)), id="deletes-3"
    ),
    pytest.param(
        _t(("d", "abc", 10)), _t(("d", "bc", 11)), _t(("d", "a", 10)), _t(), id="deletes-4"
    ),
    pytest.param(
        _t(("d", "abc", 10)), _t(("d", "ab", 10)), _t(("d", "c", 10)), _t(), id="deletes-5"
    ),
    pytest.param(
        _t(("d", "abc", 10)),
        _t(("d", "bcd", 11)),
        _t(("d", "a", 10)),
        _t(("d", "d", 10)),
        id="deletes-6",
    ),
    pytest.param(
        _t(("d", "bcd", 11)),
        _t(("d", "abc", 10)),
        _t(("d", "d", 10)),
        _t(("d", "a", 10)),
        id="deletes-7",
    ),
    pytest.param(
        _t(("d", "abc", 10)),
        _t(("d", "xy", 13)),
        _t(("d", "abc", 10)),
        _t(("d", "xy", 10)),
        id="deletes-8",
    ),
]


@pytest.mark.parametrize(("left", "right", "left_", "right_"), TEXT0_TRANSFORM_X)
def test_text0_transform_x(left: Op, right: Op, left_: Op, right_: Op) -> None:
    assert transform_x(left, right) == (left_, right_)
    # transformX is transform both ways (bootstrapTransform)
    assert transform(left, right, "left") == left_
    assert transform(right, left, "right") == right_


TEXT0_NORMALIZE = [
    # is sane (unchanged)
    pytest.param(_t(), _t(), id="unchanged-1"),
    pytest.param(_t(("i", "asdf", 100)), _t(("i", "asdf", 100)), id="unchanged-2"),
    pytest.param(
        _t(("i", "asdf", 100), ("d", "fdsa", 123)),
        _t(("i", "asdf", 100), ("d", "fdsa", 123)),
        id="unchanged-3",
    ),
    # compress inserts
    pytest.param(_t(("i", "abc", 10), ("i", "xyz", 10)), _t(("i", "xyzabc", 10)), id="ins-1"),
    pytest.param(_t(("i", "abc", 10), ("i", "xyz", 11)), _t(("i", "axyzbc", 10)), id="ins-2"),
    pytest.param(_t(("i", "abc", 10), ("i", "xyz", 13)), _t(("i", "abcxyz", 10)), id="ins-3"),
    # doesnt compress separate inserts
    pytest.param(
        _t(("i", "abc", 10), ("i", "xyz", 9)), _t(("i", "abc", 10), ("i", "xyz", 9)), id="ins-4"
    ),
    pytest.param(
        _t(("i", "abc", 10), ("i", "xyz", 14)), _t(("i", "abc", 10), ("i", "xyz", 14)), id="ins-5"
    ),
    # compress deletes
    pytest.param(_t(("d", "abc", 10), ("d", "xy", 8)), _t(("d", "xyabc", 8)), id="del-1"),
    pytest.param(_t(("d", "abc", 10), ("d", "xy", 9)), _t(("d", "xabcy", 9)), id="del-2"),
    pytest.param(_t(("d", "abc", 10), ("d", "xy", 10)), _t(("d", "abcxy", 10)), id="del-3"),
    # doesnt compress separate deletes
    pytest.param(
        _t(("d", "abc", 10), ("d", "xyz", 6)), _t(("d", "abc", 10), ("d", "xyz", 6)), id="del-4"
    ),
    pytest.param(
        _t(("d", "abc", 10), ("d", "xyz", 11)), _t(("d", "abc", 10), ("d", "xyz", 11)), id="del-5"
    ),
]


@pytest.mark.parametrize(("op", "expected"), TEXT0_NORMALIZE)
def test_text0_normalize(op: Op, expected: Op) -> None:
    before = copy.deepcopy(op)
    assert normalize(op) == expected
    assert op == before


# ------------------------------------------- beyond the reference's own test file
#
# Cases a differential run against ot-json0 1.1.0 (node, lib/json0.js) found. Each op is
# valid, but the two cannot both apply to one document: one takes a container for an
# object (a key under it), the other for a list (an index into it). The reference compares
# the key with the index as JavaScript does (0 <= "k" is false; "2" <= 3 is true, and the
# key "2" then becomes the index 3; 1 == "1") and gives the result noted on each; we refuse
# the pair with InvalidOp (such an op does not fit the document the other was made on),
# never with a TypeError from comparing a str with an int.

KINDS_DISAGREE = [
    # (op, other, the reference's transform(op, other, "left"))
    pytest.param(
        [{"p": ["b"], "na": 2}], [{"p": [2], "lm": 2}], [{"p": ["b"], "na": 2}], id="na-lm"
    ),
    pytest.param(
        [{"p": ["a"], "na": 2}], [{"p": [1], "li": []}], [{"p": ["a"], "na": 2}], id="na-li"
    ),
    pytest.param(
        [{"p": ["l", "k"], "oi": 1}],
        [{"p": ["l", 0], "li": 0}],
        [{"p": ["l", "k"], "oi": 1}],
        id="oi-li",
    ),
    pytest.param(
        [{"p": ["x", "k", 0], "si": "a"}],
        [{"p": ["x", 0], "lm": 1}],
        [{"p": ["x", "k", 0], "si": "a"}],
        id="si-lm",
    ),
    pytest.param(
        [{"p": ["a"], "oi": 0}], [{"p": [1], "ld": 6}], [{"p": ["a"], "oi": 0}], id="oi-ld"
    ),
    pytest.param([{"p": [1], "lm": 0}], [{"p": ["b"], "od": 0}], [{"p": [1], "lm": 0}], id="lm-od"),
    pytest.param([{"p": [1], "ld": 6}], [{"p": ["a"], "oi": 0}], [{"p": [1], "ld": 6}], id="ld-oi"),
    pytest.param(
        [{"p": ["2"], "oi": 1}], [{"p": [0], "li": 0}], [{"p": [3], "oi": 1}], id="key-made-index"
    ),
    pytest.param(
        [{"p": ["a", "1"], "od": {"x": 1}}],
        [{"p": ["a", 1, "x"], "na": 1}],
        [{"p": ["a", "1"], "od": {"x": 2}}],
        id="loose-equality",
    ),
]


@pytest.mark.parametrize(("op", "other", "reference"), KINDS_DISAGREE)
def test_transform_refuses_ops_that_disagree_on_a_containers_kind(
    op: Op, other: Op, reference: Op
) -> None:
    check_op(op)
    check_op(other)
    sides: tuple[Side, Side] = ("left", "right")
    for side in sides:
        for mine, theirs in ((op, other), (other, op)):
            with pytest.raises(InvalidOp) as info:
                transform(mine, theirs, side)
            assert info.value.code == "invalid_op"
    for left, right in ((op, other), (other, op)):
        with pytest.raises(InvalidOp):
            transform_x(left, right)
