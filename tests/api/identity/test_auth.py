"""Accounts and sessions through HTTP: register, login, refresh, logout, me, invitations."""

from __future__ import annotations

import asyncio
import time

import bcrypt
import httpx
import jwt
from fastapi import FastAPI

from prework.core.principal import Role
from prework.store.base import Store, UpdateSpec

from .helpers import (
    PASSWORD,
    accept,
    audit_items,
    error_code,
    invite,
    join,
    login,
    register,
    snapshot,
    unique_email,
)


# --------------------------------------------------------------------------- register
async def test_register_creates_org_owner_profile_and_session(
    client: httpx.AsyncClient, store: Store
) -> None:
    r = await client.post(
        "/api/auth/register",
        json={
            "organization_name": "  Acme Scaffolding ",
            "email": "  Olive.Owner@Example.COM ",
            "password": PASSWORD,
            "display_name": "Olive",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_expires_in"] == 30 * 24 * 3600
    assert body["user"]["email"] == "olive.owner@example.com"
    assert body["user"]["role"] == "owner"
    assert body["organization"]["name"] == "Acme Scaffolding"
    assert "password" not in r.text
    assert "hash" not in r.text

    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["user"]["id"] == body["user"]["id"]
    assert me.json()["session_id"] == body["session_id"]
    assert "audit.read" in me.json()["permissions"]

    profile = await client.get(
        "/api/profiles/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert profile.json()["display_name"] == "Olive"

    org_id = body["organization"]["id"]
    events = await audit_items(store, org_id)
    assert {e["action"] for e in events} == {"org.created", "user.created", "auth.login"}
    for event in events:
        assert event["request_id"] == r.headers["X-Request-ID"]
        assert event["client_ip"] == "127.0.0.1"
    stored_user = await store.get(
        "users", {"pk": f"ORG#{org_id}", "sk": f"USER#{body['user']['id']}"}
    )
    assert stored_user is not None
    assert stored_user["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(stored_user)
    assert PASSWORD not in str(events)


async def test_register_same_email_in_any_spelling_is_409_user_exists(
    client: httpx.AsyncClient, store: Store
) -> None:
    first = await register(client, email="casey@example.com")
    before = await snapshot(store, first.org_id)
    # trimmed, case-folded and NFKC-normalised: all the same account
    for spelling in (
        "Casey@Example.com",
        " casey@example.com\t",
        "".join(chr(ord(c) + 0xFEE0) for c in "casey") + "@example.com",
    ):
        r = await client.post(
            "/api/auth/register",
            json={
                "organization_name": "Other",
                "email": spelling,
                "password": PASSWORD,
                "display_name": "C",
            },
        )
        assert r.status_code == 409, (spelling, r.text)
        assert error_code(r) == "user_exists"
    assert await snapshot(store, first.org_id) == before


async def test_concurrent_registration_of_one_email_creates_one_user(
    client: httpx.AsyncClient, store: Store
) -> None:
    email = unique_email("race")

    async def attempt(i: int) -> httpx.Response:
        return await client.post(
            "/api/auth/register",
            json={
                "organization_name": f"Org {i}",
                "email": email,
                "password": PASSWORD,
                "display_name": "Racer",
            },
        )

    responses = await asyncio.gather(*(attempt(i) for i in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 5, [r.text for r in responses]
    assert all(error_code(r) == "user_exists" for r in responses if r.status_code == 409)
    guard = await store.get("users", {"pk": f"EMAIL#{email}", "sk": "EMAIL"})
    winner = next(r for r in responses if r.status_code == 201).json()
    assert guard is not None
    assert guard["user_id"] == winner["user"]["id"]
    assert (await login(client, email)).status_code == 200


async def test_password_policy(client: httpx.AsyncClient, store: Store) -> None:
    email = unique_email("policy")
    cases = {
        "short-pw-11": "password_too_short",
        email.upper(): "password_is_email",
        "é" * 513: "password_too_long",  # 513 characters, 1,026 bytes
    }
    for password, code in cases.items():
        r = await client.post(
            "/api/auth/register",
            json={
                "organization_name": "Org",
                "email": email,
                "password": password,
                "display_name": "P",
            },
        )
        assert r.status_code == 422, r.text
        assert error_code(r) == code
        assert password not in r.text
    assert await store.get("users", {"pk": f"EMAIL#{email}", "sk": "EMAIL"}) is None
    # exactly 12 characters and 1,024 bytes are fine
    ok = await client.post(
        "/api/auth/register",
        json={
            "organization_name": "Org",
            "email": email,
            "password": "é" * 512,
            "display_name": "P",
        },
    )
    assert ok.status_code == 201, ok.text
    assert (await login(client, email, "é" * 512)).status_code == 200


async def test_invalid_email_is_422(client: httpx.AsyncClient) -> None:
    for email in ("not-an-email", "a@", "@example.com", "a b@example.com"):
        r = await client.post(
            "/api/auth/register",
            json={
                "organization_name": "Org",
                "email": email,
                "password": PASSWORD,
                "display_name": "P",
            },
        )
        assert r.status_code == 422, email
        assert error_code(r) == "invalid_email"


# --------------------------------------------------------------------------- login
async def test_login_returns_tokens_and_audits(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client, email="login-owner@example.com")
    r = await login(client, "  LOGIN-owner@example.com ")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == owner.user_id
    assert body["user"]["last_login_at"] is not None
    assert body["session_id"] != owner.session_id
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200

    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == owner.user_id
    assert claims["org"] == owner.org_id
    assert claims["role"] == "owner"
    assert claims["sid"] == body["session_id"]
    assert claims["exp"] - claims["iat"] == 900
    assert "kid" in jwt.get_unverified_header(body["access_token"])

    logins = [e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.login"]
    assert logins[-1]["target_id"] == owner.user_id
    assert logins[-1]["details"]["session_id"] == body["session_id"]
    session = await store.get("sessions", {"pk": f"SESSION#{body['session_id']}", "sk": "SESSION"})
    assert session is not None
    assert session["expires_at"] > time.time() + 29 * 24 * 3600
    assert body["refresh_token"].split(".")[1] not in str(session)  # only the hash is kept


async def test_wrong_password_and_unknown_email_answer_alike(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    wrong = await login(client, owner.email, "not the right password")
    unknown = await login(client, unique_email("nobody"), "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "invalid_credentials"
    failed = [
        e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.login_failed"
    ]
    assert len(failed) == 1
    assert failed[0]["target_id"] == owner.user_id
    assert failed[0]["outcome"] == "failure"
    assert failed[0]["details"] == {"reason": "wrong_password"}
    assert "not the right password" not in str(failed)
    # the unknown email is recorded in the system partition, which no route reads
    system = await audit_items(store, "_system")
    assert [e["action"] for e in system] == ["auth.login_failed"]


async def test_bcrypt_hash_from_the_seed_verifies_and_is_upgraded(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    key = {"pk": f"ORG#{owner.org_id}", "sk": f"USER#{owner.user_id}"}
    legacy = bcrypt.hashpw(b"seed-era password 1", bcrypt.gensalt(rounds=4)).decode()
    legacy = "$2a$" + legacy[4:]  # as bcryptjs wrote them
    await store.update("users", key, UpdateSpec(set={"password_hash": legacy}))

    assert (await login(client, owner.email, PASSWORD)).status_code == 401
    r = await login(client, owner.email, "seed-era password 1")
    assert r.status_code == 200, r.text
    stored = await store.get("users", key)
    assert stored is not None
    assert stored["password_hash"].startswith("$argon2id$")
    upgraded = [e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.login"]
    assert upgraded[-1]["changes"] == {"password_scheme": {"old": "bcrypt", "new": "argon2id"}}
    assert (await login(client, owner.email, "seed-era password 1")).status_code == 200


async def test_login_rejects_bad_bodies(client: httpx.AsyncClient) -> None:
    for body in ({"email": "a@example.com"}, {"email": 1, "password": "x"}, {"password": "x"}):
        r = await client.post("/api/auth/login", json=body)
        assert r.status_code == 422
        assert error_code(r) == "validation_failed"


# --------------------------------------------------------------------------- refresh
async def test_refresh_rotates_and_reuse_revokes_the_session(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    first = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != owner.refresh_token
    assert rotated["session_id"] == owner.session_id
    second = await client.post(
        "/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert second.status_code == 200
    latest = second.json()
    headers = {"Authorization": f"Bearer {latest['access_token']}"}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200

    # the first token again: someone holds a copy; the whole session dies
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert reuse.status_code == 401
    assert error_code(reuse) == "refresh_token_reused"
    me = await client.get("/api/auth/me", headers=headers)
    assert me.status_code == 401
    assert error_code(me) == "session_revoked"
    after = await client.post("/api/auth/refresh", json={"refresh_token": latest["refresh_token"]})
    assert after.status_code == 401
    assert error_code(after) == "session_revoked"

    actions = [e["action"] for e in await audit_items(store, owner.org_id)]
    assert actions.count("session.refreshed") == 2
    assert actions.count("session.reuse_detected") == 1
    # other sessions of the user are untouched
    assert (await login(client, owner.email)).status_code == 200


async def test_refresh_with_garbage_or_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    session_id = owner.refresh_token.split(".")[0]
    for token in ("garbage", f"{session_id}.{'A' * 43}", f"{'0' * 32}.{'A' * 43}"):
        r = await client.post("/api/auth/refresh", json={"refresh_token": token})
        assert r.status_code == 401
        assert error_code(r) == "invalid_token"
    # a guess at the secret does not revoke the session
    ok = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert ok.status_code == 200


async def test_concurrent_refresh_with_one_token_lets_at_most_one_win(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    # alone, a refresh always wins
    alone = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert alone.status_code == 200, alone.text
    token = alone.json()["refresh_token"]
    responses = await asyncio.gather(
        *(client.post("/api/auth/refresh", json={"refresh_token": token}) for _ in range(4))
    )
    assert sum(r.status_code == 200 for r in responses) <= 1
    # every loser gets the documented race answer, whatever the engine (on DynamoDB
    # racing transactions also meet TransactionConflict)
    losers = [r for r in responses if r.status_code != 200]
    assert len(losers) >= 3
    assert all(r.status_code == 401 for r in losers), [r.text for r in losers]
    assert {error_code(r) for r in losers} == {"refresh_token_reused"}, [r.text for r in losers]


# --------------------------------------------------------------------------- logout
async def test_logout_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    other = (await login(client, owner.email)).json()
    r = await client.post("/api/auth/logout", headers=owner.headers)
    assert r.status_code == 204
    me = await client.get("/api/auth/me", headers=owner.headers)
    assert me.status_code == 401
    assert error_code(me) == "session_revoked"
    assert me.headers["WWW-Authenticate"] == "Bearer"
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert refresh.status_code == 401
    again = await client.post("/api/auth/logout", headers=owner.headers)
    assert again.status_code == 401
    # the other session lives on
    assert (
        await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {other['access_token']}"}
        )
    ).status_code == 200
    logouts = [e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.logout"]
    assert [e["target_id"] for e in logouts] == [owner.session_id]


# --------------------------------------------------------------------------- bad tokens
async def test_bad_tokens_get_stable_codes(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    header, payload, signature = owner.access_token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    claims = jwt.decode(owner.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(owner.access_token)["kid"]
    forged = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    unsigned = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    expired = jwt.encode(
        {**claims, "iat": 1_000_000, "exp": 1_000_900}, "y" * 32, algorithm="HS256"
    )
    cases: dict[str, tuple[dict[str, str], str]] = {
        "missing": ({}, "unauthenticated"),
        "not bearer": ({"Authorization": f"Basic {owner.access_token}"}, "invalid_token"),
        "empty bearer": ({"Authorization": "Bearer "}, "invalid_token"),
        "garbage": ({"Authorization": "Bearer not.a.jwt"}, "invalid_token"),
        "bad signature": (
            {"Authorization": f"Bearer {header}.{payload}.{flipped}"},
            "invalid_token",
        ),
        "other key": ({"Authorization": f"Bearer {forged}"}, "invalid_token"),
        "alg none": ({"Authorization": f"Bearer {unsigned}"}, "invalid_token"),
        "unknown kid": ({"Authorization": f"Bearer {expired}"}, "invalid_token"),
        "refresh as access": ({"Authorization": f"Bearer {owner.refresh_token}"}, "invalid_token"),
    }
    for name, (headers, code) in cases.items():
        r = await client.get("/api/auth/me", headers=headers)
        assert r.status_code == 401, name
        assert error_code(r) == code, name
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 200


# --------------------------------------------------------------------------- invitations
async def test_invitation_is_single_use_and_joins_the_org(
    client: httpx.AsyncClient, store: Store
) -> None:
    owner = await register(client)
    email = unique_email("supervisor")
    invitation = await invite(client, owner, role=Role.SUPERVISOR, email=email.upper())
    assert invitation["email"] == email
    assert invitation["status"] == "pending"
    r = await accept(client, invitation["token"], name="Sam Supervisor")
    assert r.status_code == 201, r.text
    member = r.json()
    assert member["user"]["org_id"] == owner.org_id
    assert member["user"]["role"] == "supervisor"
    assert member["user"]["email"] == email
    again = await accept(client, invitation["token"])
    assert again.status_code == 404
    assert error_code(again) == "invitation_invalid"
    listed = await client.get("/api/users/invitations", headers=owner.headers)
    assert [(i["id"], i["status"]) for i in listed.json()["items"]] == [
        (invitation["id"], "accepted")
    ]
    assert "token" not in listed.json()["items"][0]
    actions = [e["action"] for e in await audit_items(store, owner.org_id)]
    assert actions.count("invitation.created") == 1
    assert actions.count("invitation.accepted") == 1
    assert actions.count("user.created") == 2


async def test_invitation_tokens_that_do_not_work(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    revoked = await invite(client, owner, role=Role.WORKER)
    r = await client.delete(f"/api/users/invitations/{revoked['id']}", headers=owner.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "revoked"
    expired = await invite(client, owner, role=Role.WORKER)
    await store.update(
        "organizations",
        {"pk": f"ORG#{owner.org_id}", "sk": f"INVITE#{expired['id']}"},
        UpdateSpec(set={"expires_at": int(time.time()) - 1}),
    )
    good = await invite(client, owner, role=Role.WORKER)
    org_id, invitation_id, secret = good["token"].split(".")
    tampered = f"{org_id}.{invitation_id}.{'A' * len(secret)}"
    before = await snapshot(store, owner.org_id)
    for token in (revoked["token"], expired["token"], tampered, "nonsense"):
        r = await accept(client, token)
        assert r.status_code == 404, token
        assert error_code(r) == "invitation_invalid"
    assert await snapshot(store, owner.org_id) == before
    assert (await accept(client, good["token"])).status_code == 201


async def test_invitation_for_an_existing_email_is_409(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    elsewhere = await register(client, org_name="Elsewhere")
    invitation = await invite(client, owner, role=Role.WORKER, email=elsewhere.email)
    r = await accept(client, invitation["token"])
    assert r.status_code == 409
    assert error_code(r) == "user_exists"


async def test_accept_checks_the_password_policy(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    invitation = await invite(client, owner, role=Role.WORKER)
    r = await accept(client, invitation["token"], password=invitation["email"])
    assert r.status_code == 422
    assert error_code(r) == "password_is_email"
    assert (await accept(client, invitation["token"])).status_code == 201


async def test_only_an_owner_invites_an_owner(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    admin = await join(client, owner, role=Role.ADMIN)
    r = await client.post(
        "/api/users/invitations",
        headers=admin.headers,
        json={"email": unique_email("o"), "role": "owner"},
    )
    assert r.status_code == 403
    assert error_code(r) == "forbidden"
    denied = [e for e in await audit_items(store, owner.org_id) if e["action"] == "access.denied"]
    assert denied[-1]["actor_id"] == admin.user_id
    assert denied[-1]["details"]["permission"] == "user.invite"
    second_owner_invite = await invite(client, owner, role=Role.OWNER)
    second = await accept(client, second_owner_invite["token"])
    assert second.status_code == 201
    # two owners now: one can step down
    r = await client.patch(
        f"/api/users/{owner.user_id}", headers=owner.headers, json={"role": "admin"}
    )
    assert r.status_code == 200, r.text


# --------------------------------------------------------------------------- multi-node
async def test_two_app_nodes_share_sessions_and_keys(
    app: FastAPI, client: httpx.AsyncClient, app_client: object, store: Store
) -> None:
    from prework.app import create_app

    other = create_app(app.state.settings, store=store, blobs=app.state.blobs)
    owner = await register(client)
    async with app_client(other) as node2:  # type: ignore[operator]
        assert (await node2.get("/api/auth/me", headers=owner.headers)).status_code == 200
        assert (await node2.post("/api/auth/logout", headers=owner.headers)).status_code == 204
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 401


async def test_new_hash_parameters_apply_at_the_next_login(
    app: FastAPI, client: httpx.AsyncClient, store: Store, app_client: object
) -> None:
    from prework.app import create_app

    owner = await register(client)
    key = {"pk": f"ORG#{owner.org_id}", "sk": f"USER#{owner.user_id}"}
    before = await store.get("users", key)
    assert before is not None
    assert "$m=1024,t=1,p=1$" in before["password_hash"]
    stronger = create_app(
        app.state.settings.model_copy(update={"password_hash_time_cost": 2}),
        store=store,
        blobs=app.state.blobs,
    )
    async with app_client(stronger) as node:  # type: ignore[operator]
        assert (await login(node, owner.email)).status_code == 200
    after = await store.get("users", key)
    assert after is not None
    assert "$m=1024,t=2,p=1$" in after["password_hash"]
    event = [e for e in await audit_items(store, owner.org_id) if e["action"] == "auth.login"][-1]
    assert event["details"]["password_rehashed"] is True
    assert event["changes"] == {}
    assert (await login(client, owner.email)).status_code == 200


# --------------------------------------------------------------------------- review fixes
async def test_a_guessed_refresh_token_learns_nothing_about_the_session(
    client: httpx.AsyncClient,
) -> None:
    """Without the secret, a revoked session answers like an unknown one."""
    owner = await register(client)
    assert (await client.post("/api/auth/logout", headers=owner.headers)).status_code == 204
    guess = f"{owner.session_id}.{'A' * 43}"
    r = await client.post("/api/auth/refresh", json={"refresh_token": guess})
    assert r.status_code == 401
    assert error_code(r) == "invalid_token"
    # the holder of the real token is told why it stopped working
    r = await client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert error_code(r) == "session_revoked"


async def test_racing_refreshes_all_count_as_reuse(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    responses = await asyncio.gather(
        *(
            client.post("/api/auth/refresh", json={"refresh_token": owner.refresh_token})
            for _ in range(4)
        )
    )
    losers = [r for r in responses if r.status_code != 200]
    assert len(losers) >= 3
    assert {error_code(r) for r in losers} == {"refresh_token_reused"}, [r.text for r in losers]
    # the session is dead, the winner's new tokens with it
    assert (await client.get("/api/auth/me", headers=owner.headers)).status_code == 401
    for r in responses:
        if r.status_code == 200:
            again = await client.post(
                "/api/auth/refresh", json={"refresh_token": r.json()["refresh_token"]}
            )
            assert again.status_code == 401
    actions = [e["action"] for e in await audit_items(store, owner.org_id)]
    assert actions.count("session.reuse_detected") == 1


async def test_invitation_token_finds_its_invitation_with_a_consistent_read(
    client: httpx.AsyncClient, store: Store
) -> None:
    """The token names the organization and the invitation: acceptance reads the
    item itself (strongly consistent), never an eventually consistent index."""
    owner = await register(client)
    invitation = await invite(client, owner, role=Role.WORKER)
    org_part, invitation_part, secret = invitation["token"].split(".")
    assert (org_part, invitation_part) == (owner.org_id, invitation["id"])
    assert len(secret) == 43
    key = {"pk": f"ORG#{owner.org_id}", "sk": f"INVITE#{invitation['id']}"}
    stored = await store.get("organizations", key)
    assert stored is not None
    assert secret not in str(stored)
    assert "gsi1pk" not in stored  # no index entry to lag behind
    # a token naming another organization finds nothing
    other = await register(client, org_name="Other")
    moved = f"{other.org_id}.{invitation_part}.{secret}"
    r = await accept(client, moved)
    assert r.status_code == 404
    assert error_code(r) == "invitation_invalid"
    r = await accept(client, invitation["token"])
    assert r.status_code == 201, r.text
    assert r.json()["user"]["org_id"] == owner.org_id


async def test_racing_acceptances_of_one_invitation_lose_as_used(
    client: httpx.AsyncClient,
) -> None:
    owner = await register(client)
    for _ in range(3):
        invitation = await invite(client, owner, role=Role.WORKER)
        responses = await asyncio.gather(*(accept(client, invitation["token"]) for _ in range(4)))
        assert sorted(r.status_code for r in responses) == [201, 404, 404, 404], [
            r.text for r in responses
        ]
        assert {error_code(r) for r in responses if r.status_code == 404} == {"invitation_invalid"}
