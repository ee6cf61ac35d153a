"""Fixed-window rate limits kept in the store, so they hold across app nodes.

A counter is one item in the ``sessions`` table,
``pk=RATE#<limit>#<sha256(key)>``, ``sk=W#<window start>``, incremented with an
atomic ``update(add=...)`` and expiring (TTL) shortly after its window. Every
node sees the same count; no node keeps state. Keys are hashed so no email
address or client address sits in the table in clear.

:meth:`RateLimiter.hit` counts first and checks afterwards, so concurrent
attempts cannot slip past the limit together. A caller that wants to count
only failures undoes the hit of a success in the same transaction
(:meth:`RateLimiter.undo_op`) or resets the window (:meth:`RateLimiter.reset_op`).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from prework.core.clock import Clock, system_clock
from prework.errors import RateLimited
from prework.identity.repository import RATE_KIND, SESSIONS, rate_counter_key
from prework.store.base import Delete, Key, Store, Update, UpdateSpec

__all__ = ["Hit", "Limit", "RateLimiter", "address_subject"]

_GRACE = 60  # seconds a counter outlives its window (clock skew between nodes)
_UNKNOWN_ADDRESS = "unknown"
# an IPv6 subscriber is given a whole /64 (RFC 6177): counting single addresses
# would let one client rotate through 2**64 of them
_IPV6_PREFIX = 64


def address_subject(client_ip: str | None) -> str:
    """What a per-address limit counts for a client address.

    An IPv4 address (also IPv4-mapped IPv6) counts as itself, an IPv6 address
    as its /64 network; anything else (no address, a name) as itself.
    """
    if not client_ip:
        return _UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Hit:
    limit: Limit
    key: Key
    count: int
    retry_after: int
    expires_at: int

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit.max


class RateLimiter:
    def __init__(self, store: Store, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    def _key(self, limit: Limit, subject: str) -> tuple[Key, int, int]:
        now = self.clock()
        start = int(now // limit.window_seconds) * limit.window_seconds
        key = rate_counter_key(limit.name, subject, start)
        retry_after = max(1, math.ceil(start + limit.window_seconds - now))
        return key, start, retry_after

    async def count(self, limit: Limit, subject: str) -> Hit:
        """Add one to ``subject``'s counter for the current window."""
        key, start, retry_after = self._key(limit, subject)
        expires_at = start + limit.window_seconds + _GRACE
        item = await self.store.update(
            SESSIONS,
            key,
            UpdateSpec(set={"kind": RATE_KIND, "expires_at": expires_at}, add={"count": 1}),
        )
        return Hit(
            limit=limit,
            key=key,
            count=int(item["count"]),
            retry_after=retry_after,
            expires_at=expires_at,
        )

    async def hit(self, limit: Limit, subject: str) -> Hit:
        """:meth:`count`, then raise :class:`RateLimited` if over the limit."""
        result = await self.count(limit, subject)
        if result.exceeded:
            raise RateLimited(
                "Too many attempts; try again later.",
                retry_after=result.retry_after,
                details={"limit": limit.name},
            )
        return result

    @staticmethod
    def undo_op(hit: Hit) -> Update:
        """A transaction op taking ``hit`` back (counting failures only)."""
        # keeping expires_at: if the window already expired, the update starts
        # from an empty, already-expired item and nothing lingers
        return Update(
            SESSIONS,
            hit.key,
            UpdateSpec(set={"expires_at": hit.expires_at}, add={"count": -1}),
        )

    @staticmethod
    def reset_op(hit: Hit) -> Delete:
        """A transaction op clearing the window of ``hit``."""
        return Delete(SESSIONS, hit.key)
