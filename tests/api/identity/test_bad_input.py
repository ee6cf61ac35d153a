"""Bad input on every identity route with a body: a 4xx with a stable code, storage unchanged."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from prework.domain.identity import Role
from prework.store.base import Store

from .coverage import World, make_world
from .helpers import PASSWORD, error_code, snapshot

# route -> a valid body (so that one changed thing is what makes it bad)
BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/auth/register"): {
        "organization_name": "X",
        "email": "bad-input@example.com",
        "password": PASSWORD,
        "display_name": "X",
    },
    ("POST", "/api/auth/login"): {"email": "bad-input@example.com", "password": PASSWORD},
    ("POST", "/api/auth/refresh"): {"refresh_token": "x"},
    ("POST", "/api/auth/accept-invitation"): {
        "token": "x",
        "password": PASSWORD,
        "display_name": "X",
    },
    ("POST", "/api/users/invitations"): {"email": "bad-input@example.com", "role": "worker"},
    ("PATCH", "/api/users/{user_id}"): {"role": "worker"},
    ("PATCH", "/api/profiles/me"): {"job_title": "x"},
    ("PATCH", "/api/orgs/current"): {"name": "x"},
}


@pytest.fixture
async def world(app: FastAPI, client: httpx.AsyncClient, store: Store) -> World:
    return await make_world(app, client, store)


async def test_bad_bodies_get_stable_codes_and_change_nothing(world: World) -> None:
    owner = world.a.owner
    target = world.a.members[Role.WORKER].user_id
    problems: list[str] = []
    limit = world.app.state.settings.max_body_bytes
    for (method, path), valid in BODIES.items():
        url = path.replace("{user_id}", target)
        first_key = next(iter(valid))
        bad: dict[str, tuple[bytes, int, str]] = {
            "malformed JSON": (b'{"email": "a@example.com",', 400, "malformed_body"),
            "not an object": (b"[1, 2, 3]", 422, "validation_failed"),
            "wrong type": (
                httpx.Request("POST", "/", json={**valid, first_key: 12345}).content,
                422,
                "validation_failed",
            ),
            "unknown field": (
                httpx.Request("POST", "/", json={**valid, "is_admin": True}).content,
                422,
                "validation_failed",
            ),
            "too large": (b'{"x": "' + b"a" * limit + b'"}', 413, "too_large"),
        }
        before = await snapshot(world.store, owner.org_id)
        for name, (content, status, code) in bad.items():
            r = await world.client.request(
                method,
                url,
                content=content,
                headers={**owner.headers, "Content-Type": "application/json"},
            )
            if r.status_code != status or error_code(r) != code:
                problems.append(f"{method} {path} {name}: {r.status_code} {r.text[:200]}")
            if PASSWORD in r.text:
                problems.append(f"{method} {path} {name}: the password is echoed")
        if await snapshot(world.store, owner.org_id) != before:
            problems.append(f"{method} {path}: storage changed")
    assert not problems, "\n".join(problems)


async def test_body_limit_is_configurable(
    settings: object, store: Store, app: FastAPI, app_client: object
) -> None:
    from prework.app import create_app

    small = create_app(
        app.state.settings.model_copy(update={"max_body_bytes": 64}),
        store=store,
        blobs=app.state.blobs,
    )
    async with app_client(small) as c:  # type: ignore[operator]
        r = await c.post(
            "/api/auth/login", json={"email": "someone@example.com", "password": "p" * 80}
        )
        assert r.status_code == 413
        assert error_code(r) == "too_large"
        r = await c.post("/api/auth/login", json={"email": "a@example.com", "password": "p" * 12})
        assert r.status_code == 401
