"""The file blob backend's presigned URLs, served by the app itself.

``POST /api/blobs/upload``: an S3-style browser POST form (the ``fields`` of
:meth:`LocalBlobStore.presign_upload`, then the body as the part named
``file``). The form is parsed as it streams in: the fields are read first, the
signed policy is checked as soon as the ``file`` part starts (before any of
the body is read), then the body streams straight into the store, cut off at
the policy's ``max_size`` and, when the form is pinned to a SHA-256, held
to it. Answers 204 like S3; on any error nothing is stored. Errors: 403
``signature_invalid`` / ``expired`` / ``policy_violation`` (also checksum
fields that differ from the policy's), 413 ``too_large``, 422 ``too_small`` /
``checksum_mismatch``, 400 ``invalid_multipart`` / ``missing_file`` /
``upload_incomplete``.

``GET /api/blobs/{bucket}/{key}?expires=..&signature=..[&filename=..]``: a
presigned download; streams the object with its content type, length, ETag
and Last-Modified. ``HEAD`` answers the same without the body. One byte range
(``Range: bytes=a-b``, ``bytes=a-``, ``bytes=-n``; RFC 9110) is served as
``206`` with ``Content-Range``, so players and PDF viewers can seek; a range
that starts past the end is ``416 range_not_satisfiable`` with
``Content-Range: bytes */<size>``. Several ranges, another unit or a malformed
header are ignored (the whole object, ``200``), as RFC 9110 allows; so is a
range whose ``If-Range`` names another version. 403 ``signature_invalid`` /
``expired``, 404 ``not_found``.

Both answer 404 when the app's blob store is not the file backend.
"""

from __future__ import annotations

import re
from email.utils import format_datetime
from typing import Final

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from prework.blobs._files import LocalBlobStream
from prework.blobs._keys import content_disposition
from prework.blobs.base import BlobInfo
from prework.blobs.local import LocalBlobStore
from prework.errors import BadRequest, NotFound, RangeNotSatisfiable
from prework.http.multipart import MultipartForm, invalid_multipart
from prework.http.openapi import answers

__all__ = ["UPLOAD_PATH", "byte_range", "router"]

UPLOAD_PATH: Final = "/api/blobs/upload"
MAX_FIELDS: Final = 32
MAX_FIELD_BYTES: Final = 16 * 1024
FILE_FIELD: Final = "file"

router = APIRouter(tags=["blobs"])


def _local_store(request: Request) -> LocalBlobStore:
    store = getattr(request.app.state, "blobs", None)
    if not isinstance(store, LocalBlobStore):
        raise NotFound()
    return store


@router.post(
    UPLOAD_PATH,
    status_code=204,
    response_class=Response,
    responses=answers(400, 403, 404, 413, 422),
)
async def upload_blob(request: Request) -> Response:
    """Store a presigned upload (S3 browser-POST compatible form)."""
    store = _local_store(request)
    form = MultipartForm(request.stream(), request.headers.get("content-type"))
    fields: dict[str, str] = {}
    while (part := await form.next_part()) is not None:
        if part.name == FILE_FIELD:  # the store checks the policy before reading the body
            info = await store.accept_upload(fields, part)
            return Response(status_code=204, headers={"ETag": f'"{info.etag}"'})
        if len(fields) >= MAX_FIELDS:
            raise invalid_multipart("The form has too many fields.")
        if any(name.lower() == part.name.lower() for name in fields):
            raise invalid_multipart(f"The form field {part.name!r} is repeated.")
        fields[part.name] = await part.text(MAX_FIELD_BYTES)
    raise BadRequest("The form has no 'file' part.", code="missing_file")


# -- byte ranges -------------------------------------------------------------

