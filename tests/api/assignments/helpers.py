"""Helpers of the assignment API tests: a published template, a crew, an assignment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..identity.helpers import Member

CERT = "Confined space entry"

# a critical item, a conditional item, a required certification
DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "isolation",
            "title": "Isolation",
            "items": [
                {
                    "id": "isolated",
                    "type": "yes_no_na",
                    "label": "Isolation verified",
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
                    "required": True,
                    "visible_when": {"op": "equals", "item": "isolated", "value": "yes"},
                },
                {"id": "notes", "type": "text", "label": "Notes", "max_length": 200},
            ],
        }
    ],
    "required_certifications": [{"name": CERT}],
}


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


async def published_template(
    client: httpx.AsyncClient, owner: Member, definition: dict[str, Any] | None = None
) -> str:
    r = await client.post(
        "/api/templates",
        headers=owner.headers,
        json={"name": "Tank entry", "definition": definition or DEFINITION},
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    r = await client.post(f"/api/templates/{template_id}/publish", headers=owner.headers)
    assert r.status_code == 200, r.text
    return template_id


async def team_of(client: httpx.AsyncClient, by: Member, *members: Member) -> str:
    r = await client.post(
        "/api/teams",
        headers=by.headers,
        json={"name": "Crew", "members": [{"user_id": m.user_id} for m in members]},
    )
    assert r.status_code == 201, r.text
    team_id: str = r.json()["id"]
    return team_id


async def assign(
    client: httpx.AsyncClient,
    by: Member,
    template_id: str,
    assignee: dict[str, str],
    *,
    due_in: timedelta = timedelta(hours=2),
    job_ref: str = "WO-1",
    **extra: Any,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    r = await client.post(
        "/api/assignments",
        headers=by.headers,
        json={
            "template_id": template_id,
            "assignee": assignee,
            "job_ref": job_ref,
            "planned_start": iso(now),
            "due_at": iso(now + due_in),
            **extra,
        },
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body
