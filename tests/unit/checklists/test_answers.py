"""The pure rules of answers (no I/O): save and submit validation, visibility,
conditions, score, failed critical items, diffs, clearance and the planned date."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prework.checklists.answers import (
    ITEM_CODES,
    Evaluation,
    ItemProblem,
    condition_holds,
    diff_answers,
    evaluate,
    value_problems,
)
from prework.checklists.clearance import (
    CLEARANCE_CODES,
    Reason,
    clearance_reasons,
    planned_date_in,
)
from prework.checklists.models import definition_problems
from prework.checklists.schemas import Definition
from prework.media.lookup import MEDIA_CODES

M1, M2, M3, M4, M5, M6 = (f"{n:032x}" for n in range(1, 7))
CHOICES = [{"value": v, "label": v.upper()} for v in ("a", "b", "c")]


def template(*sections: list[dict[str, Any]]) -> dict[str, Any]:
    """A definition of ``sections`` (lists of items), checked valid by the schema and
    the rules, returned as given (defaults absent, as a stored one may be)."""
    labelled = [[{"label": f"Item {item['id']}", **item} for item in items] for items in sections]
    d = {
        "sections": [
            {"id": f"s{n}", "title": f"S{n}", "items": items} for n, items in enumerate(labelled)
        ]
    }
    assert definition_problems(d) == []
    Definition.model_validate(d)
    return d


def stored(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` as the schema stores it (every default present)."""
    return Definition.model_validate(d).stored()


def codes(d: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.item_id, p.code) for p in value_problems(d, values)]


def entries(**values: Any) -> dict[str, dict[str, Any]]:
    return {
        k: {"value": v, "by": "u1", "at": "2026-01-01T00:00:00.000000Z"} for k, v in values.items()
    }


def submit_codes(d: dict[str, Any], **values: Any) -> list[tuple[str, str]]:
    return [(p.item_id, p.code) for p in evaluate(d, entries(**values)).problems]


# --------------------------------------------------------------------------- save: one rule each
ITEMS: dict[str, dict[str, Any]] = {
    "checkbox": {"type": "checkbox"},
    "yes_no_na": {"type": "yes_no_na"},
    "yes_no": {"type": "yes_no_na", "allow_na": False},
    "text": {"type": "text"},
    "short": {"type": "text", "max_length": 3},
    "lines": {"type": "text", "multiline": True},
    "number": {"type": "number"},
    "ranged": {"type": "number", "min": -2, "max": 5, "decimals": 1},
    "fine": {"type": "number", "decimals": 6},
    "single": {"type": "single_choice", "choices": CHOICES},
    "multiple": {"type": "multiple_choice", "choices": CHOICES},
    "limited": {
        "type": "multiple_choice",
        "choices": CHOICES,
        "min_selected": 2,
        "max_selected": 2,
    },
    "date": {"type": "date"},
    "time": {"type": "time"},
    "photo": {"type": "photo"},
    "photo2": {"type": "photo", "min_count": 2, "max_count": 3},
    "signature": {"type": "signature"},
    "read": {"type": "instruction", "text": "Read the permit."},
}
ALL = template([{"id": k, **v} for k, v in ITEMS.items()])

VALID: list[tuple[str, Any]] = [
    ("checkbox", True),
    ("checkbox", False),
    ("yes_no_na", "yes"),
    ("yes_no_na", "no"),
    ("yes_no_na", "na"),
    ("yes_no", "no"),
    ("text", ""),
    ("text", "x" * 2000),  # the default max_length
    ("text", "tab\there"),
    ("text", "émoji 👩‍💻 and ümlaut"),
    ("text", "DEL \x7f and C1 \x85 are not C0"),
    ("short", "abc"),
    ("lines", "two\nlines\tand a tab"),
    ("number", 0),
    ("number", -7),
    ("number", 1e15),
    ("number", -1e15),
    ("number", 100.0),  # decimals 0: an integral float is fine
    ("ranged", -2),  # bounds included
    ("ranged", 5),
    ("ranged", 1.1),
    ("ranged", 1.10),
    ("ranged", 4.5),
    ("fine", 0.000001),
    ("fine", 1.234567),
    ("single", "b"),
    ("multiple", []),
    ("multiple", ["c", "a"]),
    ("multiple", ["a", "b", "c"]),
    ("limited", ["a"]),  # the minimum is a submit rule
    ("date", "2024-02-29"),
    ("date", "0001-01-01"),
    ("time", "00:00"),
    ("time", "23:59"),
    ("time", "09:05"),
    ("photo", []),
    ("photo", [M1]),
    ("photo", [M1, M2, M3, M4, M5]),  # the default max_count
    ("photo2", [M1]),  # the minimum is a submit rule
    ("signature", M1),
]


@pytest.mark.parametrize(("item_id", "value"), VALID)
def test_a_valid_answer_has_no_problem(item_id: str, value: Any) -> None:
    assert value_problems(ALL, {item_id: value}) == []
    assert value_problems(stored(ALL), {item_id: value}) == []


