"""Small helpers the identity services share: clock, ids, timestamps, cursors."""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from prework.errors import ValidationFailed

T = TypeVar("T")

Clock = Callable[[], float]
"""Seconds since the epoch; ``time.time`` in production, settable in tests."""

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# a change without an expected version is read and written again this many
# times when other changes keep landing between its read and its write
UNVERSIONED_ATTEMPTS = 5


def system_clock() -> float:
    return time.time()


def new_id() -> str:
    """A fresh random identifier (UUID4, 32 hex digits, no dashes)."""
    return uuid.uuid4().hex


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


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: Sequence[T]
    next_cursor: str | None


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if limit < 1 or limit > MAX_PAGE_SIZE:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_PAGE_SIZE}.",
            code="invalid_limit",
            details={"max": MAX_PAGE_SIZE},
        )
    return limit


def encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The data of a cursor made by :func:`encode_cursor`; ValidationFailed if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("The cursor is not valid.", code="invalid_cursor")
    return data
