"""Helpers of the assignment API tests: a published template, a crew, an assignment,
the steps of the flow, and reads of what is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from prework.core.principal import Role
from prework.store.base import Store

from ..identity.helpers import Member, Tenant, join, make_tenant

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


# --------------------------------------------------------------------------- a module's world
@dataclass
class CrewWorld:
    """An organization with a member of every role, two more workers (``w1``, ``w2``)
    in a team, and a published template of :data:`DEFINITION`."""

    client: httpx.AsyncClient
    tenant: Tenant
    w1: Member
    w2: Member
    team_id: str
    template_id: str

    @property
    def org_id(self) -> str:
        return self.tenant.org_id

    @property
    def owner(self) -> Member:
        return self.tenant.owner

    @property
    def supervisor(self) -> Member:
        return self.tenant.members[Role.SUPERVISOR]

    @property
    def admin(self) -> Member:
        return self.tenant.members[Role.ADMIN]

    @property
    def auditor(self) -> Member:
        return self.tenant.members[Role.AUDITOR]

    @property
    def worker(self) -> Member:
        """A worker on no crew of the team."""
        return self.tenant.members[Role.WORKER]

    async def join(self, role: Role = Role.WORKER) -> Member:
        return await join(self.client, self.owner, role=role)

    async def assign_team(self, **extra: Any) -> dict[str, Any]:
        """An assignment of the template to the team (``assigned``)."""
        return await assign(
            self.client,
            self.supervisor,
            self.template_id,
            {"type": "team", "id": self.team_id},
            **extra,
        )

    async def ready(self) -> str:
        """A team assignment started, fully answered and signed by both: ready to submit."""
        aid: str = (await self.assign_team())["id"]
        await ok(self.client, "POST", f"/api/assignments/{aid}/start", self.w1)
        await ok(
            self.client,
            "PATCH",
            f"/api/assignments/{aid}/answers",
            self.w1,
            json={"answers": {"isolated": "yes", "o2": 20.9}},
        )
        for member in (self.w1, self.w2):
            await ok(self.client, "POST", f"/api/assignments/{aid}/signoff", member)
        return aid

    async def submitted(self) -> tuple[str, str]:
        """A team assignment submitted (version 1): (assignment id, submission id)."""
        aid = await self.ready()
        sub = await ok(self.client, "POST", f"/api/assignments/{aid}/submit", self.w1)
        return aid, str(sub["id"])


async def make_crew_world(client: httpx.AsyncClient) -> CrewWorld:
    tenant = await make_tenant(client, "Crew Org")
    w1 = await join(client, tenant.owner, role=Role.WORKER)
    w2 = await join(client, tenant.owner, role=Role.WORKER)
    team_id = await team_of(client, tenant.members[Role.SUPERVISOR], w1, w2)
    template_id = await published_template(client, tenant.owner)
    return CrewWorld(client, tenant, w1, w2, team_id, template_id)


# --------------------------------------------------------------------------- calls and reads
async def ok(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    by: Member,
    *,
    json: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON answer of a call that must succeed (2xx)."""
    r = await client.request(
        method, url, headers={**by.headers, **(headers or {})}, json=json, params=params
    )
    assert 200 <= r.status_code < 300, f"{method} {url}: {r.status_code} {r.text}"
    body: dict[str, Any] = r.json()
    return body


async def partition(store: Store, table: str, org_id: str) -> list[dict[str, Any]]:
    """Every item of the organization's partition of ``table``."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await store.query(table, pk=f"ORG#{org_id}", cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items


async def stored_assignment(store: Store, org_id: str, assignment_id: str) -> dict[str, Any]:
    item = await store.get("assignments", {"pk": f"ORG#{org_id}", "sk": f"ASSIGN#{assignment_id}"})
    assert item is not None
    return item


async def stored_doc(store: Store, org_id: str, assignment_id: str) -> dict[str, Any]:
    key = {"pk": f"ORG#{org_id}", "sk": f"ASSIGN#{assignment_id}#DOC"}
    item = await store.get("assignments", key)
    assert item is not None
    return item


async def stored_submissions(store: Store, org_id: str, assignment_id: str) -> list[dict[str, Any]]:
    """The assignment's stored submissions (without reviews), by number."""
    subs = [
        i
        for i in await partition(store, "submissions", org_id)
        if i.get("type") == "submission" and i["assignment_id"] == assignment_id
    ]
    return sorted(subs, key=lambda i: int(i["number"]))


async def stored_reviews(store: Store, org_id: str, submission_id: str) -> list[dict[str, Any]]:
    return [
        i
        for i in await partition(store, "submissions", org_id)
        if i.get("type") == "review" and i["submission_id"] == submission_id
    ]