INVALID: list[tuple[str, Any, str]] = [
    ("checkbox", 1, "wrong_type"),
    ("checkbox", "true", "wrong_type"),
    ("checkbox", [True], "wrong_type"),
    ("yes_no_na", True, "wrong_type"),
    ("yes_no_na", "YES", "not_a_choice"),
    ("yes_no_na", "maybe", "not_a_choice"),
    ("yes_no", "na", "not_a_choice"),
    ("text", 5, "wrong_type"),
    ("text", ["a"], "wrong_type"),
    ("text", "x" * 2001, "too_long"),
    ("text", "x" * 2_000_000, "too_long"),  # a 2 MB answer
    ("short", "abcd", "too_long"),
    ("text", "one\ntwo", "invalid_text"),  # not multiline
    ("text", "nul\x00", "invalid_text"),
    ("text", "cr\r", "invalid_text"),
    ("text", "esc\x1b[31m", "invalid_text"),
    ("text", "lone \ud800 surrogate", "invalid_text"),
    ("lines", "bell\x07", "invalid_text"),
    ("lines", "crlf\r\n", "invalid_text"),
    ("number", True, "wrong_type"),
    ("number", False, "wrong_type"),
    ("number", "3", "wrong_type"),
    ("number", [3], "wrong_type"),
    ("number", math.nan, "wrong_type"),
    ("number", math.inf, "wrong_type"),
    ("number", -math.inf, "wrong_type"),
    ("number", 1.5, "too_precise"),  # decimals default 0
    ("number", 1e16, "out_of_range"),  # past the template bound of +-10^15
    ("number", 10**20, "out_of_range"),
    ("number", -(10**400), "out_of_range"),
    ("ranged", -2.1, "out_of_range"),
    ("ranged", 5.01, "out_of_range"),
    ("ranged", 1.25, "too_precise"),
    ("ranged", 0.1 + 0.2, "too_precise"),  # 0.30000000000000004
    ("fine", 1e-7, "too_precise"),
    ("single", "z", "not_a_choice"),
    ("single", "A", "not_a_choice"),
    ("single", ["a"], "wrong_type"),
    ("single", 1, "wrong_type"),
    ("multiple", "a", "wrong_type"),
    ("multiple", {"a": True}, "wrong_type"),
    ("multiple", ["a", "z"], "not_a_choice"),
    ("multiple", [1], "not_a_choice"),
    ("multiple", [["a"]], "not_a_choice"),
    ("multiple", ["a", "b", "a"], "duplicate_choice"),
    ("limited", ["a", "b", "c"], "too_many_selected"),
    ("date", 20240229, "wrong_type"),
    ("date", "2023-02-29", "invalid_date"),
    ("date", "2024-13-01", "invalid_date"),
    ("date", "2024-2-1", "invalid_date"),
    ("date", "20240201", "invalid_date"),
    ("date", "2024-02-01T00:00", "invalid_date"),
    ("date", "\uff12\uff10\uff12\uff14-02-01", "invalid_date"),  # fullwidth digits
    ("date", "0000-01-01", "invalid_date"),
    ("time", 930, "wrong_type"),
    ("time", "24:00", "invalid_time"),
    ("time", "12:60", "invalid_time"),
    ("time", "7:30", "invalid_time"),
    ("time", "07:30:00", "invalid_time"),
    ("time", "07:30 ", "invalid_time"),
    ("time", "\u0660\u0667:\u0663\u0660", "invalid_time"),  # Arabic-Indic digits
    ("photo", M1, "wrong_type"),
    ("photo", [M1, M1], "duplicate_media_id"),
    ("photo", ["ABCDEF" + M1[6:]], "invalid_media_id"),
    ("photo", [M1[:-1]], "invalid_media_id"),
    ("photo", [M1 + "0"], "invalid_media_id"),
    ("photo", [7], "invalid_media_id"),
    ("photo", [M1, M2, M3, M4, M5, M6], "too_many_photos"),
    ("photo2", [M1, M2, M3, M4], "too_many_photos"),
    ("signature", [M1], "wrong_type"),
    ("signature", "g" * 32, "invalid_media_id"),
    ("signature", M1 + "\n", "invalid_media_id"),
    ("read", "ok", "not_answerable"),
    ("read", None, "not_answerable"),
]


@pytest.mark.parametrize(("item_id", "value", "code"), INVALID)
def test_an_invalid_answer_is_named_with_its_code(item_id: str, value: Any, code: str) -> None:
    assert codes(ALL, {item_id: value}) == [(item_id, code)]
    assert codes(stored(ALL), {item_id: value}) == [(item_id, code)]


