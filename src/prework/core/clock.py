"""Time: the injectable clock and the one timestamp format of stored items."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "iso", "iso_of", "system_clock"]

Clock = Callable[[], float]
"""Seconds since the epoch; ``time.time`` in production, settable in tests."""


def system_clock() -> float:
    return time.time()


def iso(ts: float) -> str:
    """Epoch seconds as fixed-width UTC ISO 8601 with microseconds (sorts as text)."""
    return _fixed_width(datetime.fromtimestamp(ts, tz=UTC))


def iso_of(dt: datetime) -> str:
    """``dt`` (naive: UTC) in the form of :func:`iso`, to the microsecond.

    Raises ``OverflowError`` if ``dt`` is outside years 1..9999 once in UTC.
    """
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _fixed_width(dt.astimezone(UTC))


def _fixed_width(dt: datetime) -> str:
    # isoformat pads the year to four digits (strftime's %Y does not, on glibc)
    return dt.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
