"""Access tokens over HTTP: expiry, key rotation, deactivated users."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from prework.app import create_app
from prework.core.principal import Role
from prework.identity.tokens import TokenService
from prework.store.base import Store

from .helpers import error_code, join, login, register

AppClient = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_expired_access_token_is_401_token_expired(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await register(client)
    tokens: TokenService = app.state.services.identity.tokens
    past = TokenService(tokens.keys, access_ttl=900, clock=lambda: time.time() - 901)
    stale = past.issue_access(
        user_id=owner.user_id, org_id=owner.org_id, role=Role.OWNER, session_id=owner.session_id
    )
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {stale}"})
    assert r.status_code == 401
    assert error_code(r) == "token_expired"


async def test_keys_rotate_without_logging_anyone_out(
    app: FastAPI, client: httpx.AsyncClient, store: Store, app_client: AppClient, tmp_path: Path
) -> None:
    owner = await register(client)
    old_secret = app.state.settings.secret_key
    new_secret = SecretStr("the-next-secret-key-0123456789abcdef")
    rotated = create_app(
        app.state.settings.model_copy(
            update={"secret_key": new_secret, "previous_secret_keys": [old_secret]}
        ),
        store=store,
        blobs=app.state.blobs,
    )
    forgetful = create_app(
        app.state.settings.model_copy(update={"secret_key": new_secret}),
        store=store,
        blobs=app.state.blobs,
    )
    async with app_client(rotated) as node:
        assert (await node.get("/api/auth/me", headers=owner.headers)).status_code == 200
        fresh = (await login(node, owner.email)).json()["access_token"]
    async with app_client(forgetful) as node:
        r = await node.get("/api/auth/me", headers=owner.headers)
        assert r.status_code == 401
        assert error_code(r) == "invalid_token"
        ok = await node.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})
        assert ok.status_code == 200
    # the old node does not know the new key
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {fresh}"})
    assert r.status_code == 401
    assert error_code(r) == "invalid_token"


async def test_deactivation_takes_effect_at_once(client: httpx.AsyncClient, store: Store) -> None:
    owner = await register(client)
    worker = await join(client, owner, role=Role.WORKER)
    assert (await client.get("/api/auth/me", headers=worker.headers)).status_code == 200
    r = await client.post(f"/api/users/{worker.user_id}/deactivate", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "deactivated"

    me = await client.get("/api/auth/me", headers=worker.headers)
    assert me.status_code == 401
    assert error_code(me) == "account_deactivated"
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": worker.refresh_token})
    assert refresh.status_code == 401
    assert error_code(refresh) == "account_deactivated"
    denied = await login(client, worker.email)
    assert denied.status_code == 401
    assert error_code(denied) == "invalid_credentials"

    r = await client.post(f"/api/users/{worker.user_id}/reactivate", headers=owner.headers)
    assert r.status_code == 200
    assert r.json()["status"] == "active"
    # sessions from before the deactivation stay dead; a new login works
    me = await client.get("/api/auth/me", headers=worker.headers)
    assert me.status_code == 401
    assert error_code(me) == "session_revoked"
    assert (await login(client, worker.email)).status_code == 200


async def test_a_role_change_applies_to_the_next_request(client: httpx.AsyncClient) -> None:
    owner = await register(client)
    admin = await join(client, owner, role=Role.ADMIN)
    assert (await client.get("/api/audit", headers=admin.headers)).status_code == 200
    r = await client.patch(
        f"/api/users/{admin.user_id}", headers=owner.headers, json={"role": "worker"}
    )
    assert r.status_code == 200
    # same access token, but the stored role decides
    assert (await client.get("/api/audit", headers=admin.headers)).status_code == 403


async def test_aws_engines_refuse_to_start_without_a_secret_key(tmp_path: Path) -> None:
    import pytest
    from asgi_lifespan import LifespanManager

    from prework.bootstrap import ConfigError
    from prework.config import Settings

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        store="dynamodb://?endpoint=http://127.0.0.1:9&region=us-east-1",
        blobs="s3://?endpoint=http://127.0.0.1:9&region=us-east-1",
    )
    app = create_app(settings)
    with pytest.raises(ConfigError, match="PREWORK_SECRET_KEY"):
        async with LifespanManager(app):
            pass
    assert not (tmp_path / "secret.key").exists()