def test_every_problem_has_a_known_code_and_a_message_without_the_answer() -> None:
    secret = "s3cr3t-value-" + "x" * 3000
    for item_id, value, _ in [*INVALID, ("text", secret, "")]:
        for problem in value_problems(ALL, {item_id: value}):
            assert problem.code in ITEM_CODES
            assert problem.message
            assert "s3cr3t" not in problem.message


def test_none_removes_an_answer_of_any_answerable_item() -> None:
    answerable = [k for k in ITEMS if k != "read"]
    assert value_problems(ALL, dict.fromkeys(answerable)) == []


def test_save_problems_come_in_document_order_then_unknown_ids_sorted() -> None:
    d = template(
        [{"id": "first", "type": "checkbox"}, {"id": "second", "type": "number"}],
        [{"id": "third", "type": "date"}],
    )
    values = {"zz": 1, "third": "x", "nope": 2, "second": "1", "first": 0}
    assert codes(d, values) == [
        ("first", "wrong_type"),
        ("second", "wrong_type"),
        ("third", "invalid_date"),
        ("nope", "unknown_item"),
        ("zz", "unknown_item"),
    ]


def test_save_ignores_visibility_required_and_minimums() -> None:
    d = template(
        [
            {"id": "a", "type": "checkbox"},
            {
                "id": "b",
                "type": "multiple_choice",
                "choices": CHOICES,
                "min_selected": 3,
                "required": True,
                "visible_when": {"op": "equals", "item": "a", "value": True},
            },
        ]
    )
    assert value_problems(d, {"a": False, "b": ["a"]}) == []


def test_item_problem_as_dict() -> None:
    problem = ItemProblem("q1", "too_long", "at most 3 characters")
    assert problem.as_dict() == {
        "item_id": "q1",
        "code": "too_long",
        "message": "at most 3 characters",
    }


# --------------------------------------------------------------------------- conditions
def test_equals_on_a_multiple_choice_means_includes() -> None:
    eq = {"op": "equals", "item": "m", "value": "a"}
    ne = {"op": "not_equals", "item": "m", "value": "a"}
    anyof = {"op": "any_of", "item": "m", "values": ["b", "c"]}
    assert condition_holds(eq, {"m": ["c", "a"]})
    assert not condition_holds(eq, {"m": ["b"]})
    assert condition_holds(ne, {"m": ["b"]})
    assert not condition_holds(ne, {"m": ["a", "b"]})
    assert condition_holds(anyof, {"m": ["a", "c"]})
    assert not condition_holds(anyof, {"m": ["a"]})


def test_scalar_comparisons_are_type_strict() -> None:
    def eq(value: Any, answer: Any) -> bool:
        return condition_holds({"op": "equals", "item": "x", "value": value}, {"x": answer})

    assert eq(True, True)
    assert not eq(True, False)
    assert not eq(1, True)
    assert not eq(True, 1)
    assert not eq(0, False)
    assert eq(1, 1.0)
    assert eq("yes", "yes")
    assert not eq("1", 1)
    assert condition_holds({"op": "any_of", "item": "x", "values": [1, 2]}, {"x": 2.0})
    assert not condition_holds({"op": "any_of", "item": "x", "values": [1, 2]}, {"x": True})


@pytest.mark.parametrize("missing", [{}, {"x": None}, {"x": []}, {"x": ""}, {"x": "  \n"}])
def test_every_comparison_with_no_answer_is_false(missing: dict[str, Any]) -> None:
    for cond in (
        {"op": "equals", "item": "x", "value": "a"},
        {"op": "not_equals", "item": "x", "value": "a"},
        {"op": "any_of", "item": "x", "values": ["a"]},
        {"op": "in_range", "item": "x", "min": 0},
        {"op": "outside_range", "item": "x", "min": 0, "max": 1},
    ):
        assert not condition_holds(cond, missing), cond


def test_ranges_include_their_bounds() -> None:
    inside = {"op": "in_range", "item": "n", "min": 1, "max": 5}
    outside = {"op": "outside_range", "item": "n", "min": 1, "max": 5}
    for value, within in [
        (0.999, False),
        (1, True),
        (1.0, True),
        (3, True),
        (5, True),
        (5.001, False),
    ]:
        assert condition_holds(inside, {"n": value}) is within, value
        assert condition_holds(outside, {"n": value}) is not within, value
    assert condition_holds({"op": "in_range", "item": "n", "min": 2}, {"n": 1e15})
    assert not condition_holds({"op": "in_range", "item": "n", "max": 2}, {"n": 2.5})
    assert condition_holds({"op": "outside_range", "item": "n", "max": 2}, {"n": 2.5})


@pytest.mark.parametrize("answer", [True, "3", [3], {"n": 3}, math.nan, math.inf])
def test_ranges_hold_only_for_numbers(answer: Any) -> None:
    assert not condition_holds({"op": "in_range", "item": "n", "min": 0}, {"n": answer})
    assert not condition_holds({"op": "outside_range", "item": "n", "max": -1}, {"n": answer})


