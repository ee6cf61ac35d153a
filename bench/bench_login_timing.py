"""An unknown email costs what a wrong password costs (production hash parameters).

Builds the identity services as the server does (:func:`prework.bootstrap.build_identity`,
default settings, so the production argon2id parameters) over the in-memory store,
registers one account, then times failed logins, interleaved so machine noise
hits both alike: a wrong password for the known account, and unknown emails.

Goal: the ratio unknown / wrong password within 0.6 .. 1.6 (an attacker cannot
tell from the time whether an email has an account). Run:
``python bench/bench_login_timing.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from prework.bootstrap import build_identity
from prework.config import Settings
from prework.core.principal import RequestContext
from prework.errors import Unauthenticated
from prework.identity.sessions import SessionService
from prework.store.memory import MemoryStore

CTX = RequestContext(request_id="r", client_ip="10.1.1.1", user_agent="bench")
GOAL = (0.6, 1.6)


async def failed_login_ms(sessions: SessionService, email: str) -> float:
    started = time.perf_counter()
    try:
        await sessions.login(ctx=CTX, email=email, password="definitely wrong")
    except Unauthenticated as exc:
        elapsed = (time.perf_counter() - started) * 1000
        if exc.code != "invalid_credentials":
            raise
        return elapsed
    raise AssertionError("a wrong password logged in")


async def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(
            _env_file=None,
            data_dir=Path(data),
            store="memory://",
            secret_key="bench-login-timing-secret-key-0123456789",
            login_max_failures_per_account=10 * rounds,
            login_max_failures_per_address=10 * rounds,
        )
        identity = build_identity(settings, MemoryStore())
        try:
            await identity.registration.register(
                ctx=CTX,
                organization_name="Timing",
                email="known@example.com",
                password="the right password",
                display_name="K",
            )
            await identity.start()
            known: list[float] = []
            unknown: list[float] = []
            for i in range(rounds):
                known.append(await failed_login_ms(identity.sessions, "known@example.com"))
                unknown.append(await failed_login_ms(identity.sessions, f"nobody-{i}@x.example"))
        finally:
            identity.close()
    params = identity.passwords.params
    k, u = statistics.median(known), statistics.median(unknown)
    ratio = u / k
    print(
        f"login timing bench: in-memory store; argon2id t={params.time_cost}, "
        f"m={params.memory_kib} KiB, p={params.parallelism}; {rounds} rounds"
    )
    print()
    print(f"| {'failed login':<24} | {'n':>4} | {'p50 ms':>8} |")
    print(f"|{'-' * 26}|{'-' * 6}|{'-' * 10}|")
    print(f"| {'wrong password':<24} | {len(known):>4} | {k:>8.1f} |")
    print(f"| {'unknown email':<24} | {len(unknown):>4} | {u:>8.1f} |")
    print()
    met = GOAL[0] < ratio < GOAL[1]
    print(
        f"ratio unknown / wrong password: {ratio:.2f} (goal {GOAL[0]}..{GOAL[1]}: "
        f"{'met' if met else 'MISSED'})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=20, help="failed logins of each kind")
    args = parser.parse_args()
    asyncio.run(run(args.rounds))
