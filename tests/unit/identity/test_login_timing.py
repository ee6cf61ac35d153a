"""An unknown email costs what a wrong password costs (production hash parameters)."""

from __future__ import annotations

import statistics
import time

import pytest

from prework.domain.identity import RequestContext
from prework.errors import Unauthenticated
from prework.services.auth import AuthService
from prework.services.passwords import HashParams, Passwords
from prework.services.tokens import KeyRing, TokenService
from prework.store.memory import MemoryStore

CTX = RequestContext(request_id="r", client_ip="10.1.1.1", user_agent="t")


async def _failed_login_ms(auth: AuthService, email: str) -> float:
    started = time.perf_counter()
    with pytest.raises(Unauthenticated) as info:
        await auth.login(ctx=CTX, email=email, password="definitely wrong")
    elapsed = (time.perf_counter() - started) * 1000
    assert info.value.code == "invalid_credentials"
    return elapsed


async def test_unknown_email_and_wrong_password_take_the_same_time() -> None:
    passwords = Passwords(HashParams(), threads=1)  # the production defaults
    auth = AuthService(
        MemoryStore(),
        passwords=passwords,
        tokens=TokenService(KeyRing(b"k" * 32), access_ttl=900),
    )
    try:
        await auth.register(
            ctx=CTX,
            organization_name="Timing",
            email="known@example.com",
            password="the right password",
            display_name="K",
        )
        await passwords.warm_up()
        known: list[float] = []
        unknown: list[float] = []
        for i in range(8):  # interleaved, so machine noise hits both alike
            known.append(await _failed_login_ms(auth, "known@example.com"))
            unknown.append(await _failed_login_ms(auth, f"nobody-{i}@example.com"))
    finally:
        passwords.close()
    k, u = statistics.median(known), statistics.median(unknown)
    assert k > 5, (k, u)
    assert u > 5, (k, u)  # a real hash verification in both
    assert 0.6 < u / k < 1.6, f"known {k:.1f} ms, unknown {u:.1f} ms"