def test_groups_nest() -> None:
    values = {"a": True, "b": "no", "n": 7}
    cond = {
        "op": "all",
        "conditions": [
            {"op": "equals", "item": "a", "value": True},
            {
                "op": "any",
                "conditions": [
                    {"op": "equals", "item": "b", "value": "yes"},
                    {"op": "in_range", "item": "n", "min": 5},
                ],
            },
        ],
    }
    assert condition_holds(cond, values)
    assert not condition_holds(cond, {**values, "n": 4})
    assert not condition_holds(cond, {**values, "a": False})
    assert condition_holds(cond, {**values, "n": 4, "b": "yes"})


def test_fail_when_compares_the_items_own_value() -> None:
    cond = {"op": "outside_range", "min": 19.5, "max": 23.5}
    assert condition_holds(cond, {}, own_value=19.4)
    assert not condition_holds(cond, {}, own_value=19.5)
    assert not condition_holds(cond, {"x": 1})  # no own value: no answer
    assert condition_holds({"op": "equals", "value": "no"}, {"o": "yes"}, own_value="no")


# --------------------------------------------------------------------------- submit
CHAIN = template(
    [
        {"id": "a", "type": "checkbox"},
        {
            "id": "b",
            "type": "yes_no_na",
            "required": True,
            "visible_when": {"op": "equals", "item": "a", "value": True},
        },
    ],
    [
        {
            "id": "c",
            "type": "text",
            "required": True,
            "visible_when": {"op": "equals", "item": "b", "value": "yes"},
        },
        {
            "id": "d",
            "type": "checkbox",
            "visible_when": {"op": "not_equals", "item": "b", "value": "yes"},
        },
        {"id": "e", "type": "number"},
    ],
)


def test_a_hidden_answer_is_cleared_before_later_conditions_see_it() -> None:
    answers = entries(a=False, b="yes", c="isolated", d=True, e=3)
    result = evaluate(CHAIN, answers)
    assert result.cleared == ("b", "c", "d")  # b hidden, so c and d see no answer of b
    assert set(result.answers) == {"a", "e"}
    assert result.answers["a"] == answers["a"]  # kept entries are the input's
    assert result.visible == {"a", "e"}
    assert result.problems == ()  # hidden required items need no answer
    assert result.ok


def test_a_visible_chain_keeps_its_answers_and_needs_its_required_ones() -> None:
    result = evaluate(CHAIN, entries(a=True, b="yes", d=True))
    assert result.cleared == ("d",)
    assert result.visible == {"a", "b", "c", "e"}
    assert [(p.item_id, p.code) for p in result.problems] == [("c", "required")]
    assert not result.ok
    result = evaluate(CHAIN, entries(a=True, b="no", c="x", d=True))
    assert result.cleared == ("c",)
    assert set(result.answers) == {"a", "b", "d"}


def test_a_hidden_items_invalid_answer_is_cleared_not_reported() -> None:
    result = evaluate(CHAIN, entries(a=False, b="maybe", c=5))
    assert result.problems == ()
    assert result.cleared == ("b", "c")


def test_an_invalid_answer_does_not_satisfy_a_later_condition() -> None:
    result = evaluate(CHAIN, entries(a=True, b="YES", c="x"))
    assert [(p.item_id, p.code) for p in result.problems] == [("b", "not_a_choice")]
    assert result.cleared == ("c",)
    assert "d" not in result.visible  # b has no valid answer: not_equals is false too


def test_required_counts_a_blank_text_empty_list_and_none_as_no_answer() -> None:
    d = template(
        [
            {"id": "t", "type": "text", "required": True},
            {"id": "m", "type": "multiple_choice", "choices": CHOICES, "required": True},
            {"id": "p", "type": "photo", "required": True},
            {"id": "c", "type": "checkbox", "required": True},
            {"id": "n", "type": "number", "required": True},
        ]
    )
    assert submit_codes(d, t=" \t  ", m=[], p=[], c=None) == [
        ("t", "required"),
        ("m", "required"),
        ("p", "required"),
        ("c", "required"),
        ("n", "required"),
    ]
    assert submit_codes(d, t="ok", m=["a"], p=[M1], c=False, n=0) == []


def test_minimum_counts_apply_at_submit() -> None:
    d = template(
        [
            {"id": "m2", "type": "multiple_choice", "choices": CHOICES, "min_selected": 2},
            {
                "id": "rm2",
                "type": "multiple_choice",
                "choices": CHOICES,
                "min_selected": 2,
                "required": True,
            },
            {
                "id": "rm0",
                "type": "multiple_choice",
                "choices": CHOICES,
                "min_selected": 0,
                "required": True,
            },
            {"id": "p2", "type": "photo", "min_count": 2},
            {"id": "rp2", "type": "photo", "min_count": 2, "required": True},
        ]
    )
    # not required: no selection is fine, some but too few is not
    assert submit_codes(d, m2=[], rm2=["a", "b"], rm0=["a"], p2=[], rp2=[M1, M2]) == []
    assert submit_codes(d, m2=["a"], rm2=["a"], rm0=[], p2=[M1], rp2=[M1]) == [
        ("m2", "too_few_selected"),
        ("rm2", "too_few_selected"),
        ("rm0", "required"),  # a required multiple choice needs at least one
        ("p2", "too_few_photos"),
        ("rp2", "too_few_photos"),
    ]
    assert submit_codes(d, rm2=[], rm0=["c"], rp2=[]) == [("rm2", "required"), ("rp2", "required")]


