"""Audit coverage cases of the template routes (see ``test_audit_coverage.py``).

Loaded by file path: imports only ``prework`` and libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role

DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Checks",
            "items": [{"id": "a", "type": "checkbox", "label": "Barrier"}],
        }
    ]
}
# a condition on a later item: a rule broken, nothing stored
BROKEN: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Checks",
            "items": [
                {
                    "id": "a",
                    "type": "checkbox",
                    "label": "A",
                    "visible_when": {"op": "equals", "item": "b", "value": True},
                },
                {"id": "b", "type": "checkbox", "label": "B"},
            ],
        }
    ]
}


async def _template(world: Any, *, publish: bool = False) -> str:
    r = await world.client.post(
        "/api/templates",
        headers=world.a.owner.headers,
        json={"name": "Audited", "definition": DEFINITION},
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    if publish:
        r = await world.client.post(
            f"/api/templates/{template_id}/publish", headers=world.a.owner.headers
        )
        assert r.status_code == 200, r.text
    return template_id


def _event(world: Any, action: str, template_id: str) -> Any:
    return lambda r: (world.a.org_id, [(action, "template", template_id)])


def _created(world: Any, action: str) -> Any:
    return lambda r: (world.a.org_id, [(action, "template", r.json()["id"])])


async def create_ok(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.ADMIN].headers,
        "json": {"name": "New", "definition": DEFINITION},
        "expect": _created(world, "template.created"),
    }


async def create_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.owner.headers,
        "json": {"name": "Broken", "definition": BROKEN},
        "org": world.a.org_id,
        "events": [],
    }


async def import_ok(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.owner.headers,
        "json": {
            "format": "prework.template",
            "schema_version": 1,
            "name": "In",
            "definition": DEFINITION,
        },
        "expect": _created(world, "template.imported"),
    }


async def import_fail(world: Any) -> dict[str, Any]:
    return {
        "headers": world.a.members[Role.AUDITOR].headers,
        "json": {
            "format": "prework.template",
            "schema_version": 1,
            "name": "In",
            "definition": DEFINITION,
        },
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def update_ok(world: Any) -> dict[str, Any]:
    template_id = await _template(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"template_id": template_id},
        "json": {"name": "Edited"},
        "expect": _event(world, "template.updated", template_id),
    }


async def update_fail(world: Any) -> dict[str, Any]:
    template_id = await _template(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"template_id": template_id},
        "json": {"name": "Edited", "version": 99},
        "org": world.a.org_id,
        "events": [],
    }


async def publish_ok(world: Any) -> dict[str, Any]:
    template_id = await _template(world)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"template_id": template_id},
        "expect": _event(world, "template.published", template_id),
    }


async def publish_fail(world: Any) -> dict[str, Any]:
    template_id = await _template(world)
    return {
        "headers": world.a.members[Role.SUPERVISOR].headers,
        "path_params": {"template_id": template_id},
        "org": world.a.org_id,
        "events": ["access.denied"],
    }


async def retire_ok(world: Any) -> dict[str, Any]:
    template_id = await _template(world, publish=True)
    return {
        "headers": world.a.owner.headers,
        "path_params": {"template_id": template_id},
        "expect": _event(world, "template.retired", template_id),
    }


async def retire_fail(world: Any) -> dict[str, Any]:
    template_id = await _template(world, publish=True)
    r = await world.client.post(
        f"/api/templates/{template_id}/retire", headers=world.a.owner.headers
    )
    assert r.status_code == 200, r.text
    return {
        "headers": world.a.owner.headers,
        "path_params": {"template_id": template_id},  # already retired
        "org": world.a.org_id,
        "events": [],
    }


CASES = {
    ("POST", "/api/templates"): {"ok": create_ok, "fail": create_fail},
    ("POST", "/api/templates/import"): {"ok": import_ok, "fail": import_fail},
    ("PATCH", "/api/templates/{template_id}"): {"ok": update_ok, "fail": update_fail},
    ("POST", "/api/templates/{template_id}/publish"): {"ok": publish_ok, "fail": publish_fail},
    ("POST", "/api/templates/{template_id}/retire"): {"ok": retire_ok, "fail": retire_fail},
}
