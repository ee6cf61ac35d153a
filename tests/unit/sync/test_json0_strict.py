"""The strict rules of prework.sync.json0's apply: where ot-json0 is lax we refuse with
InvalidOp (code "invalid_op") and change nothing, one test per rule; and what a valid op
gives (UTF-16 offsets, canonical numbers, a new document, untouched arguments)."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from decimal import Decimal
from typing import Any

import pytest

from prework.sync.json0 import (
    DEFAULT_LIMITS,
    SERVER_LIMITS,
    InvalidOp,
    Limits,
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
MAX_SAFE = 2**53 - 1
EMOJI = "\U0001f600"  # two UTF-16 code units: \ud83d \ude00


def _exactly(value: object) -> str:
    """``value`` as text that tells 1, 1.0 and True apart and keeps key order."""
    return json.dumps(value)


def refuses(doc: Any, op: object, limits: Limits = DEFAULT_LIMITS) -> InvalidOp:
    """apply refuses ``op`` on ``doc`` with InvalidOp and leaves ``doc`` as it was."""
    before, text = copy.deepcopy(doc), _exactly(doc)
    with pytest.raises(InvalidOp) as info:
        apply(doc, op, limits)
    assert info.value.code == "invalid_op"
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    assert doc == before
    assert _exactly(doc) == text
    return info.value


def applies(doc: Any, op: object, limits: Limits = DEFAULT_LIMITS) -> Any:
    before = _exactly(doc)
    result = apply(doc, op, limits)
    assert _exactly(doc) == before
    return result


def nested(depth: int, leaf: Any) -> Any:
    """``depth`` dicts {"a": ...} around ``leaf``."""
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


# ------------------------------------------------------------------------ the path


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["x"], "na": 1}],
        [{"p": ["a", "x", "c"], "oi": 1}],
        [{"p": ["x", 0], "si": "y"}],
        [{"p": ["x", 0], "li": 1}],
        [{"p": ["x"], "lm": 0}],
    ],
    ids=["na", "oi-under-missing", "si", "li", "lm"],
)
def test_a_missing_key_on_the_path_is_refused(op: Op) -> None:
    refuses({"a": {"b": 1}}, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["l", 2], "na": 1}],
        [{"p": ["l", 5, "x"], "oi": 1}],
        [{"p": ["l", 2, 0], "si": "y"}],
        [{"p": ["l", 2], "ld": 1}],
        [{"p": ["l", 2], "ld": 1, "li": 3}],
    ],
    ids=["na", "oi-under", "si", "ld", "ld-li"],
)
def test_an_index_past_the_end_is_refused(op: Op) -> None:
    refuses({"l": [1, 2]}, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["l", "0"], "na": 1}],
        [{"p": ["l", "0", "x"], "na": 1}],
        [{"p": ["l", "0"], "li": 1}],
        [{"p": ["l", "0"], "ld": 1}],
    ],
    ids=["na", "part-way", "li", "ld"],
)
def test_a_str_key_into_a_list_is_refused(op: Op) -> None:
    refuses({"l": [1, {"x": 1}]}, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["d", 0], "na": 1}],
        [{"p": ["d", 0, "x"], "na": 1}],
        [{"p": ["d", 1], "oi": 1}],
        [{"p": ["d", 0], "od": 1}],
    ],
    ids=["na", "part-way", "oi", "od"],
)
def test_an_int_index_into_a_dict_is_refused(op: Op) -> None:
    refuses({"d": {"0": 1, "x": 2}}, op)


@pytest.mark.parametrize(
    ("doc", "op"),
    [
        ({"l": [1, 2]}, [{"p": ["l", True], "na": 1}]),
        ({"l": [1, 2]}, [{"p": ["l", False], "li": 0}]),
        ({"l": [1, 2]}, [{"p": ["l", False], "ld": 1}]),
        ({"l": [[1]]}, [{"p": ["l", False, 0], "na": 1}]),
        ({"s": "ab"}, [{"p": ["s", True], "si": "x"}]),
        ({"l": [1, 2]}, [{"p": ["l", 0], "lm": True}]),
    ],
    ids=["na", "li", "ld", "part-way", "si-offset", "lm-target"],
)
def test_a_bool_index_is_refused(doc: Any, op: Op) -> None:
    refuses(doc, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["l", -1], "na": 1}],
        [{"p": ["l", -1], "li": 0}],
        [{"p": ["s", -1], "si": "x"}],
        [{"p": ["l", 1.0], "na": 1}],
        [{"p": ["l", None], "na": 1}],
        [{"p": ["l", [0]], "na": 1}],
    ],
    ids=["negative-na", "negative-li", "negative-offset", "float", "none", "list"],
)
def test_a_path_element_that_is_neither_key_nor_index_is_refused(op: Op) -> None:
    refuses({"l": [1, 2], "s": "ab"}, op)


# ---------------------------------------------------------------- kind of the target


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["s", 0], "li": "x"}],  # li into a string
        [{"p": ["n", 0], "si": "x"}],  # si into a number
        [{"p": ["l", 0], "si": "x"}],  # si into a list (its element is a string)
        [{"p": ["d", "a"], "lm": 0}],  # lm in a dict
        [{"p": ["d", "a"], "ld": 1}],  # ld in a dict
        [{"p": ["l", 1], "od": 2}],  # od in a list
        [{"p": ["s", 0, "x"], "oi": 1}],  # a path through a string
        [{"p": ["n", "x"], "oi": 1}],  # a path through a number
        [{"p": ["z", "x"], "oi": 1}],  # a path through null
        [{"p": ["s", 0], "sd": "a"}, {"p": ["d", "a", 0], "si": "x"}],  # si into a number
    ],
    ids=["li-str", "si-num", "si-list", "lm-dict", "ld-dict", "od-list", "via-str", "via-num",
         "via-null", "second"],
)  # fmt: skip
def test_an_instruction_on_the_wrong_kind_of_target_is_refused(op: Op) -> None:
    refuses({"s": "abc", "n": 1, "l": ["a", 2], "d": {"a": 1}, "z": None}, op)


# ------------------------------------------------------------------- od / ld / sd


@pytest.mark.parametrize(
    "op",
    [[{"p": ["b"], "od": 1}], [{"p": ["b"], "od": 1, "oi": 2}], [{"p": ["a", "x"], "od": 1}]],
    ids=["od", "od-oi", "nested"],
)
def test_od_of_a_key_that_is_not_there_is_refused(op: Op) -> None:
    refuses({"a": {"y": 1}}, op)


def test_oi_over_an_existing_key_without_od_is_refused() -> None:
    # the reference silently overwrites; a replace must say what it replaces (od + oi)
    refuses({"a": 1}, [{"p": ["a"], "oi": 2}])
    refuses({"a": None}, [{"p": ["a"], "oi": 2}])


@pytest.mark.parametrize(
    ("doc", "op"),
    [
        ({"a": 1}, [{"p": ["a"], "od": 2}]),
        ({"a": 1}, [{"p": ["a"], "od": True}]),  # JSON equality: true != 1
        ({"a": True}, [{"p": ["a"], "od": 1}]),
        ({"a": 1}, [{"p": ["a"], "od": "1"}]),
        ({"a": None}, [{"p": ["a"], "od": {}}]),
        ({"a": {"x": [1, 2]}}, [{"p": ["a"], "od": {"x": [1, 3]}}]),
        ({"a": {"x": 1}}, [{"p": ["a"], "od": {"x": 1, "y": 2}}]),
        ({"a": [1, 2]}, [{"p": ["a"], "od": [2, 1]}]),
        ({"a": 1}, [{"p": ["a"], "od": 2, "oi": 3}]),
    ],
    ids=["value", "true-vs-1", "1-vs-true", "str-vs-int", "null-vs-dict", "nested", "extra-key",
         "order", "od-oi"],
)  # fmt: skip
def test_od_that_does_not_match_is_refused(doc: Any, op: Op) -> None:
    refuses(doc, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["l", 0], "ld": 2}],
        [{"p": ["l", 0], "ld": True}],
        [{"p": ["l", 1], "ld": {"x": 2}}],
        [{"p": ["l", 0], "ld": 2, "li": 3}],
    ],
    ids=["value", "true-vs-1", "nested", "ld-li"],
)
def test_ld_that_does_not_match_is_refused(op: Op) -> None:
    refuses({"l": [1, {"x": 1}]}, op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["s", 0], "sd": "x"}],
        [{"p": ["s", 1], "sd": "bcd"}],  # runs past the end
        [{"p": ["s", 1], "sd": "B"}],
        [{"p": ["s", 4], "sd": "a"}],  # at an offset past the end
    ],
    ids=["value", "past-the-end", "case", "offset-past-the-end"],
)
def test_sd_that_does_not_match_is_refused(op: Op) -> None:
    refuses({"s": "abc"}, op)


def test_equal_numbers_match_whatever_their_spelling() -> None:
    # JSON equality: 1 == 1.0 (the deleted value is compared as JSON, not as Python types)
    assert applies({"l": [1, 2]}, [{"p": ["l", 0], "ld": 1.0}]) == {"l": [2]}
    assert applies({"a": {"x": [2]}}, [{"p": ["a"], "od": {"x": [2.0]}}]) == {}
    assert applies({"a": 1.5}, [{"p": ["a"], "od": 1.5, "oi": 2}]) == {"a": 2}


# --------------------------------------------------------------------------- li / lm


@pytest.mark.parametrize(
    "op",
    [[{"p": ["l", 3], "li": 0}], [{"p": ["l", 2], "li": 0, "ld": 2}]],
    ids=["li", "li-ld-at-len"],
)
def test_li_past_the_end_is_refused(op: Op) -> None:
    refuses({"l": [1, 2]}, op)


def test_li_at_the_end_appends() -> None:
    assert applies({"l": [1, 2]}, [{"p": ["l", 2], "li": 3}]) == {"l": [1, 2, 3]}


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["l", 3], "lm": 0}],  # index == len
        [{"p": ["l", 0], "lm": 3}],  # target == len
        [{"p": ["l", 0], "lm": 9}],
        [{"p": ["l", 0], "lm": -1}],
        [{"p": ["l", 0], "lm": "1"}],
        [{"p": ["l", 0], "lm": None}],
        [{"p": ["l", 0], "lm": 1.5}],
    ],
    ids=["index", "target-at-len", "target-far", "negative", "str", "null", "float"],
)
def test_lm_out_of_range_is_refused(op: Op) -> None:
    refuses({"l": ["a", "b", "c"]}, op)


def test_lm_moves_and_lm_to_itself_is_a_no_op() -> None:
    assert applies({"l": ["a", "b", "c"]}, [{"p": ["l", 0], "lm": 2}]) == {"l": ["b", "c", "a"]}
    assert applies({"l": ["a", "b", "c"]}, [{"p": ["l", 1], "lm": 1}]) == {"l": ["a", "b", "c"]}


# -------------------------------------------------------------------------------- na


@pytest.mark.parametrize(
    "target",
    ["1", [1], {"a": 1}, None, True, False],
    ids=["str", "list", "dict", "null", "true", "false"],
)
def test_na_on_a_non_number_is_refused(target: Any) -> None:
    refuses({"x": target}, [{"p": ["x"], "na": 1}])


@pytest.mark.parametrize(
    "na",
    [True, False, "1", None, [1], {"n": 1}],
    ids=["true", "false", "str", "null", "list", "dict"],
)
def test_na_with_a_non_number_is_refused(na: Any) -> None:
    refuses({"x": 1}, [{"p": ["x"], "na": na}])


@pytest.mark.parametrize(
    ("start", "na"),
    [
        (MAX_SAFE, 1),
        (-MAX_SAFE, -1),
        (0, MAX_SAFE + 1),
        (1, MAX_SAFE),
        (2**52, 2**52),
    ],
    ids=["max-plus-1", "min-minus-1", "na-too-big", "sum-too-big", "doubles"],
)
def test_an_int_result_past_the_safe_range_is_refused(start: int, na: int) -> None:
    refuses({"n": start}, [{"p": ["n"], "na": na}])


def test_an_int_result_at_the_edge_of_the_safe_range_is_fine() -> None:
    assert applies({"n": MAX_SAFE - 1}, [{"p": ["n"], "na": 1}]) == {"n": MAX_SAFE}
    assert applies({"n": -MAX_SAFE + 1}, [{"p": ["n"], "na": -1}]) == {"n": -MAX_SAFE}


@pytest.mark.parametrize(
    ("start", "na"),
    [
        (1.5e308, 1.5e308),
        (-1.5e308, -1.5e308),
        (1, math.inf),
        (1, -math.inf),
        (1, math.nan),
        (0.5, math.nan),
    ],
    ids=["overflow", "underflow", "inf", "-inf", "nan", "nan-on-float"],
)
def test_a_non_finite_na_result_is_refused(start: float, na: float) -> None:
    refuses({"n": start}, [{"p": ["n"], "na": na}])


# ---------------------------------------------------------------------------- values


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize(
    "make",
    [
        lambda v: [{"p": ["new"], "oi": v}],
        lambda v: [{"p": ["new"], "oi": {"a": [1, v]}}],
        lambda v: [{"p": ["l", 0], "li": v}],
        lambda v: [{"p": ["l", 0], "ld": "a", "li": [v]}],
        lambda v: [{"p": ["x"], "od": 1, "oi": v}],
    ],
    ids=["oi", "oi-nested", "li", "li-ld", "od-oi"],
)
def test_non_finite_values_are_refused(make: Any, bad: float) -> None:
    refuses({"l": ["a"], "x": 1}, make(bad))


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["new"], "oi": MAX_SAFE + 1}],
        [{"p": ["new"], "oi": [-(2**53)]}],
        [{"p": ["l", 0], "li": {"a": 10**20}}],
    ],
    ids=["oi", "oi-negative", "li-nested"],
)
def test_an_int_value_past_the_safe_range_is_refused(op: Op) -> None:
    refuses({"l": []}, op)


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1: "a"}, {("a",): 1}, b"x", {"a"}, Decimal("1"), 1j, object(), [1, (2,)]],
    ids=["tuple", "int-key", "tuple-key", "bytes", "set", "decimal", "complex", "object",
         "nested-tuple"],
)  # fmt: skip
def test_values_that_are_not_json_are_refused(value: Any) -> None:
    refuses({"l": []}, [{"p": ["v"], "oi": value}])
    refuses({"l": []}, [{"p": ["l", 0], "li": value}])


@pytest.mark.parametrize(
    ("doc", "op"),
    [
        ({}, [{"p": ["__proto__"], "oi": 1}]),
        ({"a": {}}, [{"p": ["a", "__proto__"], "oi": {}}]),
        ({"a": {}}, [{"p": ["a", "__proto__", "x"], "oi": 1}]),
        ({"a": {}}, [{"p": ["__proto__", "a"], "na": 1}]),
    ],
    ids=["top", "nested", "part-way", "first"],
)
def test_a_proto_key_in_a_path_is_refused(doc: Any, op: Op) -> None:
    refuses(doc, op)
    with pytest.raises(InvalidOp):
        check_op(op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["new"], "oi": {"__proto__": 1}}],
        [{"p": ["new"], "oi": {"a": [{"b": {"__proto__": {}}}]}}],
        [{"p": ["l", 0], "li": {"__proto__": None}}],
        [{"p": ["l", 0], "ld": "a", "li": [{"__proto__": 1}]}],
        [{"p": ["x"], "od": 1, "oi": {"__proto__": {"polluted": True}}}],
    ],
    ids=["oi", "oi-deep", "li", "li-ld", "od-oi"],
)
def test_a_proto_key_inside_an_inserted_value_is_refused(op: Op) -> None:
    refuses({"l": ["a"], "x": 1}, op)
    with pytest.raises(InvalidOp):
        check_op(op)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["new"], "oi": "x\ud800"}],
        [{"p": ["new"], "oi": "\udc00"}],
        [{"p": ["new"], "oi": {"a": ["ok", "\ud83d"]}}],
        [{"p": ["new"], "oi": {"k\ud800": 1}}],
        [{"p": ["l", 0], "li": "\ude00x"}],
        [{"p": ["s", 1], "si": "\ud800"}],
        [{"p": ["s", 1], "si": "x\udfffy"}],
        [{"p": ["k\ud800"], "oi": 1}],
    ],
    ids=["oi", "oi-low", "oi-nested", "oi-key", "li", "si", "si-middle", "path-key"],
)
def test_a_lone_surrogate_in_an_inserted_string_is_refused(op: Op) -> None:
    refuses({"l": [], "s": "ab"}, op)


# ---------------------------------------------------------------------------- limits


def _big(limit: int) -> str:
    """An ASCII string whose compact JSON ("...") is exactly ``limit`` bytes."""
    return "x" * (limit - 2)


def test_an_insert_past_max_value_bytes_is_refused() -> None:
    limit = DEFAULT_LIMITS.max_value_bytes
    assert limit == 64 * 1024
    refuses({}, [{"p": ["v"], "oi": _big(limit) + "x"}])
    refuses({"l": []}, [{"p": ["l", 0], "li": [_big(limit)]}])  # [...] adds two bytes
    refuses({"s": ""}, [{"p": ["s", 0], "si": _big(limit) + "x"}])
    assert applies({}, [{"p": ["v"], "oi": _big(limit)}]) == {"v": _big(limit)}


@pytest.mark.parametrize(
    ("doc", "make"),
    [
        ({}, lambda v: [{"p": ["v"], "oi": v}]),
        ({"l": []}, lambda v: [{"p": ["l", 0], "li": v}]),
        ({"s": ""}, lambda v: [{"p": ["s", 0], "si": v}]),
        ({"v": "x"}, lambda v: [{"p": ["v"], "od": "x", "oi": v}]),
    ],
    ids=["oi", "li", "si", "od-oi"],
)
def test_max_value_bytes_of_a_custom_limits(doc: Any, make: Any) -> None:
    limits = Limits(max_value_bytes=10)
    refuses(doc, make("x" * 9), limits)  # "xxxxxxxxx" is 11 bytes
    assert applies(doc, make("x" * 8), DEFAULT_LIMITS)
    apply(doc, make("x" * 8), limits)  # 10 bytes: at the limit


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["v"], "od": "x" * 20}],
        [{"p": ["l", 0], "ld": "x" * 20}],
        [{"p": ["s", 0], "sd": "x" * 20}],
        [{"p": ["l", 0], "ld": "x" * 20, "li": 1}],
    ],
    ids=["od", "ld", "sd", "ld-li"],
)
def test_a_delete_past_max_value_bytes_is_refused(op: Op) -> None:
    doc = {"v": "x" * 20, "l": ["x" * 20], "s": "x" * 20}
    refuses(doc, op, Limits(max_value_bytes=10))
    applies(doc, op)


def test_too_many_components_are_refused() -> None:
    bump: Op = [{"p": ["n"], "na": 1}]
    assert applies({"n": 0}, bump * DEFAULT_LIMITS.max_components) == {"n": 256}
    refuses({"n": 0}, bump * (DEFAULT_LIMITS.max_components + 1))
    limits = Limits(max_components=2)
    assert applies({"n": 0}, bump * 2, limits) == {"n": 2}
    refuses({"n": 0}, bump * 3, limits)
    with pytest.raises(InvalidOp):
        check_op(bump * 3, limits)


def test_too_deep_values_are_refused() -> None:
    refuses({}, [{"p": ["v"], "oi": nested(40, 1)}])
    refuses({"l": []}, [{"p": ["l", 0], "li": nested(40, [])}])
    limits = Limits(max_depth=3)
    deep: list[Any] = [[[[[1]]]]]
    refuses({}, [{"p": ["v"], "oi": deep}], limits)
    assert applies({}, [{"p": ["v"], "oi": deep}]) == {"v": deep}
    assert applies({}, [{"p": ["v"], "oi": [[1]]}], limits) == {"v": [[1]]}


def test_too_deep_paths_are_refused() -> None:
    doc = nested(40, 1)
    refuses(doc, [{"p": ["a"] * 40, "na": 1}])
    with pytest.raises(InvalidOp):
        check_op([{"p": ["a"] * 40, "na": 1}])
    limits = Limits(max_depth=4)
    six = nested(6, 1)
    refuses(six, [{"p": ["a"] * 6, "na": 1}], limits)
    assert applies(six, [{"p": ["a"] * 6, "na": 1}]) == nested(6, 2)
    assert applies(six, [{"p": ["a"] * 4, "od": nested(2, 1)}], limits) == nested(3, {})


def test_keys_past_max_key_length_are_refused() -> None:
    long_key = "k" * (DEFAULT_LIMITS.max_key_length + 1)
    ok_key = "k" * DEFAULT_LIMITS.max_key_length
    refuses({}, [{"p": [long_key], "oi": 1}])
    refuses({}, [{"p": ["v"], "oi": {"a": {long_key: 1}}}])
    assert applies({}, [{"p": [ok_key], "oi": {ok_key: 1}}]) == {ok_key: {ok_key: 1}}
    limits = Limits(max_key_length=3)
    refuses({}, [{"p": ["abcd"], "oi": 1}], limits)
    refuses({}, [{"p": ["v"], "oi": [{"abcd": 1}]}], limits)
    assert applies({}, [{"p": ["abc"], "oi": {"abc": 1}}], limits) == {"abc": {"abc": 1}}


# ------------------------------------------------------------- shape of an op / component


@pytest.mark.parametrize(
    "component",
    [
        {"p": ["b"], "oi": 1, "x": 1},
        {"p": ["s"], "t": "text0", "o": [{"p": 0, "i": "x"}]},
        {"p": ["b"], "oi": 1, "t": "text0"},
        {"p": ["b"], "o": []},
        {"p": ["a"], "na": 1, "P": ["a"]},
        {"p": ["a"]},
        {"oi": 1},
    ],
    ids=["extra", "subtype", "oi-and-t", "o", "case", "no-instruction", "no-p"],
)
def test_unknown_keys_in_a_component_are_refused(component: dict[str, Any]) -> None:
    # each would be valid on this document without its unknown key
    refuses({"a": 1, "s": "ab"}, [component])
    with pytest.raises(InvalidOp):
        check_op([component])


@pytest.mark.parametrize(
    "component",
    [
        {"p": ["s", 0], "si": "x", "oi": 1},
        {"p": ["s", 0], "si": "x", "sd": "a"},
        {"p": ["n"], "na": 1, "oi": 1},
        {"p": ["l", 0], "li": 1, "oi": 1},
        {"p": ["l", 0], "ld": 1, "od": 1},
        {"p": ["l", 0], "lm": 0, "li": 1},
        {"p": ["l", 0], "lm": 0, "ld": 1},
        {"p": ["n"], "na": 1, "od": 1},
        {"p": ["l", 0], "li": 1, "od": 1},
    ],
    ids=["si-oi", "si-sd", "na-oi", "li-oi", "ld-od", "lm-li", "lm-ld", "na-od", "li-od"],
)
def test_two_instruction_sets_in_one_component_are_refused(component: dict[str, Any]) -> None:
    refuses({"s": "ab", "n": 1, "l": [1]}, [component])
    with pytest.raises(InvalidOp):
        check_op([component])


@pytest.mark.parametrize(
    "p", ["a", None, 0, {"0": "a"}, [], True], ids=["str", "null", "int", "dict", "empty", "bool"]
)
def test_p_not_a_non_empty_list_is_refused(p: Any) -> None:
    refuses({"a": 1}, [{"p": p, "na": 1}])
    with pytest.raises(InvalidOp):
        check_op([{"p": p, "na": 1}])


@pytest.mark.parametrize(
    "op",
    [None, {"p": ["a"], "na": 1}, "[]", 1, True, [None], ["p"], [[{"p": ["a"], "na": 1}]]],
    ids=["null", "a-bare-component", "str", "int", "bool", "null-component", "str-component",
         "nested-list"],
)  # fmt: skip
def test_an_op_that_is_not_a_list_of_components_is_refused(op: Any) -> None:
    refuses({"a": 1}, op)
    with pytest.raises(InvalidOp):
        check_op(op)


def test_an_empty_op_is_a_no_op() -> None:
    assert applies({"a": [1]}, []) == {"a": [1]}
    assert check_op([]) == []


# -------------------------------------------------------------------- UTF-16 offsets


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["s", 2], "si": "x"}],  # between \ud83d and \ude00
        [{"p": ["s", 2], "sd": "\ude00b"}],  # starts inside the pair
        [{"p": ["s", 0], "sd": "a\ud83d"}],  # ends inside the pair
        [{"p": ["s", 2], "sd": ""}],  # even an empty delete
        [{"p": ["s", 2], "si": ""}],  # even an empty insert
        [{"p": ["s", 5], "si": "x"}],  # past the end: the length is 4 units
    ],
    ids=["si", "sd-start", "sd-end", "sd-empty", "si-empty", "past-the-end"],
)
def test_a_string_offset_that_splits_a_surrogate_pair_is_refused(op: Op) -> None:
    refuses({"s": f"a{EMOJI}b"}, op)


def test_offsets_count_utf16_code_units() -> None:
    assert utf16_len(f"{EMOJI}x") == 3
    assert utf16_len("") == 0
    assert utf16_len("é中") == 2
    assert applies({"s": f"{EMOJI}x"}, [{"p": ["s", 2], "si": "y"}]) == {"s": f"{EMOJI}yx"}
    assert applies({"s": f"{EMOJI}x"}, [{"p": ["s", 3], "si": "y"}]) == {"s": f"{EMOJI}xy"}
    assert applies({"s": f"a{EMOJI}b"}, [{"p": ["s", 3], "si": EMOJI}]) == {
        "s": f"a{EMOJI}{EMOJI}b"
    }
    # sd of the emoji spans its two units: "b" is at 3 afterwards, not 2
    assert applies({"s": f"a{EMOJI}b"}, [{"p": ["s", 1], "sd": EMOJI}]) == {"s": "ab"}
    assert applies({"s": f"a{EMOJI}b"}, [{"p": ["s", 1], "sd": f"{EMOJI}b"}]) == {"s": "a"}
    assert applies({"s": f"a{EMOJI}b"}, [{"p": ["s", 3], "sd": "b"}]) == {"s": f"a{EMOJI}"}
    refuses({"s": f"a{EMOJI}b"}, [{"p": ["s", 2], "sd": "b"}])


def test_empty_si_and_sd_are_no_ops() -> None:
    assert applies({"s": "ab"}, [{"p": ["s", 1], "si": ""}]) == {"s": "ab"}
    assert applies({"s": "ab"}, [{"p": ["s", 2], "sd": ""}]) == {"s": "ab"}
    refuses({"s": "ab"}, [{"p": ["s", 3], "sd": ""}])


# ----------------------------------------------------------------- canonical numbers


def test_numbers_are_canonical() -> None:
    two = applies({"n": 1}, [{"p": ["n"], "na": 0.5}, {"p": ["n"], "na": 0.5}])
    assert _exactly(two) == '{"n": 2}'
    assert type(two["n"]) is int
    assert _exactly(applies({"n": 1.5}, [{"p": ["n"], "na": 1.5}])) == '{"n": 3}'
    assert _exactly(applies({"n": 0}, [{"p": ["n"], "na": -0.0}])) == '{"n": 0}'
    assert _exactly(applies({}, [{"p": ["v"], "oi": 3.0}])) == '{"v": 3}'
    assert _exactly(applies({}, [{"p": ["v"], "oi": -0.0}])) == '{"v": 0}'
    inserted = applies({"l": []}, [{"p": ["l", 0], "li": {"a": [1.0, 2.5, -0.0, {"b": 1e3}]}}])
    assert _exactly(inserted) == '{"l": [{"a": [1, 2.5, 0, {"b": 1000}]}]}'
    assert _exactly(check_op([{"p": ["v"], "oi": 3.0}])) == '[{"p": ["v"], "oi": 3}]'


# ------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize(
    "last",
    [
        {"p": ["d", "a"], "od": 99},  # od does not match
        {"p": ["l", 9], "li": 0},  # past the end
        {"p": ["d", "a"], "oi": 1, "x": 1},  # unknown key
        {"p": ["n"], "na": MAX_SAFE},  # result out of range
        {"p": ["l", 0, "z"], "oi": 1},  # valid on the input, but l[0] is "x" by now
    ],
    ids=["od-mismatch", "li-past-end", "unknown-key", "na-range", "depends-on-first"],
)
def test_a_multi_component_op_whose_last_component_fails_changes_nothing(
    last: dict[str, Any],
) -> None:
    doc: dict[str, Any] = {"l": [{"y": 1}, 2], "d": {"a": 1}, "n": 1, "s": "ab"}
    lst, dct = doc["l"], doc["d"]
    first: Op = [
        {"p": ["l", 0], "li": "x"},
        {"p": ["d", "b"], "oi": 2},
        {"p": ["n"], "na": 1},
        {"p": ["s", 1], "si": "z"},
        {"p": ["d", "a"], "od": 1, "oi": 5},
    ]
    refuses(doc, [*first, last])
    assert doc == {"l": [{"y": 1}, 2], "d": {"a": 1}, "n": 1, "s": "ab"}
    assert doc["l"] is lst
    assert lst == [{"y": 1}, 2]
    assert doc["d"] is dct
    assert dct == {"a": 1}
    # without the failing component, the same op applies
    assert applies(doc, first) == {
        "l": ["x", {"y": 1}, 2],
        "d": {"b": 2, "a": 5},
        "n": 2,
        "s": "azb",
    }


def test_components_apply_in_order() -> None:
    op: Op = [
        {"p": ["x"], "oi": []},
        {"p": ["x", 0], "li": "ab"},
        {"p": ["x", 0, 1], "si": "c"},
        {"p": ["x", 0], "ld": "acb"},
    ]
    assert applies({}, op) == {"x": []}


# ------------------------------------------------------ a new document, inputs untouched


BASE: dict[str, Any] = {
    "a": {"b": [1, {"c": "xy"}, ["p", "q"]], "n": 1, "d": {"k": 1}},
    "other": {"z": [1]},
}


@pytest.mark.parametrize(
    ("op", "expected_a"),
    [
        ([{"p": ["a", "b", 0], "li": 0}], {"b": [0, 1, {"c": "xy"}, ["p", "q"]]}),
        ([{"p": ["a", "b", 0], "ld": 1}], {"b": [{"c": "xy"}, ["p", "q"]]}),
        ([{"p": ["a", "b", 0], "ld": 1, "li": 2}], {"b": [2, {"c": "xy"}, ["p", "q"]]}),
        ([{"p": ["a", "b", 0], "lm": 2}], {"b": [{"c": "xy"}, ["p", "q"], 1]}),
        ([{"p": ["a", "b", 2, 1], "lm": 0}], {"b": [1, {"c": "xy"}, ["q", "p"]]}),
        ([{"p": ["a", "b", 1, "e"], "oi": 0}], {"b": [1, {"c": "xy", "e": 0}, ["p", "q"]]}),
        ([{"p": ["a", "b", 1, "c"], "od": "xy"}], {"b": [1, {}, ["p", "q"]]}),
        ([{"p": ["a", "b", 1, "c"], "od": "xy", "oi": 3}], {"b": [1, {"c": 3}, ["p", "q"]]}),
        ([{"p": ["a", "b", 1, "c", 1], "si": "!"}], {"b": [1, {"c": "x!y"}, ["p", "q"]]}),
        ([{"p": ["a", "b", 1, "c", 0], "sd": "x"}], {"b": [1, {"c": "y"}, ["p", "q"]]}),
        ([{"p": ["a", "d", "k"], "na": 2}], {"d": {"k": 3}}),
    ],
    ids=["li", "ld", "ld-li", "lm", "lm-nested", "oi", "od", "od-oi", "si", "sd", "na"],
)
def test_apply_returns_a_new_document_and_never_modifies_its_input(
    op: Op, expected_a: dict[str, Any]
) -> None:
    doc = copy.deepcopy(BASE)
    before = copy.deepcopy(doc)
    op_before = copy.deepcopy(op)
    result = apply(doc, op)
    assert result == {**before, "a": {**before["a"], **expected_a}}
    assert doc == before
    assert _exactly(doc) == _exactly(before)
    assert op == op_before
    # every container on the path is a new one (the parts off the path may be shared)
    path = op[0]["p"]
    on_path = len(path) - (1 if "si" in op[0] or "sd" in op[0] else 0)
    old, new = doc, result
    for depth in range(on_path):
        assert new is not old, path[:depth]
        if depth < on_path - 1:
            old, new = old[path[depth]], new[path[depth]]


def test_transform_compose_invert_normalize_do_not_modify_their_arguments() -> None:
    ops: list[Op] = [
        [{"p": ["a", 0], "ld": {"x": [1]}, "li": {"y": [2]}}, {"p": ["s", 1], "si": "ab"}],
        [{"p": ["a", 0, "x", 0], "na": 2}, {"p": ["s", 0], "sd": "q"}],
        [{"p": ["a", 0], "lm": 1}, {"p": ["o"], "od": {"k": [1]}, "oi": {"k": [2]}}],
        [{"p": ["a", 1], "li": [1, {"z": 1}]}, {"p": ["o", "k", 0], "ld": 1}],
        [{"p": ["o"], "od": {"k": [1]}}, {"p": ["s", 1], "si": "c"}, {"p": ["s", 2], "si": "d"}],
    ]
    snapshot = copy.deepcopy(ops)
    for a in ops:
        invert(a)
        normalize(a)
        for b in ops:
            compose(a, b)
            transform(a, b, "left")
            transform(a, b, "right")
            transform_x(a, b)
    assert ops == snapshot
    assert _exactly(ops) == _exactly(snapshot)


@pytest.mark.parametrize("depth", [300, 1000])
def test_ot_functions_on_a_very_deep_value_give_a_result_or_invalid_op(depth: int) -> None:
    # a request body may nest ~1000 levels (orjson parses up to 1024); apply refuses such
    # a value (max_depth), and transform, compose, invert and normalize, which take no
    # limits, give a result (as the reference does) or InvalidOp: never another exception
    value: Any = 1
    for _ in range(depth):
        value = [value]
    op: Op = [{"p": ["a"], "oi": value}]
    other: Op = [{"p": ["b"], "oi": 1}]
    refuses({}, op)
    for run in (
        lambda: transform(op, other, "left"),
        lambda: transform(other, op, "right"),
        lambda: transform_x(op, other),
        lambda: compose(op, other),
        lambda: invert(op),
        lambda: normalize(op),
    ):
        with contextlib.suppress(InvalidOp):
            run()


def test_a_transformed_op_past_the_client_limits_applies_with_server_limits() -> None:
    # a deletion grows with the concurrent edits it now includes: past max_value_bytes,
    # though both ops were within it; the server applies its rebased ops with SERVER_LIMITS
    doc = {"k": "x" * 60_000}
    a: Op = [{"p": ["k"], "od": "x" * 60_000}]
    b: Op = [{"p": ["k", 0], "si": "y" * 10_000}]
    applies(doc, a)
    after_b = applies(doc, b)
    rebased = transform(a, b, "left")
    assert rebased == [{"p": ["k"], "od": "y" * 10_000 + "x" * 60_000}]
    refuses(after_b, rebased)
    assert applies(after_b, rebased, SERVER_LIMITS) == {}
    # an sd split in two by an insert: one component more than the client sent
    limits = Limits(max_components=1)
    split = transform([{"p": ["s", 0], "sd": "ab"}], [{"p": ["s", 1], "si": "x"}], "left")
    assert len(split) == 2
    refuses({"s": "axb"}, split, limits)
    assert applies({"s": "axb"}, split, SERVER_LIMITS) == {"s": "x"}
    # nesting stays limited (within what JSON encoding takes)
    deep: Any = 1
    for _ in range(SERVER_LIMITS.max_depth + 1):
        deep = [deep]
    refuses({}, [{"p": ["v"], "oi": deep}], SERVER_LIMITS)