def test_submit_reports_every_problem_at_once_in_document_order() -> None:
    d = template(
        [
            {"id": "a", "type": "number", "max": 3},
            {"id": "r", "type": "instruction", "text": "Read"},
        ],
        [{"id": "b", "type": "date", "required": True}, {"id": "c", "type": "time"}],
    )
    answers: dict[str, Any] = {**entries(a=4, r="read", c="25:00", zz=1, aa=2), "b": "not an entry"}
    result = evaluate(d, answers)
    assert [(p.item_id, p.code) for p in result.problems] == [
        ("a", "out_of_range"),
        ("r", "not_answerable"),
        ("b", "invalid_entry"),
        ("c", "invalid_time"),
        ("aa", "unknown_item"),
        ("zz", "unknown_item"),
    ]
    assert result.visible == {"a", "b", "c"}  # instructions take no answer
    assert set(result.answers) == set(answers)  # nothing hidden: every entry kept


def test_submit_value_problems_agree_with_save() -> None:
    values = {item_id: value for item_id, value, _ in INVALID if item_id != "read"}
    saved = value_problems(ALL, values)
    submitted = evaluate(ALL, entries(**values)).problems
    assert [p for p in submitted if p.code != "required"] == saved


def test_an_entry_without_a_value_is_no_answer() -> None:
    d = template([{"id": "a", "type": "checkbox", "required": True}])
    assert [(p.item_id, p.code) for p in evaluate(d, {"a": {"by": "u1"}}).problems] == [
        ("a", "required")
    ]


SCORED = template(
    [
        {
            "id": "iso",
            "type": "yes_no_na",
            "critical": True,
            "fail_when": {"op": "equals", "value": "no"},
            "weight": 5,
        },
        {
            "id": "o2",
            "type": "number",
            "decimals": 1,
            "critical": True,
            "fail_when": {"op": "outside_range", "min": 19.5, "max": 23.5},
            "weight": 3,
            "visible_when": {"op": "equals", "item": "iso", "value": "yes"},
        },
        {"id": "gloves", "type": "checkbox", "weight": 2},
        {"id": "note", "type": "text", "weight": 1},
        {"id": "plain", "type": "yes_no_na"},
        {"id": "zero", "type": "checkbox", "weight": 0},
    ]
)


def test_score_is_passing_weight_over_answered_weight() -> None:
    result = evaluate(SCORED, entries(iso="yes", o2=18.0, gloves=False, note="na", plain="no"))
    assert result.failed_critical == ("o2",)
    assert result.score_weight == 5 + 3 + 2 + 1  # text "na" is an answer like any other
    assert result.passed_weight == 5 + 2 + 1
    assert result.score == pytest.approx(8 / 11)
    assert result.ok  # a failing critical item is not a problem: it flags the submission


def test_score_excludes_na_hidden_unanswered_and_unweighted() -> None:
    result = evaluate(SCORED, entries(iso="na", o2=21.0, gloves=True, note=" ", plain="yes"))
    assert result.cleared == ("o2",)  # o2 shows only when iso is yes
    assert result.failed_critical == ()
    assert (result.score_weight, result.passed_weight, result.score) == (2, 2, 1.0)


def test_a_failing_critical_answer_scores_zero() -> None:
    result = evaluate(SCORED, entries(iso="no"))
    assert result.failed_critical == ("iso",)
    assert result.cleared == ()
    assert "o2" not in result.visible
    assert (result.score_weight, result.passed_weight, result.score) == (5, 0, 0.0)


def test_no_counted_weight_means_no_score() -> None:
    assert evaluate(SCORED, {}).score is None
    nothing = evaluate(SCORED, entries(iso="na", zero=True, plain="yes"))
    assert (nothing.score, nothing.score_weight, nothing.passed_weight) == (None, 0, 0)


def test_critical_items_fail_only_when_visible_and_validly_answered() -> None:
    d = template(
        [
            {"id": "gate", "type": "checkbox"},
            {
                "id": "crit",
                "type": "yes_no_na",
                "critical": True,
                "fail_when": {"op": "any_of", "values": ["no", "na"]},
                "visible_when": {"op": "equals", "item": "gate", "value": True},
            },
            {
                "id": "pick",
                "type": "multiple_choice",
                "choices": CHOICES,
                "critical": True,
                "fail_when": {"op": "equals", "value": "b"},
            },
        ]
    )
    assert evaluate(d, entries(gate=True, crit="na", pick=["a", "b"])).failed_critical == (
        "crit",
        "pick",
    )
    assert evaluate(d, entries(gate=False, crit="no", pick=["a"])).failed_critical == ()
    assert evaluate(d, entries(gate=True, pick=["c"])).failed_critical == ()
    assert evaluate(d, entries(gate=True, crit="nope")).failed_critical == ()


