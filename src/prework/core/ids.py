"""Identifiers of stored objects."""

from __future__ import annotations

import uuid

__all__ = ["new_id"]


def new_id() -> str:
    """A fresh random identifier (UUID4, 32 hex digits, no dashes)."""
    return uuid.uuid4().hex
