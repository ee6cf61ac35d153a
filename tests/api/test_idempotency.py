"""Idempotency-Key on creating routes: the first answer again, never a second object.

Driven through a real creating route (``POST /api/users/invitations``, 201) on both
engines; storage is read back through the API (the invitation list, the audit log).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.identity.helpers import Member, register, unique_email

INVITE = "/api/users/invitations"


def body(email: str, role: str = "worker") -> dict[str, Any]:
    return {"email": email, "role": role}


async def invitations(client: httpx.AsyncClient, owner: Member) -> list[dict[str, Any]]:
    r = await client.get(INVITE, headers=owner.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def created_events(client: httpx.AsyncClient, owner: Member) -> int:
    r = await client.get(
        "/api/audit", params={"action": "invitation.created"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


async def test_the_same_key_gets_the_first_answer_and_creates_once(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    headers = {**owner.headers, "Idempotency-Key": "a5b1c3d4-key-1"}
    email = unique_email("invitee")
    first = await client.post(INVITE, headers=headers, json=body(email))
    again = await client.post(INVITE, headers=headers, json=body(email))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()  # the token included: the same invitation
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"]
    assert [i["id"] for i in await invitations(client, owner)] == [first.json()["id"]]
    assert await created_events(client, owner) == 1


async def test_another_key_or_no_key_creates_again(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    one = await client.post(
        INVITE, headers={**owner.headers, "Idempotency-Key": "k1"}, json=body(unique_email())
    )
    two = await client.post(
        INVITE, headers={**owner.headers, "Idempotency-Key": "k2"}, json=body(unique_email())
    )
    three = await client.post(INVITE, headers=owner.headers, json=body(unique_email()))
    assert {one.status_code, two.status_code, three.status_code} == {201}
    assert len({one.json()["id"], two.json()["id"], three.json()["id"]}) == 3


async def test_a_key_reused_for_another_request_is_refused(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    headers = {**owner.headers, "Idempotency-Key": "reused"}
    first = await client.post(INVITE, headers=headers, json=body(unique_email()))
    assert first.status_code == 201
    other = await client.post(INVITE, headers=headers, json=body(unique_email()))
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await invitations(client, owner)) == 1


async def test_keys_belong_to_their_user(client: httpx.AsyncClient) -> None:
    a, b = await register(client), await register(client)
    email = unique_email()
    ra = await client.post(
        INVITE, headers={**a.headers, "Idempotency-Key": "shared"}, json=body(email)
    )
    rb = await client.post(
        INVITE, headers={**b.headers, "Idempotency-Key": "shared"}, json=body(email)
    )
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]
    assert "Idempotent-Replayed" not in rb.headers
    assert ra.json()["token"].split(".")[0] == a.org_id  # each in its own organization
    assert rb.json()["token"].split(".")[0] == b.org_id


async def test_an_error_answer_is_not_kept(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    headers = {**owner.headers, "Idempotency-Key": "fix-and-retry"}
    email = unique_email()
    bad = await client.post(INVITE, headers=headers, json=body("not an email"))
    assert bad.status_code == 422
    again = await client.post(INVITE, headers=headers, json=body("not an email"))
    assert again.status_code == 422  # ran again, not replayed
    assert "Idempotent-Replayed" not in again.headers
    fixed = await client.post(INVITE, headers=headers, json=body(email))
    assert fixed.status_code == 201, fixed.text
    assert len(await invitations(client, owner)) == 1


async def test_concurrent_requests_with_one_key_create_one_object(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    headers = {**owner.headers, "Idempotency-Key": "racing"}
    payload = body(unique_email())
    answers = await asyncio.gather(
        *(client.post(INVITE, headers=headers, json=payload) for _ in range(6))
    )
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {201, 409}, [r.text for r in answers]
    assert 201 in statuses
    for r in answers:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_in_progress"
    ids = {r.json()["id"] for r in answers if r.status_code == 201}
    assert len(ids) == 1
    assert len(await invitations(client, owner)) == 1
    assert await created_events(client, owner) == 1


async def test_a_malformed_key_is_a_400_and_creates_nothing(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    for key in (b"", b"has space", b"x" * 256, "ünï".encode()):
        r = await client.post(
            INVITE,
            headers=[
                (b"Authorization", owner.headers["Authorization"].encode()),
                (b"Idempotency-Key", key),
            ],
            json=body(unique_email()),
        )
        assert r.status_code == 400, (key, r.text)
        assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert await invitations(client, owner) == []


async def test_without_a_valid_token_the_key_changes_nothing(client: httpx.AsyncClient) -> None:
    r = await client.post(
        INVITE,
        headers={"Authorization": "Bearer nope", "Idempotency-Key": "k"},
        json=body(unique_email()),
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_creating_routes_declare_the_header(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    params = doc["paths"][INVITE]["post"].get("parameters", [])
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
    listing = doc["paths"][INVITE]["get"].get("parameters", [])
    assert not any(p["name"] == "Idempotency-Key" for p in listing)
