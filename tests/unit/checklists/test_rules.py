"""The pure rules of a template definition (no I/O): every problem, with its path."""

from __future__ import annotations

from typing import Any

from prework.checklists.models import LIMITS, cert_key, definition_problems


def _items(*items: dict[str, Any]) -> dict[str, Any]:
    return {"sections": [{"id": "s", "title": "S", "items": list(items)}]}


def _codes(definition: dict[str, Any], **kw: Any) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in definition_problems(definition, **kw)]


def test_a_valid_definition_has_no_problem() -> None:
    d = _items(
        {"id": "a", "type": "number", "min": 0, "max": 10},
        {"id": "b", "type": "checkbox", "visible_when": {"op": "in_range", "item": "a", "min": 1}},
    )
    assert _codes(d) == []


def test_a_three_item_cycle_is_named_on_its_forward_edges() -> None:
    d = _items(
        {
            "id": "a",
            "type": "checkbox",
            "visible_when": {"op": "equals", "item": "c", "value": True},
        },
        {
            "id": "b",
            "type": "checkbox",
            "visible_when": {"op": "equals", "item": "a", "value": True},
        },
        {
            "id": "c",
            "type": "checkbox",
            "visible_when": {"op": "equals", "item": "b", "value": True},
        },
    )
    assert _codes(d) == [("sections[0].items[0].visible_when", "condition_cycle")]


def test_self_reference_is_a_cycle() -> None:
    d = _items(
        {
            "id": "a",
            "type": "checkbox",
            "visible_when": {"op": "equals", "item": "a", "value": True},
        }
    )
    assert _codes(d) == [("sections[0].items[0].visible_when", "condition_cycle")]


def test_ranges_values_and_groups() -> None:
    d = _items(
        {"id": "t", "type": "text", "max_length": 3},
        {
            "id": "x",
            "type": "checkbox",
            "visible_when": {
                "op": "any",
                "conditions": [
                    {"op": "in_range", "item": "t", "min": 1},
                    {"op": "equals", "item": "t", "value": "toolong"},
                    {"op": "all", "conditions": []},
                ],
            },
        },
        {
            "id": "n",
            "type": "number",
            "critical": True,
            "fail_when": {"op": "in_range", "min": 5, "max": 1},
        },
        {"id": "p", "type": "photo", "visible_when": {"op": "equals", "item": "n", "value": 1}},
        {"id": "q", "type": "checkbox", "visible_when": {"op": "equals", "item": "p", "value": 1}},
    )
    w = "sections[0].items[1].visible_when"
    assert _codes(d) == [
        (f"{w}.conditions[0]", "range_needs_number"),
        (f"{w}.conditions[1].value", "impossible_value"),
        (f"{w}.conditions[2]", "empty_group"),
        ("sections[0].items[2].fail_when", "inverted_range"),
        ("sections[0].items[4].visible_when", "not_comparable"),
    ]


def test_choice_and_limit_rules() -> None:
    d = _items(
        {"id": "c", "type": "single_choice", "choices": []},
        {
            "id": "m",
            "type": "multiple_choice",
            "choices": [{"value": "a"}, {"value": "b"}],
            "min_selected": 2,
            "max_selected": 3,
        },
        {"id": "i", "type": "instruction", "text": "t", "required": True},
        {"id": "f", "type": "checkbox", "fail_when": {"op": "equals", "value": True}},
    )
    assert _codes(d) == [
        ("sections[0].items[0].choices", "no_choices"),
        ("sections[0].items[1].max_selected", "inconsistent_limits"),
        ("sections[0].items[2].required", "not_answerable"),
        ("sections[0].items[3].critical", "fail_when_not_critical"),
    ]


def test_template_wide_bounds_and_stored_size() -> None:
    many = {
        "sections": [
            {
                "id": f"s{s}",
                "title": "S",
                "items": [{"id": f"i{s}-{i}", "type": "checkbox"} for i in range(500)],
            }
            for s in range(2)
        ]
    }
    assert ("sections", "too_many_items") in _codes(many)
    assert _codes(_items({"id": "a", "type": "checkbox"}), stored_size=LIMITS.stored_bytes + 1) == [
        ("", "template_too_large")
    ]


def test_certification_names_fold() -> None:
    assert cert_key("  Confined   SPACE Entry ") == cert_key("confined space entry")
    assert cert_key("STRASSE") == cert_key("straße")
    d = {
        **_items({"id": "a", "type": "checkbox"}),
        "required_certifications": [{"name": "Rigging"}, {"name": "RIGGING"}],
    }
    assert _codes(d) == [("required_certifications[1].name", "duplicate_certification")]
