"""Every free-text name field applies the one text rule (prework.core.text): a 422
that says why without echoing the text, storage unchanged; emoji and every script pass."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from prework.core.principal import Role
from prework.store.base import Store

from .coverage import World, make_world
from .helpers import PASSWORD, error_code, invite, snapshot, unique_email

BAD = {
    "bidi override": "Olive\u202eevil",
    "zero-width space": "Ad\u200bmin",
    "ZWJ between letters": "Ad\u200dmin",
    "line separator": "Olive\u2028Owner",
    "paragraph separator": "Olive\u2029Owner",
    "tag characters": "Acme\U000e0041\U000e0042",
    "noncharacter": "Acme\ufdd0",
}
GOOD = [
    "Zoë 李 Ørsted",
    "محمد رضا",
    "\U0001f469\u200d\U0001f4bb Olive",  # a ZWJ emoji sequence
    "Crew \U0001f3f3\ufe0f\u200d\U0001f308",
]

# (method, url, body with the name in it) for the signed-in routes
PATCHES: list[tuple[str, str, Any]] = [
    ("PATCH", "/api/profiles/me", lambda v: {"display_name": v}),
    ("PATCH", "/api/profiles/me", lambda v: {"job_title": v}),
    ("PATCH", "/api/profiles/me", lambda v: {"certifications": [{"name": v}]}),
    ("PATCH", "/api/profiles/me", lambda v: {"certifications": [{"name": "x", "issuer": v}]}),
    ("PATCH", "/api/orgs/current", lambda v: {"name": v}),
]


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, store: Store) -> World:
    return await make_world(app, client, store)


def _assert_refused(r: httpx.Response, value: str, what: str) -> None:
    assert r.status_code == 422, (what, r.text)
    assert error_code(r) == "validation_failed"
    assert value not in r.text
    assert "invisible formatting" in r.text or "separators" in r.text or "noncharacters" in r.text


@pytest.mark.parametrize("what", sorted(BAD))
async def test_every_name_field_refuses_invisible_characters(world: World, what: str) -> None:
    value = BAD[what]
    owner = world.a.owner
    before = await snapshot(world.store, owner.org_id)
    for method, url, body in PATCHES:
        r = await world.client.request(method, url, headers=owner.headers, json=body(value))
        _assert_refused(r, value, f"{what}: {url} {body(value)!r}")
    email = unique_email("names")
    for field in ("organization_name", "display_name"):
        register: dict[str, str] = {
            "organization_name": "Org",
            "email": email,
            "password": PASSWORD,
            "display_name": "Name",
            field: value,
        }
        r = await world.client.post("/api/auth/register", json=register)
        _assert_refused(r, value, f"{what}: register {field}")
    invitation = await invite(world.client, owner, role=Role.WORKER)
    r = await world.client.post(
        "/api/auth/accept-invitation",
        json={"token": invitation["token"], "password": PASSWORD, "display_name": value},
    )
    _assert_refused(r, value, f"{what}: accept-invitation")
    assert await world.store.get("users", {"pk": f"EMAIL#{email}", "sk": "EMAIL"}) is None
    after = await snapshot(world.store, owner.org_id)
    # only the invitation (and its event) is new: no name reached storage
    assert after["profiles"] == before["profiles"]
    assert after["users"] == before["users"]
    assert [i for i in after["organizations"] if i["sk"] == "ORG"] == [
        i for i in before["organizations"] if i["sk"] == "ORG"
    ]


async def test_names_of_every_script_and_emoji_are_stored(world: World) -> None:
    owner = world.a.owner
    for value in GOOD:
        for method, url, body in PATCHES:
            r = await world.client.request(method, url, headers=owner.headers, json=body(value))
            assert r.status_code == 200, (value, url, r.text)
            assert value in r.text
    r = await world.client.post(
        "/api/auth/register",
        json={
            "organization_name": GOOD[2],
            "email": unique_email("emoji"),
            "password": PASSWORD,
            "display_name": GOOD[3],
        },
    )
    assert r.status_code == 201, r.text
