"""Identifiers of stored objects."""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["derived_id", "new_id"]


def new_id() -> str:
    """A fresh random identifier (UUID4, 32 hex digits, no dashes)."""
    return uuid.uuid4().hex


def derived_id(kind: str, *parts: str) -> str:
    """An identifier of the same form as :func:`new_id`, always the same for the same
    ``kind`` and ``parts`` (for example a team created under one idempotency key by one
    user of one organization), and unrelated to any other."""
    material = "\x1f".join((kind, *parts)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(b"prework-id\x00" + material).hexdigest()[:32]
