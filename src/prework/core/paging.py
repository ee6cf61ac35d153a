"""Listings: one page of results and the opaque cursor to the next one."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from prework.errors import ValidationFailed

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Paged",
    "clamp_limit",
    "decode_cursor",
    "encode_cursor",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


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
    """An opaque cursor of ``data`` (JSON, keys sorted: as ``json.dumps`` with
    ``sort_keys`` and no spaces would make it for ASCII data, at a tenth of its cost)."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not UTF-8 (a lone surrogate): escaped, as json.dumps does
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
