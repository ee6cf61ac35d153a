"""Password hashing: argon2id for new hashes, bcrypt (the seed's) still verifies.

Hashing and verifying run in a small bounded thread pool, never on the event
loop (argon2-cffi and bcrypt release the GIL while they work). The pool has as
many threads as configured (default: one less than the CPU count, at least one),
so a login storm queues for the hasher instead of starving the event loop.

Unknown accounts are verified against a dummy hash made with the current
parameters, so a wrong email costs the same time as a wrong password.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import bcrypt
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["HashParams", "Passwords", "Scheme", "Verification"]

T = TypeVar("T")

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72  # bcrypt (and the seed's bcryptjs) only ever read the first 72 bytes


class Scheme(StrEnum):
    ARGON2ID = "argon2id"
    BCRYPT = "bcrypt"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class HashParams:
    """argon2id cost parameters (RFC 9106), from the settings
    (``PREWORK_PASSWORD_HASH_*``, whose defaults are OWASP's first
    recommendation: m=19 MiB, t=2, p=1, about 20 ms per hash on one core of a
    2-core cloud VM, which keeps a login under 40 ms)."""

    time_cost: int
    memory_kib: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    scheme: Scheme
    needs_rehash: bool = False


def _scheme_of(stored: str) -> Scheme:
    if stored.startswith("$argon2id$"):
        return Scheme.ARGON2ID
    if stored.startswith(_BCRYPT_PREFIXES):
        return Scheme.BCRYPT
    return Scheme.UNKNOWN


def _secret(password: str) -> bytes:
    # surrogatepass: a lone surrogate from a JSON escape must not crash a login;
    # the policy refuses such passwords when they are set.
    return password.encode("utf-8", "surrogatepass")


class Passwords:
    """Hash and verify passwords off the event loop."""

    def __init__(self, params: HashParams, *, threads: int = 0) -> None:
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_kib,
            parallelism=self.params.parallelism,
            hash_len=self.params.hash_len,
            salt_len=self.params.salt_len,
            type=Type.ID,
        )
        self.threads = threads if threads > 0 else max(1, (os.cpu_count() or 2) - 1)
        self._pool: ThreadPoolExecutor | None = None
        self._dummy: str | None = None
        self._dummy_lock = asyncio.Lock()

    # -- lifecycle
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self.threads, thread_name_prefix="prework-hash"
            )
        return self._pool

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def warm_up(self) -> None:
        """Make the dummy hash now (else the first unknown-email login makes it)."""
        await self._dummy_hash()

    # -- hashing
    async def hash(self, password: str) -> str:
        """A new argon2id hash of ``password`` (PHC string format)."""
        return await self._run(self._hasher.hash, _secret(password))

    async def verify(self, stored: str | None, password: str) -> Verification:
        """Check ``password`` against ``stored``.

        ``stored=None`` (no such account) verifies against the dummy hash and
        always fails, at the cost of a real verification. ``needs_rehash`` is
        True when the hash is bcrypt or argon2id with other parameters; the
        caller re-hashes with :meth:`hash` after a successful login.
        """
        if stored is None:
            await self._run(self._verify_argon2, await self._dummy_hash(), password)
            return Verification(ok=False, scheme=Scheme.UNKNOWN)
        scheme = _scheme_of(stored)
        if scheme is Scheme.ARGON2ID:
            ok = await self._run(self._verify_argon2, stored, password)
            return Verification(
                ok=ok, scheme=scheme, needs_rehash=ok and self._hasher.check_needs_rehash(stored)
            )
        if scheme is Scheme.BCRYPT:
            ok = await self._run(self._verify_bcrypt, stored, password)
            return Verification(ok=ok, scheme=scheme, needs_rehash=ok)
        # an unreadable hash: spend the same time, then fail
        await self._run(self._verify_argon2, await self._dummy_hash(), password)
        return Verification(ok=False, scheme=scheme)

    def _verify_argon2(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, _secret(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _verify_bcrypt(stored: str, password: str) -> bool:
        try:
            return bcrypt.checkpw(_secret(password)[:_BCRYPT_MAX_BYTES], stored.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            async with self._dummy_lock:
                if self._dummy is None:
                    self._dummy = await self.hash(secrets.token_urlsafe(24))
        return self._dummy
