"""Helpers of the identity API tests: tenants with a member of every role, audit reads."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from prework.core.principal import Role
from prework.store.base import Store

PASSWORD = "correct horse battery staple"
_seq = itertools.count()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:8]}@example.com"


@dataclass
class Member:
    user_id: str
    org_id: str
    email: str
    role: Role
    access_token: str
    refresh_token: str
    session_id: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass
class Tenant:
    org_id: str
    name: str
    members: dict[Role, Member] = field(default_factory=dict)

    @property
    def owner(self) -> Member:
        return self.members[Role.OWNER]


def _member(body: dict[str, Any]) -> Member:
    user = body["user"]
    return Member(
        user_id=user["id"],
        org_id=user["org_id"],
        email=user["email"],
        role=Role(user["role"]),
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        session_id=body["session_id"],
    )


async def register(
    client: httpx.AsyncClient,
    *,
    org_name: str = "Acme Scaffolding",
    email: str | None = None,
    password: str = PASSWORD,
    display_name: str = "Olive Owner",
) -> Member:
    r = await client.post(
        "/api/auth/register",
        json={
            "organization_name": org_name,
            "email": email or unique_email("owner"),
            "password": password,
            "display_name": display_name,
        },
    )
    assert r.status_code == 201, r.text
    return _member(r.json())


async def invite(
    client: httpx.AsyncClient, by: Member, *, role: Role, email: str | None = None
) -> dict[str, Any]:
    r = await client.post(
        "/api/users/invitations",
        headers=by.headers,
        json={"email": email or unique_email(role.value), "role": role.value},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def accept(
    client: httpx.AsyncClient, token: str, *, password: str = PASSWORD, name: str = "Member"
) -> httpx.Response:
    return await client.post(
        "/api/auth/accept-invitation",
        json={"token": token, "password": password, "display_name": name},
    )


async def join(client: httpx.AsyncClient, by: Member, *, role: Role) -> Member:
    invitation = await invite(client, by, role=role)
    r = await accept(client, invitation["token"], name=f"{role.value.title()} Member")
    assert r.status_code == 201, r.text
    return _member(r.json())


async def make_tenant(
    client: httpx.AsyncClient, name: str = "Acme", roles: tuple[Role, ...] = tuple(Role)
) -> Tenant:
    owner = await register(client, org_name=name)
    tenant = Tenant(org_id=owner.org_id, name=name, members={Role.OWNER: owner})
    for role in roles:
        if role is not Role.OWNER:
            tenant.members[role] = await join(client, owner, role=role)
    return tenant


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def audit_items(store: Store, org_id: str) -> list[dict[str, Any]]:
    """Every audit event of ``org_id``, oldest first, read from the store itself."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await store.query("audit-log", pk=f"ORG#{org_id}", cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items


SNAPSHOT_TABLES = (
    "organizations",
    "users",
    "profiles",
    "teams",
    "templates",
    "assignments",
    "submissions",
    "media",
    "audit-log",
)
MEDIA_INDEX_SHARDS = 4  # prework.media.repository.SHARDS


async def _partition(store: Store, table: str, pk: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await store.query(table, pk=pk, cursor=cursor)
        items.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return items


async def snapshot(store: Store, org_id: str) -> dict[str, list[dict[str, Any]]]:
    """Everything stored in the organization's partitions (for "storage unchanged"):
    its members, teams, templates, assignments (with their answers documents and
    crew entries), submissions (with their reviews), media records (and the
    organization's entries of the media indexes) and audit events; and, in the
    ``sessions`` table, each answers document's partition (its operation log and sync
    sessions)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table in SNAPSHOT_TABLES:
        out[table] = await _partition(store, table, f"ORG#{org_id}")
    docs = sorted(i["assignment_id"] for i in out["assignments"] if i.get("type") == "answers")
    logs = await asyncio.gather(
        *(_partition(store, "sessions", f"ORG#{org_id}#DOC#{d}") for d in docs)
    )
    out["sessions (documents)"] = [item for log in logs for item in log]
    # the media area's pending-upload and thumbnail indexes (shared partitions)
    shared = await asyncio.gather(
        *(
            _partition(store, "media", f"MEDIA#{index}#{shard}")
            for index in ("PENDING", "THUMBS")
            for shard in range(MEDIA_INDEX_SHARDS)
        )
    )
    out["media (indexes)"] = [i for part in shared for i in part if i.get("org_id") == org_id]
    return out


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def route_table(app: Any) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves, nested routers included."""
    from fastapi.routing import iter_route_contexts

    table: set[tuple[str, str]] = set()
    for ctx in iter_route_contexts(app.routes):
        if ctx.path is None:
            continue
        for method in ctx.methods or ():
            if method != "HEAD":
                table.add((method, ctx.path))
    return sorted(table, key=lambda mp: (mp[1], mp[0]))
