"""Bad input on every identity route with a body: a 4xx with a stable code, storage unchanged."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from prework.core.principal import Role
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


async def test_overlong_ids_in_paths_get_the_same_answer_on_every_engine(world: World) -> None:
    """An id far past any real one is refused before it reaches the store (whose
    engines disagree about long keys: DynamoDB caps a sort key at 1,024 bytes)."""
    owner = world.a.owner
    long_id = "a" * 1500
    calls = [
        ("GET", f"/api/users/{long_id}", None),
        ("PATCH", f"/api/users/{long_id}", {"role": "worker"}),
        ("POST", f"/api/users/{long_id}/deactivate", None),
        ("POST", f"/api/users/{long_id}/reactivate", None),
        ("DELETE", f"/api/users/invitations/{long_id}", None),
        ("GET", f"/api/profiles/{long_id}", None),
    ]
    before = await snapshot(world.store, owner.org_id)
    for method, url, body in calls:
        r = await world.client.request(method, url, headers=owner.headers, json=body)
        assert r.status_code == 422, (method, url[:40], r.text)
        assert error_code(r) == "validation_failed", (method, url[:40])
        assert "DynamoDB" not in r.text
    assert await snapshot(world.store, owner.org_id) == before


async def test_wrong_json_types_are_not_coerced(world: World) -> None:
    owner = world.a.owner
    worker = world.a.members[Role.WORKER]
    cases: list[tuple[str, str, dict[str, object]]] = [
        # a boolean is not a version (True would pass for version 1)
        ("PATCH", f"/api/users/{worker.user_id}", {"role": "supervisor", "version": True}),
        ("PATCH", "/api/orgs/current", {"name": "Renamed", "version": True}),
        ("PATCH", "/api/profiles/me", {"job_title": "Boss", "version": True}),
        ("POST", f"/api/users/{worker.user_id}/deactivate", {"version": True}),
        # numbers are numbers, not text
        ("PATCH", "/api/orgs/current", {"name": "Renamed", "version": "1"}),
        (
            "POST",
            "/api/users/invitations",
            {"email": "t@example.com", "role": "worker", "expires_in_days": True},
        ),
        (
            "POST",
            "/api/users/invitations",
            {"email": "t@example.com", "role": "worker", "expires_in_days": "7"},
        ),
        # a date is "YYYY-MM-DD", not a count of seconds
        ("PATCH", "/api/profiles/me", {"certifications": [{"name": "x", "expires_on": 0}]}),
        (
            "PATCH",
            "/api/profiles/me",
            {"certifications": [{"name": "x", "expires_on": "2030-01-01T00:00:00"}]},
        ),
    ]
    before = await snapshot(world.store, owner.org_id)
    for method, url, body in cases:
        r = await world.client.request(method, url, headers=owner.headers, json=body)
        assert r.status_code == 422, (method, url, body, r.text)
        assert error_code(r) == "validation_failed", (method, url, body)
    assert await snapshot(world.store, owner.org_id) == before


async def test_control_characters_in_names_are_refused(world: World) -> None:
    owner = world.a.owner
    before = await snapshot(world.store, owner.org_id)
    for body in (
        {"display_name": "Olive\x00"},
        {"job_title": "line\nbreak"},
        {"certifications": [{"name": "bell\x07"}]},
    ):
        r = await world.client.patch("/api/profiles/me", headers=owner.headers, json=body)
        assert r.status_code == 422, (body, r.text)
        assert error_code(r) == "validation_failed"
    r = await world.client.patch(
        "/api/orgs/current", headers=owner.headers, json={"name": "Acme\x1b[31m"}
    )
    assert r.status_code == 422, r.text
    assert await snapshot(world.store, owner.org_id) == before
    # ordinary Unicode is fine
    ok = await world.client.patch(
        "/api/profiles/me", headers=owner.headers, json={"display_name": "Zoë 李 Ørsted"}
    )
    assert ok.status_code == 200, ok.text
