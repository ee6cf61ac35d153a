"""WebSocket endpoints served in front of the middleware stack.

A WebSocket is a long-lived ASGI call: everything between the server and the
endpoint stays suspended for the socket's whole life, each layer's frame, scope
copies and exit stacks with it. Through FastAPI (its error middleware, telemetry and
body limit wrappers, the request context middleware, the exception middleware, the
exit stack middleware, the routers, the route's dependency solving) that was about
14 KiB an idle socket, a third of what one costs (``bench/bench_sync.py``'s idle
clients). None of those layers does anything for a WebSocket that the endpoint
needs but the request id and the error mapping, so an endpoint registered with
:func:`front_socket` is served by :class:`FrontSockets`, the first layer inside
Starlette's error middleware: the request id assigned and bound to the log context
as :class:`prework.http.middleware.RequestContextMiddleware` does, then the endpoint
with a Starlette ``WebSocket``; an error it raises closes the socket as
:mod:`prework.http.errors` does (``4000 + status`` and the error code, ``1011`` and
the log line for a bug). The route stays registered with FastAPI as well (the
route walks and ``app.routes`` see it; served without the front layer it behaves the
same).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Final

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.routing import _IncludedRouter
from starlette._utils import get_route_path
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from prework.errors import Internal, PreworkError
from prework.http.errors import (
    REQUEST_ID_HEADER,
    REQUEST_ID_SCOPE_KEY,
    close_websocket,
    log_unhandled,
    ws_close_code,
)
from prework.http.middleware import accept_request_id, new_request_id

__all__ = ["FrontSockets", "SocketEndpoint", "front_socket", "install_front_sockets"]

SocketEndpoint = Callable[[WebSocket], Awaitable[None]]

_ID_HEADER: Final = REQUEST_ID_HEADER.lower().encode("latin-1")
_FRONT: set[SocketEndpoint] = set()


def front_socket(router: APIRouter, path: str) -> Callable[[SocketEndpoint], SocketEndpoint]:
    """Register ``endpoint`` as ``router``'s WebSocket route ``path``, to be served by
    :class:`FrontSockets` (its only parameter the ``WebSocket``: no dependencies)."""

    def register(endpoint: SocketEndpoint) -> SocketEndpoint:
        router.add_api_websocket_route(path, endpoint)
        _FRONT.add(endpoint)
        return endpoint

    return register


class FrontSockets:
    """``app``, with the WebSocket routes of ``endpoints`` (path -> endpoint) served
    before it."""

    def __init__(self, app: ASGIApp, endpoints: dict[str, SocketEndpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.endpoints.get(get_route_path(scope))
            if endpoint is not None:
                await self._serve(endpoint, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self, endpoint: SocketEndpoint, scope: Scope, receive: Receive, send: Send
    ) -> None:
        raw_id = next((v for k, v in scope["headers"] if k == _ID_HEADER), None)
        request_id = (
            accept_request_id(raw_id.decode("latin-1")) if raw_id is not None else None
        ) or new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        websocket = WebSocket(scope, receive, send)
        try:
            await endpoint(websocket)
        except PreworkError as exc:  # as prework.http.errors' handlers close it
            await close_websocket(websocket, ws_close_code(exc), exc.code)
        except Exception as exc:
            log_unhandled(exc, scope=scope)
            await close_websocket(websocket, 1011, Internal.code)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def _front_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, SocketEndpoint]]:
    """(path, endpoint) of each :func:`front_socket` route among ``routes``, in
    FastAPI's included routers too (as :mod:`prework.http.dispatch` walks them; a
    router's own prefix is in its routes' paths, an ``include_router`` prefix is not)."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            inner = prefix + (route.include_context.prefix or "")
            yield from _front_routes(route.effective_candidates(), inner)
            continue
        original = getattr(route, "original_route", route)
        if isinstance(original, WebSocketRoute) and original.endpoint in _FRONT:
            yield prefix + original.path, original.endpoint


def install_front_sockets(app: FastAPI) -> None:
    """Serve ``app``'s :func:`front_socket` routes in front of its middleware (the
    routes it has when its middleware stack is built: at its first call)."""
    build = app.build_middleware_stack

    def build_with_front_sockets() -> ASGIApp:
        stack = build()
        endpoints = dict(_front_routes(app.router.routes))
        if not endpoints:
            return stack
        # inside Starlette's ServerErrorMiddleware (which passes WebSockets through)
        inner = getattr(stack, "app", None)
        if inner is None:
            return FrontSockets(stack, endpoints)
        stack.app = FrontSockets(inner, endpoints)  # type: ignore[attr-defined]
        return stack

    app.build_middleware_stack = build_with_front_sockets  # type: ignore[method-assign]