def test_the_stored_form_evaluates_as_the_given_form() -> None:
    for d, answers in [
        (CHAIN, entries(a=True, b="yes", c="x", d=True, e=1.5)),
        (SCORED, entries(iso="yes", o2=20.25, gloves=True)),
        (ALL, entries(**dict(VALID))),
    ]:
        assert evaluate(d, answers) == evaluate(stored(d), answers)


# --------------------------------------------------------------------------- properties
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(["yes", "no", "na", "a", "b", M1, "2024-01-01", "12:00"]),
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)
PROP = template(
    [{"id": k, **v} for k, v in ITEMS.items()],
    [
        {
            "id": "g1",
            "type": "checkbox",
            "visible_when": {"op": "equals", "item": "checkbox", "value": True},
        },
        {
            "id": "g2",
            "type": "number",
            "weight": 2,
            "critical": True,
            "fail_when": {"op": "in_range", "min": 3},
            "visible_when": {
                "op": "any",
                "conditions": [
                    {"op": "equals", "item": "g1", "value": True},
                    {"op": "any_of", "item": "multiple", "values": ["a", "b"]},
                ],
            },
        },
        {
            "id": "g3",
            "type": "yes_no_na",
            "weight": 1,
            "required": True,
            "visible_when": {"op": "outside_range", "item": "g2", "min": 0, "max": 10},
        },
    ],
)
IDS = [item["id"] for section in PROP["sections"] for item in section["items"]]
ENTRY = st.builds(lambda v: {"value": v, "by": "u", "at": "t"}, JSON) | JSON
ANSWERS = st.dictionaries(st.sampled_from([*IDS, "unknown", "x"]), ENTRY, max_size=len(IDS))
QUICK = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _hidden(d: dict[str, Any], result: Evaluation) -> set[str]:
    answerable = {i["id"] for s in d["sections"] for i in s["items"] if i["type"] != "instruction"}
    return answerable - result.visible


@QUICK
@given(ANSWERS)
def test_evaluate_never_raises_and_never_keeps_a_hidden_answer(answers: dict[str, Any]) -> None:
    result = evaluate(PROP, answers)
    hidden = _hidden(PROP, result)
    assert not hidden & set(result.answers)
    assert set(result.cleared) == hidden & set(answers)
    assert set(result.answers) | set(result.cleared) == set(answers)
    assert {p.code for p in result.problems} <= ITEM_CODES
    assert set(result.failed_critical) <= result.visible
    assert 0 <= result.passed_weight <= result.score_weight
    assert result.score is None or 0 <= result.score <= 1


@QUICK
@given(st.dictionaries(st.sampled_from([*IDS, "unknown"]), JSON))
def test_value_problems_never_raise_and_name_only_given_items(values: dict[str, Any]) -> None:
    problems = value_problems(PROP, values)
    assert {p.item_id for p in problems} <= set(values)
    assert {p.code for p in problems} <= ITEM_CODES
    assert len({p.item_id for p in problems}) == len(problems)


@QUICK
@given(st.dictionaries(st.sampled_from(IDS), JSON))
def test_a_saved_answer_set_only_meets_submit_rules_at_submit(values: dict[str, Any]) -> None:
    valid = {k: v for k, v in values.items() if not value_problems(PROP, {k: v})}
    submit_only = {"required", "too_few_selected", "too_few_photos"}
    assert {p.code for p in evaluate(PROP, entries(**valid)).problems} <= submit_only


def test_every_item_code_is_reachable() -> None:
    seen = {code for _, _, code in INVALID}
    seen |= {"unknown_item", "invalid_entry", "required", "too_few_selected", "too_few_photos"}
    # the files an answer names are looked up in the store: tests/api/media reaches each
    seen |= MEDIA_CODES
    assert seen == ITEM_CODES


# --------------------------------------------------------------------------- diff
def test_diff_names_added_removed_and_changed_values_sorted() -> None:
    old = entries(a=True, b="yes", c=1, d=["x", "y"], e=3, f="same", g=None)
    new = {**entries(a=1, c=1.0, d=["y", "x"], f="same", z="new", y=[], g="now"), "b": {"by": "u"}}
    new["f"] = {"value": "same", "by": "someone else", "at": "later"}
    assert diff_answers(old, new) == {
        "added": ["g", "y", "z"],
        "removed": ["b", "e"],
        "changed": ["a", "d"],  # True is not 1; 1 is 1.0; list order matters
    }
    assert diff_answers(new, new) == {"added": [], "removed": [], "changed": []}


