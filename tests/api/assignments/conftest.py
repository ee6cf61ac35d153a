"""Fixtures of the assignment API tests: relaxed sign-up limits (as identity's), no
background overdue check (the tests run it when they mean to), ``crew_world``:
one organization per module and engine with a member of every role, two more
workers in a team and a published template (each test makes its own assignments);
``ws_url``: the module's app on a real loopback socket (for ``/api/sync/ws``), and
``sharedb``: ShareDB's own client in a node worker (each test's clients closed after
it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from prework.config import Settings
from prework.testing.engines.sharedb_client import ShareDBNode, started_sharedb_node
from prework.testing.serving import serving

from ..identity.conftest import RELAXED_LIMITS
from .helpers import CrewWorld, make_crew_world

QUIET = {**RELAXED_LIMITS, "overdue_check_interval_seconds": 0}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=QUIET)


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    return module_settings.model_copy(update=QUIET)


@pytest.fixture(scope="module")
async def crew_world(module_client: httpx.AsyncClient) -> CrewWorld:
    return await make_crew_world(module_client)


@pytest.fixture(scope="module")
async def ws_url(module_app: FastAPI) -> AsyncIterator[str]:
    """The module's app served by uvicorn on a loopback port (its lifespan is the
    module client's: started already)."""
    async with serving(module_app, lifespan="off") as port:
        yield f"ws://127.0.0.1:{port}/api/sync/ws"


@pytest.fixture(scope="module")
async def sharedb_node() -> AsyncIterator[ShareDBNode]:
    async with started_sharedb_node() as node:
        yield node


@pytest.fixture
async def sharedb(sharedb_node: ShareDBNode) -> AsyncIterator[ShareDBNode]:
    """The module's ShareDB client worker; the clients a test made are closed after it."""
    yield sharedb_node
    await sharedb_node.close_clients()
