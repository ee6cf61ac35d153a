"""Planned routes served in front of the middleware stack.

Between Starlette's error middleware and a Prework route's handler, a request used
to pass through FastAPI's telemetry and body limit layers (both idle unless
configured), the request context middleware, Starlette's exception middleware,
FastAPI's exit stack middleware, the app's router, the flat route table
(:mod:`prework.http.dispatch`) and FastAPI's route app (two more exit stacks and the
exception handling once more); each answer went back through four ``send``
wrappers. Of those, a planned route (:mod:`prework.http.handler`: no forms, no
generator dependencies, no streams) needs only three things: the request context
(id, access line, the 500 of a bug), the route's scope, and the app's exception
handlers. :class:`FrontRoutes`, the first layer inside Starlette's error
middleware, gives it exactly those: the request context middleware's own
:meth:`~prework.http.middleware.RequestContextMiddleware.serve`, the table's
:meth:`~prework.http.dispatch.Dispatch.enter`, and Starlette's
``wrap_app_handling_exceptions`` with the exception middleware's handlers, once.

Everything else goes the long way, unchanged: a request whose body the request
context middleware counts (chunked, or declared past ``PREWORK_MAX_BODY_BYTES``), one
the table leaves to FastAPI's router (404, 405, redirects, ``/openapi.json``), a route
that is not planned, and every request while ``app.dependency_overrides`` is set or
FastAPI's telemetry is on. The front layer is installed only when the stack is the
one :func:`prework.app.create_app` builds without CORS (with CORS, an answer must go
through the CORS middleware). ``tests/api/test_front_routes.py`` sends the same
requests with and without it and requires the same answers and access lines.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.telemetry._api import get_telemetry_data
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from prework.http.dispatch import Dispatch
from prework.http.handler import Handler
from prework.http.middleware import RequestContextMiddleware, request_head
from prework.http.sockets import FrontSockets

__all__ = ["FrontRoutes", "install_front_routes"]

_HANDLERS_KEY = "starlette.exception_handlers"  # where the exception middleware puts them


class FrontRoutes:
    """``app``, with the planned routes of ``dispatch``'s table served before it
    (the request ``context`` of the stack, the exception middleware's ``handlers``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        fastapi: FastAPI,
        context: RequestContextMiddleware,
        dispatch: Dispatch,
        handlers: tuple[Any, Any],
    ) -> None:
        self.app = app
        self.fastapi = fastapi
        self.context = context
        self.dispatch = dispatch
        self.handlers = handlers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_id, length, chunked = request_head(scope)
            if self.context.passes_through(scope, length, chunked):
                found = self.dispatch.table().find(scope)
                if (
                    found is not None
                    and found[0].handler is not None
                    and not self.fastapi.dependency_overrides
                    and get_telemetry_data() is None
                ):
                    entry, params = found
                    scope[_HANDLERS_KEY] = self.handlers
                    self.dispatch.enter(scope, entry, params)
                    await self.context.serve(scope, receive, send, raw_id, _RouteApp(entry.handler))
                    return
        await self.app(scope, receive, send)


class _RouteApp:
    """A planned route's handler as an ASGI app, its exceptions answered by the
    app's exception handlers (as FastAPI's route app does)."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        handler = self.handler

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            response = await handler(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)


# the stack create_app builds without CORS, outermost first, down to the router
_EXPECTED: tuple[type, ...] = (
    ServerErrorMiddleware,
    ExceptionTelemetryMiddleware,
    AppBodyLimitMiddleware,
    RequestContextMiddleware,
    ExceptionMiddleware,
    AsyncExitStackMiddleware,
)


def _layers(stack: Any, router: Any) -> list[Any]:
    """The layers of ``stack`` down to ``router`` (the last one)."""
    layers = [stack]
    while stack is not router:
        stack = getattr(stack, "app", None)
        if stack is None:
            break
        layers.append(stack)
    return layers


def install_front_routes(app: FastAPI) -> None:
    """Serve ``app``'s planned routes in front of its middleware, when its stack is
    the one expected (checked when the stack is built: at the app's first call)."""
    build = app.build_middleware_stack

    def build_with_front_routes() -> ASGIApp:
        stack = build()
        layers = _layers(stack, app.router)
        kinds = tuple(type(layer) for layer in layers if not isinstance(layer, FrontSockets))
        dispatch = app.router.middleware_stack
        if (
            kinds[:-1] != _EXPECTED
            or layers[-1] is not app.router
            or not isinstance(dispatch, Dispatch)
            or app.max_body_size is not None
        ):
            return stack  # not the stack this layer stands in for: the long way only
        context = next(x for x in layers if isinstance(x, RequestContextMiddleware))
        exceptions = next(x for x in layers if isinstance(x, ExceptionMiddleware))
        stack.app = FrontRoutes(  # type: ignore[attr-defined]
            stack.app,  # type: ignore[attr-defined]
            fastapi=app,
            context=context,
            dispatch=dispatch,
            handlers=(exceptions._exception_handlers, exceptions._status_handlers),
        )
        return stack

    app.build_middleware_stack = build_with_front_routes  # type: ignore[method-assign]