def test_diff_compares_nested_values_at_any_depth() -> None:
    deep: Any = "leaf"
    for _ in range(5000):
        deep = [deep]
    other: Any = "other"
    for _ in range(5000):
        other = [other]
    assert diff_answers(entries(a=deep), entries(a=deep))["changed"] == []
    assert diff_answers(entries(a=deep), entries(a=other))["changed"] == ["a"]
    assert diff_answers(entries(a={"k": [1, {"x": True}]}), entries(a={"k": [1, {"x": 1}]}))[
        "changed"
    ] == ["a"]


# --------------------------------------------------------------------------- clearance
PLANNED = datetime.date(2026, 3, 10)


def cert(name: str, *, verified: bool = True, expires_on: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "issuer": None,
        "number": None,
        "expires_on": expires_on,
        "verified_by": "sup" if verified else None,
        "verified_at": "2026-01-01T00:00:00.000000Z" if verified else None,
    }


def reasons(**overrides: Any) -> list[Reason]:
    args: dict[str, Any] = {
        "state": "approved",
        "crew": ["u1", "u2"],
        "signoffs": {"u1": {"at": "t"}, "u2": {"at": "t"}},
        "failed_critical": [],
        "required_certifications": ["Confined space entry"],
        "certifications": {
            "u1": [cert("Confined space entry")],
            "u2": [cert("confined  SPACE entry", expires_on="2026-03-10")],
        },
        "planned_date": PLANNED,
        "today": PLANNED,
        "valid_days": 1,
        "voided": None,
    }
    return clearance_reasons(**(args | overrides))


def reason_codes(**overrides: Any) -> list[str]:
    return [r.code for r in reasons(**overrides)]


def test_an_approved_qualified_signed_job_on_its_day_is_cleared() -> None:
    assert reasons() == []


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("assigned", "not_started"),
        ("in_progress", "not_submitted"),
        ("submitted", "not_approved"),
        ("rejected", "not_approved"),
        ("cancelled", "cancelled"),
    ],
)
def test_each_state_before_approval_is_one_reason(state: str, code: str) -> None:
    assert [(r.code, dict(r.details)) for r in reasons(state=state)] == [(code, {"state": state})]


def test_failed_critical_items_are_named() -> None:
    [reason] = reasons(failed_critical=["o2", "iso"])
    assert reason.as_dict() == {
        "code": "failed_critical",
        "message": reason.message,
        "details": {"item_ids": ["o2", "iso"]},
    }


def test_certifications_missing_unverified_and_expired_name_user_and_certification() -> None:
    got = reasons(
        crew=["u1", "u2", "u3"],
        signoffs={"u1": {}, "u2": {}, "u3": {}},
        required_certifications=["Confined space entry", "First aid"],
        certifications={
            "u1": [cert("Confined space entry"), cert("First aid", verified=False)],
            "u2": [cert("first aid", expires_on="2026-03-09")],
        },
    )
    assert [(r.code, dict(r.details)) for r in got] == [
        ("missing_certification", {"user_id": "u2", "certification": "Confined space entry"}),
        ("missing_certification", {"user_id": "u3", "certification": "Confined space entry"}),
        ("missing_certification", {"user_id": "u3", "certification": "First aid"}),
        ("certification_unverified", {"user_id": "u1", "certification": "First aid"}),
        ("certification_expired", {"user_id": "u2", "certification": "First aid"}),
    ]


@pytest.mark.parametrize(
    ("held", "code"),
    [
        ([], "missing_certification"),
        ([cert("Other")], "missing_certification"),
        ([cert("Confined space entry", verified=False)], "certification_unverified"),
        ([cert("Confined space entry", expires_on="2026-03-09")], "certification_expired"),
        ([cert("Confined space entry", expires_on="not a date")], "certification_expired"),
        (
            [cert("Confined space entry", verified=False, expires_on="2030-01-01")],
            "certification_unverified",
        ),
        ([cert("Confined space entry", expires_on="2026-03-10")], None),  # valid on its last day
        ([cert("Confined space entry", expires_on="2099-12-31")], None),
        ([cert("  CONFINED   space\tENTRY ")], None),  # matched NFKC case-folded, spaces collapsed
        (
            [cert("\uff43\uff4f\uff4e\uff46\uff49\uff4e\uff45\uff44 space entry")],
            None,
        ),  # fullwidth letters: NFKC
        (  # the best of several counts
            [
                cert("Confined space entry", verified=False),
                cert("Confined space entry", expires_on="2026-01-01"),
                cert("Confined space entry", expires_on="2027-01-01"),
            ],
            None,
        ),
        (
            [
                cert("Confined space entry", expires_on="2026-01-01"),
                cert("Confined space entry", verified=False),
            ],
            "certification_expired",
        ),
        ([{**cert("Confined space entry"), "verified_at": None}], "certification_unverified"),
    ],
)
def test_a_certification_counts_when_verified_and_valid_on_the_planned_date(
    held: list[dict[str, Any]], code: str | None
) -> None:
    got = reason_codes(crew=["u1"], signoffs={"u1": {}}, certifications={"u1": held})
    assert got == ([] if code is None else [code])


