"""Pure ASGI middleware: request context (id, access log), 500s for bugs, body limit.

Order, outermost first (see :func:`prework.app.create_app`)::

    RequestContextMiddleware   request id, access log, last resort for exceptions
    CORSMiddleware             only when PREWORK_CORS_ORIGINS is set
    InternalErrorMiddleware    unexpected exceptions -> 500 (inside CORS: browsers can read it)
    BodyLimitMiddleware        413 too_large past PREWORK_MAX_BODY_BYTES
    (FastAPI: exception handlers from prework.http.errors, routing)

Without CORS nothing sits between the first two, whose answer to an exception
is the same, so the app installs :class:`RequestContextMiddleware` alone with
``max_body_bytes``: one layer that also enforces the body limit. A request
whose body is framed by a ``Content-Length`` within the limit (the server
delivers no more than that) or that has no body is passed through untouched;
only a chunked body is counted as it streams (by :class:`BodyLimitMiddleware`).

Pure ASGI (not ``BaseHTTPMiddleware``): bodies stream through untouched and
contextvars bound here are seen by the endpoint.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Collection
from typing import Final

import structlog
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prework.errors import TooLarge
from prework.http.errors import (
    REQUEST_ID_HEADER,
    REQUEST_ID_SCOPE_KEY,
    error_response,
    internal_error_response,
    log_unhandled,
    request_id_of,
)
from prework.logging import log_request

__all__ = [
    "BLOB_UPLOAD_PATH",
    "BodyLimitMiddleware",
    "InternalErrorMiddleware",
    "RequestContextMiddleware",
    "accept_request_id",
    "request_head",
]

# The file backend's upload endpoint enforces the size its signed policy allows.
BLOB_UPLOAD_PATH: Final = "/api/blobs/upload"

_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,19}")
_ID_HEADER: Final = REQUEST_ID_HEADER.lower().encode("latin-1")
# what uuid.UUID(bytes=..., version=4) sets: variant RFC 4122 (bits 10), version 4
_UUID4_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET: Final = (0x8000 << 48) | (4 << 76)


def accept_request_id(value: str | None) -> str | None:
    """``value`` if it is a well-formed request id (1..128 of ``[A-Za-z0-9._-]``)."""
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return None


def new_request_id() -> str:
    """A random uuid4 as 32 hex digits: ``uuid.uuid4().hex`` without building a
    ``UUID`` (the same 16 random bytes and the same version and variant bits)."""
    value = int.from_bytes(os.urandom(16))
    value = (value & _UUID4_CLEAR) | _UUID4_SET
    return f"{value:032x}"


def request_head(scope: Scope) -> tuple[bytes | None, bytes | None, bool]:
    """The first ``X-Request-ID`` and ``Content-Length`` of a request's headers (or
    None), and whether it has a ``Transfer-Encoding``."""
    raw_id: bytes | None = None
    length: bytes | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == _ID_HEADER:
            raw_id = value if raw_id is None else raw_id
        elif name == b"content-length":
            length = value if length is None else length
        elif name == b"transfer-encoding":
            chunked = True
    return raw_id, length, chunked


def _path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    return path


class RequestContextMiddleware:
    """Gives each request an id, logs one access line, answers stray exceptions.

    The client's ``X-Request-ID`` is kept if well-formed, else a uuid4 hex is
    made. The id is bound to structlog's contextvars for the request, stored in
    the scope (``prework.request_id``) and sent back on every response. An
    exception escaping the app (normally :class:`InternalErrorMiddleware`
    answers them further in) is logged with its traceback and answered with
    the 500 ``internal`` envelope. With ``max_body_bytes`` it also does what
    :class:`BodyLimitMiddleware` does (``exempt_paths`` likewise), in the same
    layer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int | None = None,
        exempt_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self._limit: BodyLimitMiddleware | None = None
        if max_body_bytes is not None:
            self._limit = BodyLimitMiddleware(
                app, max_body_bytes=max_body_bytes, exempt_paths=exempt_paths
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        raw_id, length, chunked = request_head(scope)
        if kind == "websocket" or self.passes_through(scope, length, chunked):
            await self.serve(scope, receive, send, raw_id, self.app)
        else:
            assert self._limit is not None
            await self.serve(scope, receive, send, raw_id, self._limit)

    def passes_through(self, scope: Scope, length: bytes | None, chunked: bool) -> bool:
        """Whether an HTTP request goes to the app with its body untouched: no body
        limit here, a path exempt from it, no body, or a ``Content-Length`` within it
        (the server delivers no more than declared); else the body is counted."""
        limit = self._limit
        if limit is None or _path(scope) in limit.exempt_paths:
            return True
        return not chunked and (
            length is None
            or (
                _DIGITS_RE.fullmatch(length.decode("latin-1")) is not None
                and int(length) <= limit.max_body_bytes
            )
        )

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, raw_id: bytes | None, app: ASGIApp
    ) -> None:
        """``app`` answering the request (HTTP or WebSocket) as this layer's own:
        with its id (from ``raw_id``, the first ``X-Request-ID`` header) bound, and
        for HTTP the access line and the 500 of an exception escaping ``app``."""
        request_id = (
            accept_request_id(raw_id.decode("latin-1")) if raw_id is not None else None
        ) or new_request_id()
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if scope["type"] == "websocket":
                await app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id, app)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, app: ASGIApp
    ) -> None:
        status: int | None = None
        id_header = (_ID_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message.get("headers") or ()  # optional in ASGI
                message["headers"] = [
                    *(h for h in headers if h[0] != _ID_HEADER),
                    id_header,
                ]
            await send(message)

        started = time.perf_counter()
        try:
            # one turn of the loop first: a request that never waits on
            # anything (cached auth, inline reads) would otherwise run before
            # the loop reads other connections, and their latency tail grows
            await asyncio.sleep(0)
            await app(scope, receive, send_with_id)
        except Exception as exc:
            log_unhandled(exc, scope=scope)
            if status is not None:
                raise  # the response is under way: let the server abort it
            await internal_error_response(request_id=request_id)(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            log_request(
                request_id=request_id,
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=client[0] if client else None,
            )


class InternalErrorMiddleware:
    """Answers an unexpected exception with the 500 ``internal`` envelope.

    Sits inside CORS, so that a browser on an allowed origin can read the 500
    and its request id. The exception is logged with its traceback and the
    request id. If the response had already started, the exception goes on up
    (the server aborts the response; the request-context middleware logs it).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch_send)
        except Exception as exc:
            if started:
                raise
            log_unhandled(exc, scope=scope)
            await internal_error_response(request_id=request_id_of(scope))(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` past the limit; an HTTPException so that FastAPI's
    body reader lets it through unchanged."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimitMiddleware:
    """Rejects request bodies over ``max_body_bytes`` with 413 ``too_large``.

    A declared ``Content-Length`` over the limit is answered at once: the app
    is not called. A body without one (chunked) is counted as it streams; past
    the limit, reading it raises and whatever the app answers is replaced by
    the 413 envelope; the app never sees a byte past the limit. Paths in
    ``exempt_paths`` are not limited here (they enforce their own limits).

    If the app already started its response when the body passes the limit
    (a streaming response that never read the body, whose ``receive`` only
    waits for the client to disconnect), the response is left alone: the rest
    of the body is read and dropped, and ``receive`` returns only the client's
    disconnect.
    """

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, exempt_paths: Collection[str] = ()
    ) -> None:
        if max_body_bytes < 0:
            raise ValueError("max_body_bytes must be >= 0")
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.exempt_paths = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _path(scope) in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = Headers(scope=scope).get("content-length", "").strip()
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        if _DIGITS_RE.fullmatch(declared) and int(declared) > limit:
            await self._reject(scope, receive, send)
            return

        received = 0
        exceeded = False  # the body went past the limit
        replacing = False  # ...before the app started answering: its answer is dropped
        answered = False  # the app started a response

        async def limited_receive() -> Message:
            nonlocal received, exceeded, replacing
            if exceeded and answered:
                return await drain()
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    if answered:
                        return await drain()
                    replacing = True
                    raise _BodyTooLarge
            return message

        async def drain() -> Message:
            # the response is under way: drop the excess, wait for the disconnect
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if replacing:
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not replacing:
                raise
        if replacing:
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = TooLarge(
            f"The request body is larger than {self.max_body_bytes} bytes.",
            details={"max_bytes": self.max_body_bytes},
        )
        await error_response(exc)(scope, receive, send)
