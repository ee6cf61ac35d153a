"""Finding a request's route in one step instead of one per included router.

FastAPI keeps every ``include_router`` as a nested router: a request to
``/api/users`` is matched against the app's routers, then matched again inside
the identity router (once to say it matches, once to pick the route), then
inside its ``/api/users`` router, and so on. :func:`install_dispatch` puts a
flat table in front of that (``app.router.middleware_stack``): every route the
app serves, in FastAPI's order, with the exact literal paths (``/api/users``)
in a dict that names, for each, every route whose pattern also matches it.

A request for which a FastAPI route matches and serves its method is handed
straight to the first such route's application (FastAPI's choice too), with
the scope FastAPI would have given it (``endpoint``, ``path_params``, ``route``,
``router``, the included router and route context, form limits). Everything
else (no route, no route serving the method: 404, 405 and redirects; a route
that is not FastAPI's, like ``/openapi.json``; WebSockets and lifespan) goes
through FastAPI's router unchanged. The table is rebuilt when a router gains routes.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    _FASTAPI_SCOPE_KEY,
    APIRoute,
    _apply_router_form_limits,
    _IncludedRouter,
)
from fastapi.routing import APIRouter as FastAPIRouter
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from prework.http.handler import planned_handler

__all__ = ["Dispatch", "install_dispatch"]

_PROBE_METHOD: Final = "GET"
_VERSION: Final = operator.attrgetter("_routes_version")
_ROUTES: Final = operator.attrgetter("routes")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A FastAPI route as FastAPI's nested routers would reach it."""

    regex: re.Pattern[str]
    convertors: dict[str, Any]
    methods: frozenset[str]
    endpoint: Callable[..., Any]
    route: APIRoute
    context: Any  # FastAPI's effective route context (prefix, dependencies, its app)
    app: ASGIApp
    path_format: str
    included: Any  # the innermost included router
    form_limits: tuple[Any, ...]  # of each included router, outermost first
    handler: Any  # the handler the route's app calls, for a planned Prework route; else None


@dataclass(frozen=True, slots=True)
class _Other:
    """A route that is not FastAPI's: if it matches, FastAPI's router answers."""

    route: Any


_Candidate = _Entry | _Other


def _walk(included: _IncludedRouter, limits: tuple[Any, ...], out: list[_Candidate]) -> list[Any]:
    """The candidates of ``included``, depth first in FastAPI's order; the routers met."""
    limits = (*limits, included.include_context.form_limits)
    routers = [included.original_router]
    for candidate in included.effective_candidates():
        if isinstance(candidate, _IncludedRouter):
            routers += _walk(candidate, limits, out)
            continue
        route = candidate.original_route
        if isinstance(route, APIRoute) and candidate.app is not None and candidate.endpoint:
            out.append(
                _Entry(
                    regex=candidate.path_regex,
                    convertors=candidate.param_convertors,
                    methods=frozenset(candidate.methods or ()),
                    endpoint=candidate.endpoint,
                    route=route,
                    context=candidate,
                    app=candidate.app,
                    path_format=candidate.path_format,
                    included=included,
                    form_limits=limits,
                    handler=planned_handler(candidate),
                )
            )
        else:
            out.append(_Other(candidate))
    return routers


def _may_match(candidate: _Candidate, path: str) -> bool:
    """Whether ``candidate`` may match a request for ``path`` (build time only)."""
    if isinstance(candidate, _Entry):
        return candidate.regex.match(path) is not None
    probe = {"type": "http", "path": path, "root_path": "", "method": _PROBE_METHOD}
    try:
        match, _ = candidate.route.matches(probe)
    except Exception:
        return True  # cannot tell: let FastAPI decide
    return match is not Match.NONE


class _Table:
    def __init__(self, router: FastAPIRouter) -> None:
        candidates: list[_Candidate] = []
        routers: list[Any] = [router]
        for route in router.routes:
            if isinstance(route, _IncludedRouter):
                routers += _walk(route, (), candidates)
            else:
                candidates.append(_Other(route))
        self.routers = tuple(routers)
        self.versions = [r._routes_version for r in routers]
        self.counts = [len(r.routes) for r in routers]
        # a literal path: every candidate that may match it, in order
        self.literal: dict[str, tuple[_Candidate, ...]] = {}
        for candidate in candidates:
            if isinstance(candidate, _Entry) and not candidate.convertors:
                path = candidate.path_format
                if path not in self.literal:
                    self.literal[path] = tuple(c for c in candidates if _may_match(c, path))
        # any other path: no literal route matches it
        self.patterns = tuple(
            c for c in candidates if not (isinstance(c, _Entry) and not c.convertors)
        )

    def current(self) -> bool:
        """Whether no router gained or lost a route since (checked on every request)."""
        routers = self.routers
        return (
            list(map(_VERSION, routers)) == self.versions
            and list(map(len, map(_ROUTES, routers))) == self.counts
        )

    def find(self, scope: Scope) -> tuple[_Entry, dict[str, Any]] | None:
        """The route FastAPI would answer ``scope`` with, with its path parameters,
        if that is a FastAPI route serving the method; None for FastAPI to decide."""
        path = get_route_path(scope)
        method = scope["method"]
        for candidate in self.literal.get(path, self.patterns):
            if isinstance(candidate, _Other):
                if candidate.route.matches(scope)[0] is not Match.NONE:
                    return None
                continue
            found = candidate.regex.match(path)
            if found is None:
                continue
            if candidate.methods and method not in candidate.methods:
                continue  # FastAPI answers with the first route serving the method
            params = found.groupdict()
            for key, value in params.items():
                params[key] = candidate.convertors[key].convert(value)
            return candidate, params
        return None


class Dispatch:
    """The app router's entry point: the flat table first, FastAPI's router otherwise."""

    def __init__(self, router: FastAPIRouter, app: ASGIApp) -> None:
        self.router = router
        self.app = app
        self._table: _Table | None = None

    def table(self) -> _Table:
        table = self._table
        if table is None or not table.current():
            table = self._table = _Table(self.router)
        return table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.table().find(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        entry, params = found
        self.enter(scope, entry, params)
        await entry.app(scope, receive, send)

    def enter(self, scope: Scope, entry: _Entry, params: dict[str, Any]) -> None:
        """Leave in ``scope`` what FastAPI's routers leave on the way to the route."""
        router = self.router
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        for limits in entry.form_limits:
            _apply_router_form_limits(scope, limits)
        fastapi_scope = scope.setdefault(_FASTAPI_SCOPE_KEY, {})
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = entry.included
        path_params = dict(scope.get("path_params", {}))
        path_params.update(params)
        scope["endpoint"] = entry.endpoint
        scope["path_params"] = path_params
        scope["route"] = entry.route
        _route_selected(scope=scope, path=entry.path_format)
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = entry.context


def install_dispatch(app: FastAPI) -> Dispatch:
    """Put :class:`Dispatch` in front of ``app``'s router (once)."""
    router = app.router
    current = router.middleware_stack
    if isinstance(current, Dispatch):
        return current
    dispatch = Dispatch(router, current)
    router.middleware_stack = dispatch
    return dispatch


def routes_of(dispatch: Dispatch) -> Sequence[BaseRoute]:
    """The FastAPI routes the table hands requests to directly (for tests)."""
    table = dispatch.table()
    seen: dict[int, BaseRoute] = {}
    for candidates in (*table.literal.values(), table.patterns):
        for c in candidates:
            if isinstance(c, _Entry):
                seen.setdefault(id(c.route), c.route)
    return list(seen.values())
