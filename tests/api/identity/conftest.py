"""Fixtures of the identity API tests: relaxed limits (hashing is cheap tier-wide,
see ``tests/api/conftest.py``).

The tests of the throttles build their own app with tight limits; everything
else runs with limits no test reaches, so tests do not throttle each other.
"""

from __future__ import annotations

import pytest

from prework.config import Settings

RELAXED_LIMITS = {
    "register_max_per_address": 10_000,
    "login_max_failures_per_address": 10_000,
    "login_max_failures_per_account": 10_000,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update=RELAXED_LIMITS)
