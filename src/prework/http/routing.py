"""The router every area builds its routes with.

:class:`APIRouter` is FastAPI's, with :class:`Route` as its route class: JSON bodies
parsed and bounded before validation (:mod:`prework.http.bodies`), ``Idempotency-Key``
honoured on every creating route (:mod:`prework.http.idempotency`), and the request
handled by a handler planned once per route (:mod:`prework.http.handler`) instead of
FastAPI's, which inspects the route again on every request. A test walks the app's
routes and fails for one built without it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter as FastAPIRouter
from fastapi.routing import APIRoute, _effective_route_context_var

from prework.http.handler import Handler, compiled_handler, keep_planned_handler
from prework.http.idempotency import IdempotentRoute

__all__ = ["APIRouter", "PlannedRoute", "Route"]


class PlannedRoute(APIRoute):
    """An ``APIRoute`` answered by :func:`prework.http.handler.compiled_handler` when
    the route allows it (``planned`` says whether it does), else by FastAPI's handler."""

    planned: bool = False

    def get_route_handler(self) -> Handler:
        fallback = super().get_route_handler()
        # FastAPI builds an included route's handler with its effective context
        # (prefix, the router's dependencies and defaults) in this variable
        effective: Any = _effective_route_context_var.get()
        route = effective if effective is not None and effective.original_route is self else self
        handler = compiled_handler(route, fallback)
        self.planned = handler is not None
        return fallback if handler is None else handler


class Route(IdempotentRoute, PlannedRoute):
    """Every area's route: bounded JSON bodies, idempotent creations, a planned handler."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        effective: Any = _effective_route_context_var.get()
        target = effective if effective is not None and effective.original_route is self else self
        # FastAPI's body size limit wraps the route's app, not its handler
        if self.planned and getattr(target, "max_body_size", None) is None:
            keep_planned_handler(target, handler)
        return handler


class APIRouter(FastAPIRouter):
    """FastAPI's ``APIRouter`` with :class:`Route` as its route class."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", Route)
        super().__init__(**kwargs)
