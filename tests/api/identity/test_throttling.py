"""Brute-force throttling: per account, per client address, shared by every app node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from prework.app import create_app
from prework.config import Settings
from prework.store.base import Store

from .helpers import PASSWORD, audit_items, error_code, login, register, unique_email

AppClient = Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def node(
    settings: Settings, store: Store, app: FastAPI, *, address: str = "203.0.113.7", **limits: int
) -> AsyncIterator[httpx.AsyncClient]:
    """One app node with tight limits, reached from ``address``."""
    tight = create_app(settings.model_copy(update=limits), store=store, blobs=app.state.blobs)
    async with (
        LifespanManager(tight) as manager,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, client=(address, 40000)),
            base_url="http://testserver",
        ) as c,
    ):
        yield c


@pytest.fixture
def tight(
    settings: Settings, store: Store, app: FastAPI
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    def make(**kwargs: object) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return node(settings, store, app, **kwargs)  # type: ignore[arg-type]

    return make


async def test_failures_per_account_are_throttled(
    client: httpx.AsyncClient,
    store: Store,
    tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    owner = await register(client)
    async with tight(login_max_failures_per_account=3) as c:
        for _ in range(3):
            assert (await login(c, owner.email, "wrong password!!")).status_code == 401
        blocked = await login(c, owner.email, "wrong password!!")
        assert blocked.status_code == 429
        assert error_code(blocked) == "rate_limited"
        assert 1 <= int(blocked.headers["Retry-After"]) <= 15 * 60
        # even the right password waits: the attacker learns nothing
        right = await login(c, owner.email, PASSWORD)
        assert right.status_code == 429
        # another account from the same address is not affected
        other = await register(client)
        assert (await login(c, other.email)).status_code == 200
    actions = [e["action"] for e in await audit_items(store, owner.org_id)]
    assert actions.count("auth.login_failed") == 3
    assert actions.count("auth.login_throttled") == 1  # once per window, not per attempt


async def test_successes_do_not_count(
    client: httpx.AsyncClient, tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    owner = await register(client)
    async with tight(login_max_failures_per_account=2, login_max_failures_per_address=3) as c:
        for _ in range(5):
            assert (await login(c, owner.email)).status_code == 200
        assert (await login(c, owner.email, "wrong password!!")).status_code == 401
        assert (await login(c, owner.email)).status_code == 200  # resets the account window
        assert (await login(c, owner.email, "wrong password!!")).status_code == 401
        assert (await login(c, owner.email, "wrong password!!")).status_code == 401
        # three failures since the reset (successes took theirs back): both windows are full
        assert (await login(c, owner.email, "wrong password!!")).status_code == 429


async def test_failures_per_address_are_throttled(
    tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    async with tight(login_max_failures_per_address=4, address="198.51.100.1") as c:
        for _ in range(4):
            r = await login(c, unique_email("spray"), "wrong password!!")
            assert r.status_code == 401
        r = await login(c, unique_email("spray"), "wrong password!!")
        assert r.status_code == 429
        assert error_code(r) == "rate_limited"
    async with tight(login_max_failures_per_address=4, address="198.51.100.2") as c:
        assert (await login(c, unique_email("spray"), "wrong password!!")).status_code == 401


async def test_the_limit_holds_across_app_nodes(
    client: httpx.AsyncClient, tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    owner = await register(client)
    async with (
        tight(login_max_failures_per_account=3, address="192.0.2.1") as node1,
        tight(login_max_failures_per_account=3, address="192.0.2.2") as node2,
    ):
        assert (await login(node1, owner.email, "wrong password!!")).status_code == 401
        assert (await login(node2, owner.email, "wrong password!!")).status_code == 401
        assert (await login(node1, owner.email, "wrong password!!")).status_code == 401
        assert (await login(node2, owner.email, "wrong password!!")).status_code == 429


async def test_concurrent_guesses_cannot_slip_past_the_limit(
    client: httpx.AsyncClient, tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    import asyncio

    owner = await register(client)
    async with tight(login_max_failures_per_account=3) as c:
        responses = await asyncio.gather(
            *(login(c, owner.email, "wrong password!!") for _ in range(10))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 3 + [429] * 7


async def test_registration_is_throttled_per_address(
    tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    async with tight(register_max_per_address=2, address="198.51.100.9") as c:
        await register(c)
        await register(c)
        r = await c.post(
            "/api/auth/register",
            json={
                "organization_name": "Third",
                "email": unique_email(),
                "password": PASSWORD,
                "display_name": "T",
            },
        )
        assert r.status_code == 429
        assert error_code(r) == "rate_limited"
        assert "Retry-After" in r.headers


async def test_ipv6_clients_are_counted_per_64_network(
    tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    """One IPv6 subscriber holds a whole /64: rotating the interface id must not
    reset the per-address count."""
    for i in range(3):
        async with tight(login_max_failures_per_address=3, address=f"2001:db8:5:7::{i + 1}") as c:
            assert (await login(c, unique_email("v6"), "wrong password!!")).status_code == 401
    async with tight(login_max_failures_per_address=3, address="2001:db8:5:7:ffff::9") as c:
        r = await login(c, unique_email("v6"), "wrong password!!")
        assert r.status_code == 429, r.text
    # the next /64 is someone else
    async with tight(login_max_failures_per_address=3, address="2001:db8:5:8::1") as c:
        assert (await login(c, unique_email("v6"), "wrong password!!")).status_code == 401


async def test_forwarded_headers_do_not_change_the_counted_address(
    store: Store, tight: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
) -> None:
    """Only the connection's peer counts: X-Forwarded-For is for a trusted proxy
    to resolve (uvicorn --forwarded-allow-ips), never the app."""
    async with tight(login_max_failures_per_address=2, address="198.51.100.77") as c:
        owner = await register(c)
        for i in range(3):
            r = await c.post(
                "/api/auth/login",
                json={"email": unique_email("xff"), "password": "wrong password!!"},
                headers={
                    "X-Forwarded-For": f"10.9.9.{i}",
                    "X-Real-IP": f"10.8.8.{i}",
                    "Forwarded": f"for=10.7.7.{i}",
                },
            )
            assert r.status_code == (401 if i < 2 else 429), r.text
        r = await c.post(
            "/api/auth/login",
            json={"email": owner.email, "password": PASSWORD},
            headers={"X-Forwarded-For": "10.9.9.200"},
        )
        assert r.status_code == 429, r.text
    events = await audit_items(store, owner.org_id)
    assert {e["client_ip"] for e in events} == {"198.51.100.77"}
