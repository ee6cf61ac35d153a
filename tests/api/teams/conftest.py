"""Fixtures of the teams API tests: relaxed sign-up limits (as identity's), a tenant
with a member of every role, and many members written straight to the store."""

from __future__ import annotations

import httpx
import pytest

from prework.config import Settings

from ..identity.conftest import RELAXED_LIMITS
from ..identity.helpers import Tenant, make_tenant


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=RELAXED_LIMITS)


@pytest.fixture
async def tenant(client: httpx.AsyncClient) -> Tenant:
    return await make_tenant(client, "Teams Org")
