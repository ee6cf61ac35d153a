"""JSON request bodies: parsed once, with orjson, and bounded before validation.

Every JSON body a route declares is read through :class:`BoundedJSONRoute`
(a base of the route class of :class:`prework.http.routing.APIRouter`, which
every area's routes use): the
body is parsed with orjson, then its shape is checked against
:data:`MAX_DEPTH`, :data:`MAX_KEYS` and :data:`MAX_ITEMS` before pydantic
sees it, so a hostile body (50,000 unknown keys, deep nesting) costs one fast
parse and a bounded walk, never a validation error per key.

Each such route also takes at most :data:`MAX_BYTES` of body (a route whose
documents are large declares more, or the server's ``PREWORK_MAX_BODY_BYTES``,
with :func:`body_bounds`): a declared ``Content-Length`` past it is answered
413 ``too_large`` before a byte of the body is read (``prework serve`` answers
it before the app is called, from :class:`DeclaredLengthLimits`, and ends the
connection without reading the body on, see :mod:`prework.server`), and a
chunked body is counted as it arrives and refused once past it.

Whatever is not acceptable JSON (not UTF-8, lone surrogates, ``NaN``, numbers
too large for a double, more than 1,024 levels for orjson, or past the bounds
here) raises :class:`json.JSONDecodeError` from ``Request.json()``, which
FastAPI turns into its ``json_invalid`` validation error and
:mod:`prework.http.errors` into 400 ``malformed_body`` with ``details.reason``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from prework.errors import TooLarge
from prework.http.dispatch import Dispatch
from prework.http.errors import error_response
from prework.http.middleware import accept_request_id
from prework.logging import log_request

__all__ = [
    "DEFAULT_BOUNDS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_KEYS",
    "BodyBounds",
    "BoundedJSONRequest",
    "BoundedJSONRoute",
    "DeclaredLengthLimits",
    "RefuseDeclaredTooLarge",
    "body_bounds",
    "body_shape_error",
    "parse_json_body",
]

MAX_DEPTH: Final = 32  # nested objects/arrays
MAX_KEYS: Final = 1_000  # object members, summed over the whole body
MAX_ITEMS: Final = 10_000  # array elements, summed over the whole body
# the body's bytes: room for a login's 4,096-character password written entirely as
# \\u escapes (~49 KB), the largest body a route of the default bounds takes
MAX_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class BodyBounds:
    """How large a JSON body may be: nesting depth, object keys and array items (both
    summed over the whole body), and bytes (None: the server's limit only)."""

    depth: int = MAX_DEPTH
    keys: int = MAX_KEYS
    items: int = MAX_ITEMS
    max_bytes: int | None = MAX_BYTES


DEFAULT_BOUNDS: Final = BodyBounds()
_BOUNDS_ATTRIBUTE: Final = "__prework_body_bounds__"
E = TypeVar("E", bound=Callable[..., Any])


def body_bounds(
    *,
    depth: int = MAX_DEPTH,
    keys: int = MAX_KEYS,
    items: int = MAX_ITEMS,
    max_bytes: int | None = MAX_BYTES,
) -> Callable[[E], E]:
    """Give the endpoint it decorates other bounds than :data:`DEFAULT_BOUNDS` (a route
    whose documents are large by nature: a 1,000-member team, a 500-item template);
    ``max_bytes=None`` leaves only the server's ``PREWORK_MAX_BODY_BYTES``. Put it
    below the router's decorator::

        @router.post("/things")
        @body_bounds(keys=20_000, max_bytes=512 * 1024)
        async def create_thing(...): ...
    """

    def mark(endpoint: E) -> E:
        bounds = BodyBounds(depth=depth, keys=keys, items=items, max_bytes=max_bytes)
        setattr(endpoint, _BOUNDS_ATTRIBUTE, bounds)
        return endpoint

    return mark


def body_shape_error(value: Any, bounds: BodyBounds = DEFAULT_BOUNDS) -> str | None:
    """Why ``value`` (parsed JSON) is past the bounds, or None if it is within them."""
    keys = items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children: Any
        if isinstance(node, dict):
            keys += len(node)
            children = node.values()
        elif isinstance(node, list):
            items += len(node)
            children = node
        else:
            continue
        if depth > bounds.depth:
            return f"nested deeper than {bounds.depth} levels"
        if keys > bounds.keys:
            return f"more than {bounds.keys} object keys"
        if items > bounds.items:
            return f"more than {bounds.items} array items"
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


_WHITESPACE: Final = b" \t\n\r"
# a hostile body is nothing but short keys: more than `most` of them lie within the
# first `most * _KEY_BYTES` bytes (each count below costs ~0.6 ms per MB; finding the
# few colons of an ordinary body one by one, ~0.02 ms)
_KEY_BYTES: Final = 32
# a '":' whose quote does not close a key: an escaped quote, or one opening a string
_NOT_KEY_ENDS: Final = (b'\\":', b'[":', b',":', b'{":', b':":')


def _keys_at_least(body: bytes) -> int:
    """A lower bound of the number of object keys in ``body`` (if it is valid JSON),
    from byte counts alone (no parse): each '":' is a key's end unless its quote
    is escaped or opens a string, which the subtracted patterns cover (a key
    ending in one of them is not counted: a lower bound)."""
    return body.count(b'":') - sum(body.count(p) for p in _NOT_KEY_ENDS)


def _colons_past(body: bytes, start: int, n: int) -> bool:
    """Whether ``body`` has at least ``n`` colons from ``start`` on."""
    if n > 2_000:
        return body.count(b":", start) >= n
    find = body.find
    at = start - 1
    for _ in range(n):
        at = find(b":", at + 1)
        if at < 0:
            return False
    return True


def _too_many_keys(body: bytes, most: int) -> bool:
    """Whether ``body`` surely has more than ``most`` keys, known without parsing it
    (a body of 50,000 keys costs orjson ~9 ms, this ~0.1 ms)."""
    window = min(len(body), _KEY_BYTES * (most + 1))
    colons = body.count(b":", 0, window)
    if colons > most:
        if _keys_at_least(body[:window]) > most:
            return True  # the hostile case, from its first kilobytes
    elif not _colons_past(body, window, most + 1 - colons):
        return False  # every key has its colon: the common case ends here
    if _keys_at_least(body) > most:
        return True
    return _keys_at_least(body.translate(None, _WHITESPACE)) > most


def parse_json_body(body: bytes, bounds: BodyBounds = DEFAULT_BOUNDS) -> Any:
    """``body`` parsed as JSON, within ``bounds``; else :class:`json.JSONDecodeError`."""
    if _too_many_keys(body, bounds.keys):
        raise json.JSONDecodeError(f"more than {bounds.keys} object keys", _text(body), 0)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise json.JSONDecodeError(exc.msg, _text(body), exc.pos) from None
    reason = body_shape_error(value, bounds)
    if reason is not None:
        raise json.JSONDecodeError(reason, _text(body), 0)
    return value


def _text(body: bytes) -> str:
    # JSONDecodeError wants the document as text; it is never sent back
    return body[:256].decode("utf-8", "replace")


class _PastRouteLimit(HTTPException):
    """Raised while reading a body past its route's bytes; an HTTPException so that
    FastAPI's body reader lets it through (anything else becomes its 400)."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"The request body is larger than {limit} bytes.", details={"max_bytes": limit})


def _declared_length(request: Request) -> int | None:
    for name, value in request.scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 19 else None
    return None


class BoundedJSONRequest(Request):
    """A request whose ``json()`` is :func:`parse_json_body` of its body, and whose
    body is refused past ``bounds.max_bytes``."""

    _parsed: Any
    bounds: BodyBounds = DEFAULT_BOUNDS

    async def body(self) -> bytes:
        limit = self.bounds.max_bytes
        if limit is None or hasattr(self, "_body"):
            return await super().body()
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.stream():
            size += len(chunk)
            if size > limit:
                raise _PastRouteLimit
            chunks.append(chunk)
        self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            self._parsed = parse_json_body(await self.body(), self.bounds)
        return self._parsed


class BoundedJSONRoute(APIRoute):
    """An ``APIRoute`` whose JSON body is read by :class:`BoundedJSONRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        bounds = getattr(self.endpoint, _BOUNDS_ATTRIBUTE, DEFAULT_BOUNDS)
        limit = bounds.max_bytes

        async def bounded_handler(request: Request) -> Response:
            if limit is not None:
                declared = _declared_length(request)
                if declared is not None and declared > limit:
                    raise _too_large(limit)  # from the head alone: the body is not read
            bounded = BoundedJSONRequest(request.scope, request.receive, request._send)
            bounded.bounds = bounds
            try:
                return await handler(bounded)
            except _PastRouteLimit:
                raise _too_large(limit or 0) from None

        return bounded_handler


class DeclaredLengthLimits:
    """What ``app`` answers a request whose ``Content-Length`` is past its limit,
    known from the request's head before the app is called: the request goes (by
    the app's flat route table, :mod:`prework.http.dispatch`) to a bounded JSON
    route, whose :class:`BoundedJSONRoute` refuses such a length before anything
    else runs, after the server's ``PREWORK_MAX_BODY_BYTES`` (checked first, by
    the request-context middleware). :meth:`refusal` is that 413, or None when
    the app decides (another route, no route, a length within the limits)."""

    def __init__(self, app: FastAPI, max_body_bytes: int) -> None:
        dispatch = app.router.middleware_stack
        self._dispatch = dispatch if isinstance(dispatch, Dispatch) else None
        self.max_body_bytes = max_body_bytes

    def refusal(self, scope: Scope, length: int) -> TooLarge | None:
        if self._dispatch is None:
            return None
        found = self._dispatch.table().find(scope)
        if found is None or not isinstance(route := found[0].route, BoundedJSONRoute):
            return None
        if length > self.max_body_bytes:
            return _too_large(self.max_body_bytes)
        limit = getattr(route.endpoint, _BOUNDS_ATTRIBUTE, DEFAULT_BOUNDS).max_bytes
        return _too_large(limit) if limit is not None and length > limit else None


_REQUEST_ID: Final = b"x-request-id"


class RefuseDeclaredTooLarge:
    """In front of the app (``prework serve`` puts it there): a request whose declared
    ``Content-Length`` the app would refuse from its head alone
    (:class:`DeclaredLengthLimits`) is answered here with the app's 413 (the same
    body and headers, the request id chosen by the same rule, the same access
    line), without the app's middleware, routing and error handling: a storm of
    refused bodies costs the loop per request, and that was most of a refusal's cost.
    Not for an app with CORS (its 413 carries CORS headers)."""

    def __init__(self, app: ASGIApp, limits: DeclaredLengthLimits) -> None:
        self.app = app  # what answers everything else (the app, or a wrapper of it)
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length: bytes | None = None
            raw_id: bytes | None = None
            chunked = False
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value if length is None else length
                elif name == _REQUEST_ID:
                    raw_id = value if raw_id is None else raw_id
                elif name == b"transfer-encoding":
                    chunked = True
            if length is not None and not chunked and length.isdigit() and len(length) <= 19:
                refusal = self.limits.refusal(scope, int(length))
                if refusal is not None:
                    await self._refuse(scope, receive, send, refusal, raw_id)
                    return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, refusal: TooLarge, raw_id: bytes | None
    ) -> None:
        started = time.perf_counter()
        request_id = (
            accept_request_id(raw_id.decode("latin-1")) if raw_id is not None else None
        ) or uuid.uuid4().hex
        response = error_response(refusal)
        # the request id last, as the request-context middleware puts it
        headers = [*response.raw_headers, (_REQUEST_ID, request_id.encode("latin-1"))]
        status: int | None = None
        try:
            await send(
                {"type": "http.response.start", "status": response.status_code, "headers": headers}
            )
            status = response.status_code
            await send({"type": "http.response.body", "body": response.body})
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
