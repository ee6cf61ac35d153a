"""Fixtures of the identity API tests: cheap password hashing, relaxed limits.

The tests of the throttles build their own app with tight limits; everything
else runs with limits no test reaches, so tests do not throttle each other.
"""

from __future__ import annotations

import pytest

from prework.config import Settings

# argon2id at 1 MiB / 1 pass: the same code path, a fraction of the cost
CHEAP_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 1024,
    "password_hash_threads": 2,
}
RELAXED_LIMITS = {
    "register_max_per_address": 10_000,
    "login_max_failures_per_address": 10_000,
    "login_max_failures_per_account": 10_000,
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={**CHEAP_HASHING, **RELAXED_LIMITS})
