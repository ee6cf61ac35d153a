"""Fixtures of the assignment API tests: relaxed sign-up limits (as identity's), no
background overdue check (the tests run it when they mean to), and ``crew_world``:
one organization per module and engine with a member of every role, two more
workers in a team and a published template (each test makes its own assignments)."""

from __future__ import annotations

import httpx
import pytest

from prework.config import Settings

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
