"""The router every area builds its routes with.

:class:`APIRouter` is FastAPI's, with :class:`Route` as its route class: JSON bodies
parsed and bounded before validation (:mod:`prework.http.bodies`) and
``Idempotency-Key`` honoured on every creating route (:mod:`prework.http.idempotency`).
A test walks the app's routes and fails for one built without it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter as FastAPIRouter

from prework.http.idempotency import IdempotentRoute

__all__ = ["APIRouter", "Route"]


class Route(IdempotentRoute):
    """Every area's route: bounded JSON bodies, idempotent creations."""


class APIRouter(FastAPIRouter):
    """FastAPI's ``APIRouter`` with :class:`Route` as its route class."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", Route)
        super().__init__(**kwargs)