# one range, OWS allowed around it (list syntax); anything else is ignored
_RANGE_RE: Final = re.compile(r"bytes=[ \t]*(\d*)-(\d*)[ \t]*", re.ASCII | re.IGNORECASE)
_MAX_POSITION_DIGITS: Final = 18  # past any object size; int() of longer input is refused


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_POSITION_DIGITS else 10**_MAX_POSITION_DIGITS


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The byte range ``[start, stop)`` a ``Range`` header asks for, or None
    for the whole object. Raises RangeNotSatisfiable when the range lies
    outside an object of ``size`` bytes."""
    match = _RANGE_RE.fullmatch(header.strip()) if header else None
    if match is None:
        return None  # no header, another unit, several ranges or bad syntax
    first, last = match.groups()
    if not first:
        if not last:
            return None  # "bytes=-"
        length = _position(last)  # a suffix: the last ``length`` bytes
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(size=size)
        return max(0, size - length), size
    start = _position(first)
    if last and _position(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable(size=size)
    return start, size if not last else min(_position(last) + 1, size)


def _if_range_allows(request: Request, headers: dict[str, str]) -> bool:
    """Whether ``If-Range`` (if any) names the version being served."""
    validator = request.headers.get("if-range")
    if validator is None:
        return True
    validator = validator.strip()
    return validator in (headers["ETag"], headers["Last-Modified"])  # never a weak W/ tag


# -- downloads ---------------------------------------------------------------

# Served files come from users: never let a browser run them as this origin's
# pages. (Chrome's PDF viewer does not work in a sandbox; PDFs run no script
# in this origin anyway.)
_SANDBOX_CSP: Final = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


def _safety_headers(content_type: str) -> dict[str, str]:
    headers = {"X-Content-Type-Options": "nosniff"}
    if content_type.split(";", 1)[0].strip().lower() != "application/pdf":
        headers["Content-Security-Policy"] = _SANDBOX_CSP
    return headers


class _BlobResponse(StreamingResponse):
    """Streams an opened object and closes it whatever happens, even when the
    client goes away before the first byte."""

    def __init__(self, stream: LocalBlobStream, *, status_code: int, headers: dict[str, str]):
        super().__init__(stream, status_code=status_code, headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.close()


def _response_headers(info: BlobInfo, filename: str | None) -> dict[str, str]:
    headers = _safety_headers(info.content_type)
    if filename:
        headers["Content-Disposition"] = content_disposition(filename)
    headers.update(
        {
            "Content-Type": info.content_type,
            "Content-Length": str(info.size),
            "Accept-Ranges": "bytes",
            "ETag": f'"{info.etag}"',
            "Last-Modified": format_datetime(info.last_modified, usegmt=True),
        }
    )
    return headers


def _apply_range(
    request: Request, info: BlobInfo, headers: dict[str, str]
) -> tuple[int, int] | None:
    """Narrow ``headers`` to the requested range; the range, or None for all."""
    wanted = byte_range(request.headers.get("range"), info.size)
    if wanted is None or not _if_range_allows(request, headers):
        return None
    start, stop = wanted
    headers["Content-Range"] = f"bytes {start}-{stop - 1}/{info.size}"
    headers["Content-Length"] = str(stop - start)
    return wanted


_DOWNLOAD_PATH: Final = "/api/blobs/{bucket}/{key:path}"


@router.get(
    _DOWNLOAD_PATH,
    response_class=StreamingResponse,
    responses={206: {"description": "Partial content (one byte range)"}, **answers(403, 416)},
)
async def download_blob(
    request: Request,
    bucket: str,
    key: str,
    expires: str | None = None,
    signature: str | None = None,
    filename: str | None = None,
) -> Response:
    """Stream an object (or one byte range of it) named by a presigned download URL."""
    store = _local_store(request)
    store.verify_download(bucket, key, expires, signature, filename)
    stream = await store.get(bucket, key)
    try:
        headers = _response_headers(stream.info, filename)
        wanted = _apply_range(request, stream.info, headers)
        if wanted is not None:
            stream.restrict(*wanted)
    except BaseException:
        await stream.close()
        raise
    return _BlobResponse(stream, status_code=206 if wanted else 200, headers=headers)


@router.head(_DOWNLOAD_PATH, response_class=Response, include_in_schema=False)
async def head_blob(
    request: Request,
    bucket: str,
    key: str,
    expires: str | None = None,
    signature: str | None = None,
    filename: str | None = None,
) -> Response:
    """What a GET of the same URL would answer, without the body."""
    store = _local_store(request)
    store.verify_download(bucket, key, expires, signature, filename)
    info = await store.head(bucket, key)
    headers = _response_headers(info, filename)
    status = 206 if _apply_range(request, info, headers) else 200
    return Response(status_code=status, headers=headers)
