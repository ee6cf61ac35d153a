"""Store-kept fixed-window counters."""

from __future__ import annotations

import time

import pytest

from prework.errors import RateLimited
from prework.identity.ratelimit import Limit, RateLimiter
from prework.store.memory import MemoryStore

LIMIT = Limit("test", 3, 60)


class Clock:
    def __init__(self) -> None:
        # the start of a window, a little in the past (the store's TTL uses real time)
        self.now = (time.time() // 60) * 60 + 1.0

    def __call__(self) -> float:
        return self.now


async def test_counts_then_refuses_with_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(MemoryStore(), clock=clock)
    for expected in (1, 2, 3):
        assert (await limiter.hit(LIMIT, "alice")).count == expected
    with pytest.raises(RateLimited) as info:
        await limiter.hit(LIMIT, "alice")
    assert info.value.retry_after == 59
    assert (await limiter.hit(LIMIT, "bob")).count == 1  # per subject


async def test_a_new_window_starts_afresh() -> None:
    clock = Clock()
    limiter = RateLimiter(MemoryStore(), clock=clock)
    for _ in range(3):
        await limiter.hit(LIMIT, "alice")
    clock.now += 60
    assert (await limiter.hit(LIMIT, "alice")).count == 1


async def test_undo_and_reset_in_a_transaction() -> None:
    store = MemoryStore()
    limiter = RateLimiter(store, clock=Clock())
    hit = await limiter.count(LIMIT, "alice")
    await limiter.count(LIMIT, "alice")
    await store.transact_write([RateLimiter.undo_op(hit)])
    assert (await limiter.count(LIMIT, "alice")).count == 2
    other = await limiter.count(LIMIT, "bob")
    await store.transact_write([RateLimiter.reset_op(other)])
    assert (await limiter.count(LIMIT, "bob")).count == 1


async def test_counters_hash_their_subject_and_expire() -> None:
    store = MemoryStore()
    hit = await RateLimiter(store, clock=Clock()).count(LIMIT, "alice@example.com")
    assert "alice" not in str(hit.key)
    item = await store.get("sessions", hit.key)
    assert item is not None
    assert item["expires_at"] == hit.expires_at
    assert item["kind"] == "ratelimit"
