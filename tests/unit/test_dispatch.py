"""The flat route table picks the route FastAPI's nested routers pick.

Every request is sent with the table in front of the router and without it, and
the answers must be equal; each route answers with what the scope tells it
(route, endpoint, path parameters, router), so a wrong pick or a wrong scope shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from starlette.types import Receive, Scope, Send

from prework.http.dispatch import Dispatch, install_dispatch, routes_of


def _answer(name: str) -> Any:
    async def endpoint(request: Request) -> dict[str, Any]:
        scope = request.scope
        return {
            "name": name,
            "route": scope["route"].path,
            "endpoint": scope["endpoint"].__name__,
            "params": {k: str(v) for k, v in scope["path_params"].items()},
            "router": type(scope["router"]).__name__,
        }

    endpoint.__name__ = name
    return endpoint


def _app() -> FastAPI:
    inner = APIRouter(prefix="/users")
    inner.add_api_route("/invitations", _answer("post_invitations"), methods=["POST"])
    inner.add_api_route("/invitations", _answer("get_invitations"), methods=["GET"])
    inner.add_api_route("/{user_id}", _answer("get_user"), methods=["GET"])
    inner.add_api_route("/{user_id}", _answer("patch_user"), methods=["PATCH"])
    inner.add_api_route("/n/{number:int}", _answer("numbered"), methods=["GET"])
    inner.add_api_route("", _answer("list_users"), methods=["GET"])
    outer = APIRouter(prefix="/api")
    outer.include_router(inner)
    outer.add_api_route("/files/{key:path}", _answer("get_file"), methods=["GET"])
    outer.add_api_route("/files/{key:path}", _answer("delete_file"), methods=["DELETE"])
    app = FastAPI()
    app.include_router(outer)
    app.add_api_route("/top", _answer("top"), methods=["GET"])
    return app


@pytest.fixture
async def app_and_client() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = _app()
    install_dispatch(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield app, client


REQUESTS = [
    ("GET", "/api/users"),
    ("GET", "/api/users/"),
    ("GET", "/api/users/invitations"),
    ("POST", "/api/users/invitations"),
    ("PATCH", "/api/users/invitations"),
    ("DELETE", "/api/users/invitations"),
    ("GET", "/api/users/u1"),
    ("PATCH", "/api/users/u1"),
    ("PUT", "/api/users/u1"),
    ("GET", "/api/users/n/12"),
    ("GET", "/api/users/n/twelve"),
    ("GET", "/api/files/a/b/c.txt"),
    ("DELETE", "/api/files/a"),
    ("GET", "/top"),
    ("GET", "/top/"),
    ("GET", "/nowhere"),
    ("GET", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "url"), REQUESTS)
async def test_the_table_answers_as_the_routers_do(
    app_and_client: tuple[FastAPI, httpx.AsyncClient], method: str, url: str
) -> None:
    app, client = app_and_client
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, Dispatch)
    flat = await client.request(method, url)
    app.router.middleware_stack = dispatch.app  # type: ignore[assignment]
    try:
        nested = await client.request(method, url)
    finally:
        app.router.middleware_stack = dispatch
    assert (flat.status_code, flat.headers.multi_items(), flat.content) == (
        nested.status_code,
        nested.headers.multi_items(),
        nested.content,
    )


async def test_routes_included_later_join_the_table(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_and_client
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, Dispatch)
    before = len(routes_of(dispatch))
    late = APIRouter(prefix="/late")
    late.add_api_route("/x", _answer("late"), methods=["GET"])
    app.include_router(late)
    r = await client.get("/late/x")
    assert r.status_code == 200
    assert r.json()["name"] == "late"
    assert len(routes_of(dispatch)) == before + 1


async def test_a_served_route_does_not_go_through_the_nested_routers(
    app_and_client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = app_and_client
    dispatch = app.router.middleware_stack
    assert isinstance(dispatch, Dispatch)
    nested = dispatch.app
    through: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        through.append(scope["path"])
        await nested(scope, receive, send)

    dispatch.app = counting
    for method, url in [("GET", "/api/users/invitations"), ("PATCH", "/api/users/u1")]:
        assert (await client.request(method, url)).status_code == 200
    assert (await client.get("/api/files/a/b")).json()["params"] == {"key": "a/b"}
    assert through == []
    assert (await client.get("/nowhere")).status_code == 404
    assert (await client.delete("/api/users/u1")).status_code == 405
    assert through == ["/nowhere", "/api/users/u1"]
