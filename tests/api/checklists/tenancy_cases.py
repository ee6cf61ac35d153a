"""Tenancy cases of the template routes (see ``tests/api/identity/coverage.py``).

Each setup makes a published template in org A; the walk calls the route on it
as every role of org B. Loaded by file path: imports only ``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Checks",
            "items": [
                {"id": "a", "type": "yes_no_na", "label": "Isolated"},
                {
                    "id": "b",
                    "type": "checkbox",
                    "label": "Barrier",
                    "visible_when": {"op": "equals", "item": "a", "value": "yes"},
                },
            ],
        }
    ]
}


async def _template(world: Any, *, publish: bool = True) -> str:
    r = await world.client.post(
        "/api/templates",
        headers=world.a.owner.headers,
        json={"name": "Walk", "definition": DEFINITION},
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    if publish:
        r = await world.client.post(
            f"/api/templates/{template_id}/publish", headers=world.a.owner.headers
        )
        assert r.status_code == 200, r.text
    return template_id


async def _a_template(world: Any) -> dict[str, Any]:
    return {"path_params": {"template_id": await _template(world)}}


async def _a_changed_draft(world: Any) -> dict[str, Any]:
    template_id = await _template(world)
    r = await world.client.patch(
        f"/api/templates/{template_id}",
        headers=world.a.owner.headers,
        json={"name": "Walk, edited"},
    )
    assert r.status_code == 200, r.text
    return {"path_params": {"template_id": template_id}}


async def _a_rename(world: Any) -> dict[str, Any]:
    return {"path_params": {"template_id": await _template(world)}, "json": {"name": "Renamed"}}


async def _a_version(world: Any) -> dict[str, Any]:
    return {"path_params": {"template_id": await _template(world), "number": "1"}}


CASES = {
    ("GET", "/api/templates/{template_id}"): _a_template,
    ("PATCH", "/api/templates/{template_id}"): _a_rename,
    ("POST", "/api/templates/{template_id}/publish"): _a_changed_draft,
    ("POST", "/api/templates/{template_id}/retire"): _a_template,
    ("GET", "/api/templates/{template_id}/versions/{number}"): _a_version,
    ("GET", "/api/templates/{template_id}/export"): _a_template,
}

EXEMPT = {
    # an export document's provenance (the exporting organization's template id and
    # version): recorded in the import's audit event as given, never looked up
    ("POST", "/api/templates/import"): "source.template_id is provenance, not a lookup",
}
