"""Fixtures of the identity API tests: relaxed limits (hashing is cheap tier-wide,
see ``tests/api/conftest.py``).

The tests of the throttles build their own app with tight limits; everything
else runs with limits no test reaches, so tests do not throttle each other.

``walk_world``: the :class:`World` of the route walks (``test_tenancy.py``,
``test_audit_coverage.py``), made once per module and engine: each route case
makes the objects it checks, so the cases share it safely.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from prework.config import Settings
from prework.store.base import Store

from .coverage import World, make_world

RELAXED_LIMITS = {
    "register_max_per_address": 10_000,
    "login_max_failures_per_address": 10_000,
    "login_max_failures_per_account": 10_000,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=RELAXED_LIMITS)


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return module_settings.model_copy(update=RELAXED_LIMITS)


@pytest.fixture(scope="module")
async def walk_world(
    module_app: FastAPI, module_client: httpx.AsyncClient, module_store: Store
) -> World:
    return await make_world(module_app, module_client, module_store)
