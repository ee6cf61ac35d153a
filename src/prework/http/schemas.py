"""Request and response pieces every area's routes share.

Every request model derives from :class:`Strict` (unknown fields are a 422,
never silently ignored). Numbers are strict (``true`` or ``"3"`` is not a
version), names hold no control or invisible characters (one rule,
:mod:`prework.core.text`), and every string has a maximum length. Validation
errors carry only the location and the reason, never the rejected input.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from prework.core.paging import MAX_PAGE_SIZE, Paged
from prework.core.text import REFUSED_RANGES, text_problem

__all__ = [
    "MAX_ID_LENGTH",
    "Cursor",
    "DateTime",
    "Limit",
    "Name",
    "Page",
    "PathId",
    "ShortText",
    "Strict",
    "Version",
    "VersionBody",
    "json_integer",
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


# The rules above, stated for the OpenAPI document as one pattern (and no
# minLength/maxLength: the server strips first, so padding is not counted): the
# whitespace pydantic strips (Unicode White_Space), then 1..n characters that begin and end with
# neither whitespace nor a control character and hold no control character.
_STRIPPED = r"\t-\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


# every BMP code point the text rule refuses (controls, separators, surrogates,
# private use, noncharacters, format characters: the schema leaves out even the
# ZWJ/ZWNJ/tag uses the server allows in context). Astral ones (tags, private-use
# planes, their noncharacters) cannot be written in a pattern that both ECMA-262
# without the u flag and Python read, so the schema leaves them to the server.
_CONTROLS = "".join(
    f"\\u{lo:04x}" if lo == hi else f"\\u{lo:04x}-\\u{min(hi, 0xFFFF):04x}"
    for lo, hi in REFUSED_RANGES
    if lo <= 0xFFFF
)


def _text_schema(max_length: int) -> Any:
    pattern = (
        f"^[{_STRIPPED}]*[^{_CONTROLS}{_STRIPPED}]"
        f"(?:[^{_CONTROLS}]{{0,{max_length - 2}}}[^{_CONTROLS}{_STRIPPED}])?[{_STRIPPED}]*$"
    )

    def state(schema: dict[str, Any]) -> None:
        schema.pop("minLength", None)
        schema.pop("maxLength", None)
        schema["pattern"] = pattern
        schema["description"] = (
            f"1..{max_length} characters once surrounding whitespace is stripped; "
            "any script and emoji, but no control, invisible formatting (bidirectional, "
            "zero-width, tag), separator, private-use or noncharacter code points "
            "(ZWJ is allowed between two emoji, ZWNJ inside Arabic, Syriac and Indic "
            "words, tags in an emoji flag)."
        )

    return Field(json_schema_extra=state)


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_plain_text),
    _text_schema(200),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_plain_text),
    _text_schema(120),
]
# an optimistic lock: a JSON integer, nothing coerced into one


def json_integer(value: object) -> object:
    """A JSON number with no fraction (``3.0``) is an integer, as JSON Schema says;
    ``true`` and ``"3"`` stay refused by the strict integer after this."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Version = Annotated[
    Annotated[int, Field(strict=True, ge=0, le=2**53 - 1), BeforeValidator(json_integer)] | None,
    Field(description="Optimistic lock (or If-Match)."),
]


_RFC3339_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]", re.ASCII)


def _date_time_text(value: object) -> object:
    """A time is RFC 3339 text with an offset; a number is not a time here (pydantic
    would read it as seconds since 1970)."""
    if isinstance(value, datetime) or (
        isinstance(value, str) and _RFC3339_START.match(value) is not None
    ):
        return value
    raise ValueError("a time is RFC 3339 text, such as 2026-12-03T07:00:00+13:00")


DateTime = Annotated[
    AwareDatetime,
    BeforeValidator(_date_time_text),
    Field(description="RFC 3339, with a time zone offset or Z."),
]


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
    """One page of a listing: ``Page[XRead]``, the read models of the items.

    Build it with :meth:`of` from a service's :class:`~prework.core.paging.Paged`
    page of records when ``XRead.of`` is ``model_validate`` of the record (a
    ``from_attributes`` model): one validation call for the whole page instead of
    one Python call per item, the same models as a result.
    """

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )

    @classmethod
    def of(cls, paged: Paged[Any]) -> Self:
        """The page of ``paged``'s records, each read by its attributes (the
        parametrized class's item model must allow ``from_attributes``)."""
        return cls.model_validate(
            {"items": paged.items, "next_cursor": paged.next_cursor}, from_attributes=True
        )
