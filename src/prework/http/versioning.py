"""Optimistic locking over HTTP: ``If-Match`` / a ``version`` field in, ``ETag`` out."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from starlette.requests import HTTPConnection
from starlette.responses import Response

from prework.errors import ValidationFailed

_ETAG = re.compile(r'^(?:W/)?"?([0-9]{1,18})"?$')


def expected_version(conn: HTTPConnection, body_version: int | None) -> int | None:
    """The version the client based its change on: the body's ``version``, else
    ``If-Match``; None if neither (the change applies to the current version)."""
    header = conn.headers.get("if-match")
    from_header: int | None = None
    if header is not None and header.strip() != "*":
        match = _ETAG.fullmatch(header.strip())
        if match is None:
            raise ValidationFailed(
                'If-Match must be an ETag of this API, such as "3".', code="invalid_if_match"
            )
        from_header = int(match.group(1))
    if body_version is not None and from_header is not None and body_version != from_header:
        raise ValidationFailed("The version field and If-Match disagree.", code="invalid_if_match")
    return body_version if body_version is not None else from_header


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


def patch_changes(body: BaseModel, *, required: str) -> dict[str, Any]:
    """The fields a PATCH body sent (``version`` aside), as ``{name: value}``.

    A field sent as null clears it, except ``required``, which cannot be
    cleared (422 ``validation_failed`` naming it)."""
    fields = body.model_fields_set - {"version"}
    if required in fields and getattr(body, required) is None:
        raise ValidationFailed(
            f"{required} cannot be cleared.",
            details={"fields": [{"loc": ["body", required], "message": "cannot be null"}]},
        )
    return {name: getattr(body, name) for name in fields}
