"""Pure ASGI middleware: request context (id, access log), 500s for bugs, body limit.

Order, outermost first (see :func:`prework.app.create_app`)::

    RequestContextMiddleware   request id, access log, last resort for exceptions
    CORSMiddleware             only when PREWORK_CORS_ORIGINS is set
    InternalErrorMiddleware    unexpected exceptions -> 500 (inside CORS: browsers can read it)
    BodyLimitMiddleware        413 too_large past PREWORK_MAX_BODY_BYTES
    (FastAPI: exception handlers from prework.http.errors, routing)

Pure ASGI (not ``BaseHTTPMiddleware``): bodies stream through untouched and
contextvars bound here are seen by the endpoint.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection
from typing import Final

import structlog
from starlette.datastructures import Headers, MutableHeaders
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

__all__ = [
    "BLOB_UPLOAD_PATH",
    "BodyLimitMiddleware",
    "InternalErrorMiddleware",
    "RequestContextMiddleware",
    "accept_request_id",
]

# The file backend's upload endpoint enforces the size its signed policy allows.
BLOB_UPLOAD_PATH: Final = "/api/blobs/upload"

_REQUEST_ID_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")
_DIGITS_RE: Final = re.compile(r"[0-9]{1,19}")

access_log = structlog.get_logger("prework.access")


def accept_request_id(value: str | None) -> str | None:
    """``value`` if it is a well-formed request id (1..128 of ``[A-Za-z0-9._-]``)."""
    if value is not None and _REQUEST_ID_RE.fullmatch(value):
        return value
    return None


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
    the 500 ``internal`` envelope.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        request_id = request_id or uuid.uuid4().hex
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, request_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])  # optional in ASGI
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            log_unhandled(exc, scope=scope)
            if status is not None:
                raise  # the response is under way: let the server abort it
            await internal_error_response(request_id=request_id)(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(
                "request",
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
