"""``prework.http.front``: planned routes are served in front of the middleware, and
answer exactly as they do behind it.

Every request is sent to the same app built with and without the front layer (the
request id given, so that the answers can be compared byte for byte) and the
status, headers, body and access line must be equal; then the front layer is
checked to take only the requests it stands in for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

from prework.app import create_app
from prework.config import Settings
from prework.errors import NotFound, Unauthenticated
from prework.http.bodies import body_bounds
from prework.http.dispatch import install_dispatch
from prework.http.errors import install_error_handlers
from prework.http.front import FrontRoutes, install_front_routes
from prework.http.middleware import RequestContextMiddleware
from prework.http.routing import APIRouter

LIMIT = 1000


class ItemIn(BaseModel):
    name: str
    count: int = 1


class ItemRead(BaseModel):
    id: int
    name: str
    q: str | None = None
    limit: int
    thing: str | None = None


async def who(authorization: str | None = Header(default=None)) -> str:
    if authorization != "Bearer ok":
        raise Unauthenticated("Say who you are.")
    return "someone"


def _app(*, front: bool) -> FastAPI:
    router = APIRouter(prefix="/api/t")

    @router.get("/items/{item_id}", response_model=ItemRead)
    async def get_item(
        item_id: int,
        q: str | None = None,
        limit: int = 10,
        x_thing: str | None = Header(default=None),
    ) -> ItemRead:
        return ItemRead(id=item_id, name="one", q=q, limit=limit, thing=x_thing)

    @router.post("/items", response_model=ItemRead, status_code=201)
    @body_bounds(max_bytes=200)
    async def post_item(
        body: ItemIn, response: Response, user: str = Depends(who)
    ) -> dict[str, Any]:
        response.headers["Location"] = "/api/t/items/7"
        return {"id": 7, "name": body.name, "limit": body.count, "thing": user}

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such thing.", code="no_thing")

    @router.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Tea": "yes"})

    @router.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @router.get("/raw")
    async def raw() -> JSONResponse:
        return JSONResponse({"raw": True}, status_code=202, headers={"X-Raw": "1"})

    @router.get("/sync")
    def sync() -> dict[str, str]:  # not planned: FastAPI's handler, the long way
        return {"sync": "yes"}

    app = FastAPI()
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=LIMIT, exempt_paths=["/api/t/exempt"]
    )
    install_error_handlers(app)
    app.include_router(router)
    install_dispatch(app)
    if front:
        install_front_routes(app)
    return app


@pytest.fixture(scope="module")
def apps() -> tuple[FastAPI, FastAPI]:
    return _app(front=True), _app(front=False)


async def _send(app: FastAPI, request: dict[str, Any]) -> tuple[Any, ...]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with structlog.testing.capture_logs() as logs:
            r = await client.request(**request)
    # the same line, for the same exception raised again
    lines = [{k: repr(v) for k, v in e.items() if k != "duration_ms"} for e in logs]
    return r.status_code, r.headers.multi_items(), r.content, lines


async def _chunks() -> AsyncIterator[bytes]:
    yield b'{"name": '
    yield b'"chunked"}'


OK = {"Authorization": "Bearer ok"}
OK_JSON = {**OK, "Content-Type": "application/json"}
REQUESTS: list[dict[str, Any]] = [
    {"method": "GET", "url": "/api/t/items/3"},
    {"method": "GET", "url": "/api/t/items/3?q=x&limit=5", "headers": {"X-Thing": "t"}},
    {"method": "GET", "url": "/api/t/items/3?limit=many"},
    {"method": "GET", "url": "/api/t/items/three"},
    {"method": "POST", "url": "/api/t/items", "json": {"name": "a"}, "headers": OK},
    {"method": "POST", "url": "/api/t/items", "json": {"name": 5}, "headers": OK},
    {"method": "POST", "url": "/api/t/items", "json": {"name": "a"}},
    {"method": "POST", "url": "/api/t/items", "content": b"{nope", "headers": OK_JSON},
    {"method": "POST", "url": "/api/t/items", "json": {"name": "a" * 300}, "headers": OK},
    {"method": "POST", "url": "/api/t/items", "json": {"name": "a" * 2000}, "headers": OK},
    {"method": "POST", "url": "/api/t/items", "content": _chunks, "headers": OK_JSON},
    {"method": "GET", "url": "/api/t/missing"},
    {"method": "GET", "url": "/api/t/teapot"},
    {"method": "GET", "url": "/api/t/bug"},
    {"method": "GET", "url": "/api/t/raw"},
    {"method": "HEAD", "url": "/api/t/raw"},
    {"method": "GET", "url": "/api/t/sync"},
    {"method": "PUT", "url": "/api/t/items"},
    {"method": "GET", "url": "/api/t/nowhere"},
    {"method": "GET", "url": "/api/t/items/3/"},
    {"method": "GET", "url": "/openapi.json"},
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: f"{r['method']} {r['url']}")
@pytest.mark.parametrize("given_id", [True, False], ids=["given-id", "made-id"])
async def test_front_answers_as_the_middleware_does(
    apps: tuple[FastAPI, FastAPI], request_: dict[str, Any], given_id: bool
) -> None:
    front, behind = apps
    request = dict(request_)
    if callable(request.get("content")):
        request["content"] = request["content"]()
    if given_id:
        request["headers"] = {**request.get("headers", {}), "X-Request-ID": "given-id-42"}
    answered = await _send(front, request)
    if callable(request_.get("content")):
        request["content"] = request_["content"]()
    expected = await _send(behind, request)
    if not given_id:  # each app made its own id: equal in form, then compared as equal
        for answer in (answered, expected):
            assert len(dict(answer[1])["x-request-id"]) == 32
        made = dict(expected[1])["x-request-id"]
        answered = _with_id(answered, dict(answered[1])["x-request-id"], made)
    assert answered == expected


def _with_id(answer: tuple[Any, ...], old: str, new: str) -> tuple[Any, ...]:
    status, headers, content, lines = answer
    headers = [(k, new if v == old else v) for k, v in headers]
    content = content.replace(old.encode(), new.encode())
    lines = [{k: v.replace(old, new) for k, v in line.items()} for line in lines]
    return status, headers, content, lines


@pytest.fixture
async def client() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = _app(front=True)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield app, c


async def test_only_planned_routes_skip_the_middleware(
    client: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, c = client
    await c.get("/api/t/raw")  # the stack is built at the first call
    front = app.middleware_stack.app  # type: ignore[union-attr]
    assert isinstance(front, FrontRoutes)
    behind = front.app
    through: list[str] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        through.append(f"{scope['method']} {scope['path']}")
        await behind(scope, receive, send)

    front.app = counting
    assert (await c.get("/api/t/items/3")).status_code == 200
    assert (await c.get("/api/t/missing")).status_code == 404
    assert (await c.get("/api/t/bug")).status_code == 500
    ok = {"Authorization": "Bearer ok"}
    assert (await c.post("/api/t/items", json={"name": "a"}, headers=ok)).status_code == 201
    assert through == []
    assert (await c.get("/api/t/sync")).status_code == 200  # not planned
    assert (await c.get("/api/t/nowhere")).status_code == 404  # FastAPI's router decides
    as_json = {**ok, "Content-Type": "application/json"}
    chunked = await c.post("/api/t/items", content=_chunks(), headers=as_json)
    assert chunked.status_code == 201  # its body is counted by the middleware
    app.dependency_overrides[who] = lambda: "overridden"
    try:
        assert (await c.post("/api/t/items", json={"name": "a"})).json()["thing"] == "overridden"
    finally:
        app.dependency_overrides.clear()
    assert through == [
        "GET /api/t/sync",
        "GET /api/t/nowhere",
        "POST /api/t/items",
        "POST /api/t/items",
    ]


def test_the_app_serves_planned_routes_in_front_but_not_with_cors(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    def front_layer(**changes: Any) -> bool:
        app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", **changes))
        return isinstance(getattr(app.build_middleware_stack(), "app", None), FrontRoutes)

    assert front_layer()
    assert not front_layer(cors_origins=["https://app.example.com"])