def test_missing_signoffs_name_the_crew_members_in_crew_order() -> None:
    got = reasons(crew=["u2", "u1", "u2"], signoffs={"u9": {}})
    assert [(r.code, dict(r.details)) for r in got] == [
        ("signoffs_missing", {"user_ids": ["u2", "u1"]})
    ]


def test_the_clearance_holds_from_the_planned_date_for_valid_days() -> None:
    day = datetime.timedelta(days=1)
    assert reason_codes(today=PLANNED - day) == ["clearance_not_yet_valid"]
    assert reason_codes(today=PLANNED) == []
    assert reason_codes(today=PLANNED + day) == ["clearance_expired"]
    assert reason_codes(today=PLANNED + 2 * day, valid_days=3) == []
    [expired] = reasons(today=PLANNED + 3 * day, valid_days=3)
    assert (expired.code, dict(expired.details)) == (
        "clearance_expired",
        {"valid_from": "2026-03-10", "valid_until": "2026-03-12"},
    )


def test_a_voided_clearance_says_who_when_and_why() -> None:
    void = {"by": "sup", "at": "2026-03-10T08:00:00.000000Z", "reason": "gas alarm"}
    [reason] = reasons(voided=void)
    assert (reason.code, dict(reason.details)) == ("clearance_voided", void)


def test_every_reason_at_once_in_the_fixed_order() -> None:
    got = reasons(
        state="rejected",
        crew=["u1", "u2", "u3"],
        signoffs={"u1": {}},
        failed_critical=["iso"],
        certifications={
            "u1": [cert("Confined space entry", verified=False)],
            "u2": [cert("Confined space entry", expires_on="2020-01-01")],
        },
        today=PLANNED + datetime.timedelta(days=5),
        valid_days=2,
        voided={"by": "sup", "at": "t", "reason": "stop"},
    )
    assert [r.code for r in got] == [
        "not_approved",
        "failed_critical",
        "missing_certification",
        "certification_unverified",
        "certification_expired",
        "signoffs_missing",
        "clearance_expired",
        "clearance_voided",
    ]
    assert [r.code for r in got] == [c for c in CLEARANCE_CODES if c in {r.code for r in got}]
    assert all(r.message for r in got)


def test_clearance_refuses_an_unknown_state_and_an_empty_window() -> None:
    with pytest.raises(ValueError, match="state"):
        reasons(state="done")
    with pytest.raises(ValueError, match="valid_days"):
        reasons(valid_days=0)


# --------------------------------------------------------------------------- planned date
@pytest.mark.parametrize(
    ("tz", "start", "date"),
    [
        ("Pacific/Auckland", "2026-03-01T23:30:00Z", "2026-03-02"),  # NZDT, +13
        ("Pacific/Auckland", "2026-01-15T10:59:59.999999Z", "2026-01-15"),
        ("Pacific/Auckland", "2026-01-15T11:00:00Z", "2026-01-16"),
        ("Pacific/Auckland", "2026-06-30T11:59:00Z", "2026-06-30"),  # NZST, +12
        ("Pacific/Auckland", "2026-06-30T12:00:00Z", "2026-07-01"),
        ("America/Los_Angeles", "2026-03-02T07:59:00Z", "2026-03-01"),
        ("America/Los_Angeles", "2026-03-02T08:00:00Z", "2026-03-02"),
        ("UTC", "2026-03-01T23:59:59.999999Z", "2026-03-01"),
        ("Europe/Berlin", "2026-03-01T23:30:00", "2026-03-02"),  # naive: UTC
        ("UTC", "2026-03-02T01:00:00+02:00", "2026-03-01"),  # an offset is honoured
        ("Pacific/Kiritimati", "2026-03-01T10:00:00.000000Z", "2026-03-02"),  # +14
    ],
)
def test_the_planned_date_is_the_date_in_the_orgs_time_zone(tz: str, start: str, date: str) -> None:
    assert planned_date_in(tz, start) == datetime.date.fromisoformat(date)


@pytest.mark.parametrize(
    ("tz", "start"),
    [
        ("Mars/Olympus", "2026-03-01T00:00:00Z"),
        ("../../etc/passwd", "2026-03-01T00:00:00Z"),
        ("", "2026-03-01T00:00:00Z"),
        ("UTC", "yesterday"),
        ("UTC", ""),
        ("Pacific/Auckland", "9999-12-31T23:00:00Z"),  # past the calendar there
    ],
)
def test_planned_date_refuses_unknown_zones_and_unreadable_times(tz: str, start: str) -> None:
    with pytest.raises(ValueError, match=r"time zone|isoformat|range"):
        planned_date_in(tz, start)
