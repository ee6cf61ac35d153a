"""Template definitions for the tests (plain JSON, as a client sends them)."""

from __future__ import annotations

from typing import Any

from prework.store.base import Store


def small(label: str = "Isolation verified") -> dict[str, Any]:
    """A valid definition of every item type."""
    return {
        "sections": [
            {
                "id": "prep",
                "title": "Preparation",
                "items": [
                    {
                        "id": "isolated",
                        "type": "yes_no_na",
                        "label": label,
                        "required": True,
                        "critical": True,
                        "fail_when": {"op": "equals", "value": "no"},
                        "weight": 5,
                    },
                    {
                        "id": "o2",
                        "type": "number",
                        "label": "O2 reading",
                        "unit": "%",
                        "decimals": 1,
                        "min": 0,
                        "max": 100,
                        "critical": True,
                        "fail_when": {"op": "outside_range", "min": 19.5, "max": 23.5},
                        "visible_when": {"op": "equals", "item": "isolated", "value": "yes"},
                    },
                    {"id": "ok", "type": "checkbox", "label": "Area barricaded"},
                    {"id": "notes", "type": "text", "label": "Notes", "max_length": 500},
                    {
                        "id": "ppe",
                        "type": "multiple_choice",
                        "label": "PPE worn",
                        "choices": [
                            {"value": "helmet", "label": "Helmet"},
                            {"value": "harness", "label": "Harness"},
                        ],
                        "min_selected": 1,
                    },
                    {
                        "id": "shift",
                        "type": "single_choice",
                        "label": "Shift",
                        "choices": [
                            {"value": "day", "label": "Day"},
                            {"value": "night", "label": "Night"},
                        ],
                        "visible_when": {
                            "op": "all",
                            "conditions": [
                                {"op": "any_of", "item": "ppe", "values": ["harness"]},
                                {"op": "not_equals", "item": "ok", "value": False},
                            ],
                        },
                    },
                    {"id": "day", "type": "date", "label": "Date"},
                    {"id": "start", "type": "time", "label": "Start"},
                    {
                        "id": "photos",
                        "type": "photo",
                        "label": "Photos",
                        "min_count": 1,
                        "max_count": 3,
                    },
                    {"id": "sig", "type": "signature", "label": "Supervisor"},
                    {
                        "id": "read",
                        "type": "instruction",
                        "label": "Read",
                        "text": "Line one.\nTwo.",
                    },
                ],
            }
        ],
        "required_certifications": [{"name": "Confined space entry"}],
    }


def with_items(count: int, *, help_chars: int = 0) -> dict[str, Any]:
    """``count`` checkbox items in sections of at most 500."""
    sections = []
    for s in range(0, count, 500):
        items = []
        for i in range(s, min(count, s + 500)):
            item: dict[str, Any] = {"id": f"i{i}", "type": "checkbox", "label": f"Item {i}"}
            if help_chars:
                item["help"] = "h" * help_chars
            items.append(item)
        sections.append({"id": f"s{s}", "title": f"Section {s}", "items": items})
    return {"sections": sections}


async def template_items(store: Store, org_id: str) -> list[dict[str, Any]]:
    """Everything of the organization's partition in the templates table."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await store.query("templates", pk=f"ORG#{org_id}", cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items
