"""Password hashing: argon2id, the seed's bcrypt, the dummy hash, off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import bcrypt
import pytest

from prework.bootstrap import hash_params
from prework.config import Settings
from prework.identity.passwords import HashParams, Passwords, Scheme

CHEAP = HashParams(time_cost=1, memory_kib=1024, parallelism=1)


@pytest.fixture
def passwords() -> Iterator[Passwords]:
    p = Passwords(CHEAP, threads=2)
    yield p
    p.close()


async def test_argon2id_round_trip(passwords: Passwords) -> None:
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await passwords.hash("correct horse battery") != stored  # salted
    ok = await passwords.verify(stored, "correct horse battery")
    assert ok.ok
    assert ok.scheme is Scheme.ARGON2ID
    assert not ok.needs_rehash
    assert not (await passwords.verify(stored, "correct horse batterY")).ok


async def test_the_production_parameters_are_owasp_s_and_work() -> None:
    """The one test on the real (default) parameters; every fixture uses cheap ones."""
    real = Passwords(hash_params(Settings(_env_file=None)), threads=1)
    try:
        stored = await real.hash("correct horse battery")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        ok = await real.verify(stored, "correct horse battery")
        assert ok.ok
        assert not ok.needs_rehash
        assert not (await real.verify(stored, "correct horse batterY")).ok
        assert not (await real.verify(None, "correct horse battery")).ok  # the dummy hash
    finally:
        real.close()


async def test_other_parameters_need_a_rehash(passwords: Passwords) -> None:
    stronger = Passwords(HashParams(time_cost=2, memory_kib=1024, parallelism=1), threads=1)
    try:
        result = await stronger.verify(await passwords.hash("pw pw pw pw pw"), "pw pw pw pw pw")
        assert result.ok
        assert result.needs_rehash
    finally:
        stronger.close()


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_bcrypt_verifies_and_asks_for_a_rehash(passwords: Passwords, prefix: str) -> None:
    stored = prefix + bcrypt.hashpw(b"seed password", bcrypt.gensalt(4)).decode()[4:]
    result = await passwords.verify(stored, "seed password")
    assert result.ok
    assert result.scheme is Scheme.BCRYPT
    assert result.needs_rehash
    assert not (await passwords.verify(stored, "seed passwore")).ok


async def test_bcrypt_reads_only_72_bytes_like_bcryptjs(passwords: Passwords) -> None:
    long = "x" * 72
    stored = bcrypt.hashpw(long.encode(), bcrypt.gensalt(4)).decode()
    assert (await passwords.verify(stored, long + "anything after")).ok


@pytest.mark.parametrize("stored", ["", "plaintext", "$argon2id$garbage", "$2b$04$short"])
async def test_unreadable_hashes_fail(passwords: Passwords, stored: str) -> None:
    result = await passwords.verify(stored, "whatever it is")
    assert not result.ok
    assert not result.needs_rehash


async def test_unknown_account_costs_a_verification(passwords: Passwords) -> None:
    result = await passwords.verify(None, "whatever it is")
    assert not result.ok
    assert result.scheme is Scheme.UNKNOWN


async def test_lone_surrogates_do_not_crash(passwords: Passwords) -> None:
    stored = await passwords.hash("normal password")
    assert not (await passwords.verify(stored, "bad \ud800 text")).ok


async def test_hashing_does_not_block_the_event_loop() -> None:
    # expensive parameters (~100 ms a hash): hashing on the loop would stall it
    # once per hash for a whole hash's time; off the loop it keeps ticking
    slow = Passwords(HashParams(time_cost=3, memory_kib=64 * 1024, parallelism=1), threads=1)
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    try:
        started = time.perf_counter()
        await slow.hash("calibration")
        one_hash = time.perf_counter() - started
        task = asyncio.create_task(ticker())
        hashes = await asyncio.gather(*(slow.hash(f"password number {i}") for i in range(4)))
        done.set()
        await task
    finally:
        slow.close()
    assert len(set(hashes)) == 4
    assert one_hash > 0.03  # the work is real
    # a busy machine may delay one tick; a blocked loop would miss one per hash
    stalls = [g for g in gaps if g > 0.8 * one_hash]
    assert len(stalls) <= 1, f"{len(stalls)} stalls of a hash's length ({one_hash * 1000:.0f} ms)"
    assert len(gaps) > 20
