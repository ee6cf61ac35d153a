"""Fixtures of the assignment API tests: relaxed sign-up limits (as identity's)."""

from __future__ import annotations

import pytest

from prework.config import Settings

from ..identity.conftest import RELAXED_LIMITS


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # no background overdue check: the tests run it when they mean to
    return settings.model_copy(update={**RELAXED_LIMITS, "overdue_check_interval_seconds": 0})
