"""Fixtures of the template API tests: one app per module and engine (each test makes
the templates it checks), two organizations with a member of every role, relaxed
throttles (as the identity tests have them)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from prework.config import Settings
from prework.store.base import Store

from ..identity.coverage import World, make_world

RELAXED_LIMITS = {
    "register_max_per_address": 10_000,
    "login_max_failures_per_address": 10_000,
    "login_max_failures_per_account": 10_000,
}


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return module_settings.model_copy(update=RELAXED_LIMITS)


@pytest.fixture(scope="module")
async def world(
    module_app: FastAPI, module_client: httpx.AsyncClient, module_store: Store
) -> World:
    return await make_world(module_app, module_client, module_store)


@pytest.fixture(scope="module")
async def walk_world(world: World) -> World:
    return world
