"""``prework.http.sockets``: a :func:`front_socket` route is served in front of the
middleware, with the request id and error mapping it had behind it (the same route
served by FastAPI alone behaves the same, but for a bug: see the last test)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from prework.errors import Forbidden
from prework.http.errors import REQUEST_ID_SCOPE_KEY, install_error_handlers
from prework.http.middleware import RequestContextMiddleware
from prework.http.routing import APIRouter
from prework.http.sockets import FrontSockets, front_socket, install_front_sockets
from prework.testing.serving import serving


def _app(*, front: bool) -> FastAPI:
    router = APIRouter(prefix="/api/t")

    @front_socket(router, "/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        if text == "forbidden":
            raise Forbidden("Not you.", code="not_you")
        if text == "bug":
            raise RuntimeError("a bug")
        await websocket.send_text(f"{text} {websocket.scope[REQUEST_ID_SCOPE_KEY]}")
        await websocket.close()

    app = FastAPI()
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(router, prefix="/v1")  # an include prefix on top of the router's
    if front:
        install_front_sockets(app)
    return app


def _layers(app: FastAPI) -> list[type]:
    found: list[type] = []
    layer: Any = app.build_middleware_stack()
    while layer is not None:
        found.append(type(layer))
        layer = getattr(layer, "app", None)
    return found


def test_the_route_is_served_in_front_of_the_middleware() -> None:
    app = _app(front=True)
    layers = _layers(app)
    assert layers.index(FrontSockets) == 1, layers  # inside Starlette's error middleware
    assert layers.index(FrontSockets) < layers.index(RequestContextMiddleware)
    front = app.build_middleware_stack().app  # type: ignore[attr-defined]
    assert list(front.endpoints) == ["/v1/api/t/echo"]
    assert FrontSockets not in _layers(_app(front=False))


@pytest.fixture(params=[True, False], ids=["front", "fastapi"])
async def url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The app served by uvicorn on a loopback port, with and without the front layer."""
    app = _app(front=request.param)
    async with serving(app, lifespan="off", log_level="critical", ws="websockets-sansio") as port:
        yield f"ws://127.0.0.1:{port}/v1/api/t/echo"


async def _closed(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_request_ids_and_errors_as_behind_the_middleware(url: str) -> None:
    async with connect(url, additional_headers={"X-Request-ID": "given-id-0123"}) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello given-id-0123"
    async with connect(url) as ws:
        await ws.send("hi")
        text, made = str(await ws.recv()).split()
        assert text == "hi"
        assert re.fullmatch(r"[0-9a-f]{32}", made), made
    async with connect(url) as ws:
        await ws.send("forbidden")
        assert await _closed(ws) == (4403, "not_you")


async def test_a_bug_closes_the_socket_with_1011(url: str, request: pytest.FixtureRequest) -> None:
    """As docs/architecture.md says; behind the middleware (``fastapi``), the request
    context middleware logs it and uvicorn drops the connection without a close frame."""
    async with connect(url) as ws:
        await ws.send("bug")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    received = closed.value.rcvd
    if "front" in request.node.callspec.id:
        assert received is not None
        assert (received.code, received.reason) == (1011, "internal")
    else:
        assert received is None
