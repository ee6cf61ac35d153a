"""Case registries of the route-table walks (tenancy and audit coverage).

The walks in ``test_tenancy.py`` and ``test_audit_coverage.py`` take every
route of the app and fail for a route that has no case, so a new route is
covered the moment it exists. The identity routes' cases are in this folder
(``tenancy_cases.py``, ``audit_cases.py``); another area adds its cases in a
module of the same name anywhere under ``tests/api/`` exporting ``CASES``
(and, for routes that need none, ``EXEMPT`` with the reason), which
:func:`load` picks up. Case modules are loaded by file path: they import only
``prework`` and libraries, and reach the test helpers through :class:`World`.
A setup returns a :class:`Call`-shaped dict: ``{"path_params": {...},
"json": ..., "params": {...}, "body_ids": [...], "own_check": bool}`` (every key
optional; ``body_ids`` names the ids the JSON body holds, as dotted paths).

A route that serves several kinds of request on one path (``POST /api/sync``'s
actions) has a case per kind: its key is ``(method, path, kind)``; the walks
require at least one case per route.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from fastapi import FastAPI

from prework.core.principal import Role
from prework.store.base import Store

from .helpers import Member, Tenant, invite, join, make_tenant, register

RouteKey = tuple[str, str]  # (method, path template)
CaseKey = tuple[str, ...]  # (method, path template) or (method, path template, kind)
API_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class World:
    """Two organizations, each with a member of every role, on one app."""

    app: FastAPI
    client: httpx.AsyncClient
    store: Store
    a: Tenant
    b: Tenant
    extra: dict[str, Any] = field(default_factory=dict)

    async def join(self, tenant: Tenant, role: Role) -> Member:
        """A new member of ``tenant`` with ``role`` (invited by its owner)."""
        return await join(self.client, tenant.owner, role=role)

    async def invite(self, tenant: Tenant, role: Role) -> dict[str, Any]:
        """A pending invitation of ``tenant`` (``id``, ``token``, ...)."""
        return await invite(self.client, tenant.owner, role=role)

    async def register(self) -> Member:
        """The owner of a new organization."""
        return await register(self.client)


async def make_world(app: FastAPI, client: httpx.AsyncClient, store: Store) -> World:
    a = await make_tenant(client, "Org A")
    b = await make_tenant(client, "Org B")
    return World(app=app, client=client, store=store, a=a, b=b)


@dataclass
class Call:
    """How to call a route: path parameters, JSON body, query parameters."""

    path_params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)
    # the ids in the JSON body, as dotted paths ("assignee.id")
    body_ids: list[str] = field(default_factory=list)
    # tenancy walk: also check that the call succeeds for org A's own owner
    # (False for calls that need more than a bearer token, like a signed URL)
    own_check: bool = True

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Call:
        raw = raw or {}
        return cls(
            path_params=dict(raw.get("path_params", {})),
            json=raw.get("json"),
            params=dict(raw.get("params", {})),
            body_ids=list(raw.get("body_ids", [])),
            own_check=bool(raw.get("own_check", True)),
        )

    def body_id_values(self) -> set[str]:
        found: set[str] = set()
        for dotted in self.body_ids:
            node: Any = self.json
            for part in dotted.split("."):
                node = node[part]
            found.add(str(node))
        return found

    def with_body_ids(self, make: Callable[[], str]) -> Any:
        """The JSON body with each of :attr:`body_ids` replaced by ``make()``."""
        body = copy.deepcopy(self.json)
        for dotted in self.body_ids:
            *parents, last = dotted.split(".")
            node: Any = body
            for part in parents:
                node = node[part]
            node[last] = make()
        return body

    def url(self, path: str) -> str:
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
        assert "{" not in path, f"unfilled path parameter in {path}"
        return path


Setup = Callable[[World], Awaitable[dict[str, Any]]]


def _load_module(path: Path) -> ModuleType:
    name = "coverage_cases_" + "_".join(path.relative_to(API_ROOT).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(filename: str) -> tuple[dict[CaseKey, Any], dict[RouteKey, str]]:
    """Merge ``CASES`` and ``EXEMPT`` of every ``filename`` under ``tests/api``."""
    cases: dict[CaseKey, Any] = {}
    exempt: dict[RouteKey, str] = {}
    for path in sorted(API_ROOT.rglob(filename)):
        module = _load_module(path)
        for key, case in getattr(module, "CASES", {}).items():
            assert key not in cases, f"two cases for {key}"
            cases[key] = case
        exempt.update(getattr(module, "EXEMPT", {}))
    return cases, exempt
