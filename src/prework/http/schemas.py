"""Request and response pieces every area's routes share.

Every request model derives from :class:`Strict` (unknown fields are a 422,
never silently ignored). Numbers are strict (``true`` or ``"3"`` is not a
version), names hold no control or invisible characters (one rule,
:mod:`prework.core.text`), and every string has a maximum length. Validation
errors carry only the location and the reason, never the rejected input.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from prework.core.paging import MAX_PAGE_SIZE
from prework.core.text import text_problem

__all__ = [
    "MAX_ID_LENGTH",
    "Cursor",
    "Limit",
    "Name",
    "Page",
    "PathId",
    "ShortText",
    "Strict",
    "Version",
    "VersionBody",
]

T = TypeVar("T")


def _plain_text(value: str) -> str:
    """The one free-text rule (:func:`prework.core.text.text_problem`): no control,
    bidirectional, zero-width or tag characters, separators or noncharacters;
    every script and emoji (ZWJ sequences too) are fine. Never echoes the value."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_plain_text),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_plain_text),
]
# an optimistic lock: a JSON integer, nothing coerced into one
Version = Annotated[int | None, Field(strict=True, description="Optimistic lock (or If-Match).")]
# identifiers in paths: ours are 32 hex digits; anything far longer is refused
# before it reaches the store (DynamoDB caps a sort key at 1,024 bytes)
MAX_ID_LENGTH = 64
PathId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
# paging of every listing: ?limit=1..200&cursor=<opaque>
Limit = Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=2048)]


class Strict(BaseModel):
    """Base of request models: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class VersionBody(Strict):
    """A body that only names the version a change is based on."""

    version: Version = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )
