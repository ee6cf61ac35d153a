"""THE mapping from errors to HTTP responses (and WebSocket close codes).

Every error response has the same JSON envelope::

    {"error": {"code": "not_found", "message": "Not found.", "details": {}}}

* :class:`~prework.errors.PreworkError` -> its ``status`` and ``to_dict()``;
  ``RateLimited`` adds ``Retry-After``, ``Unauthenticated`` adds
  ``WWW-Authenticate: Bearer``, ``RangeNotSatisfiable`` adds
  ``Content-Range: bytes */<size>``. A 5xx error's own message is logged, not
  sent: the client gets its class's generic message (adapters' messages may
  name hosts, paths or vendor errors).
* FastAPI's ``RequestValidationError`` -> 422 ``validation_failed`` with
  ``details.fields`` = ``[{loc, message, type}]`` (the rejected input is never
  echoed: it may be a password), at most :data:`MAX_FIELD_ERRORS` of them
  (``details.omitted`` says how many more there were), each location part
  cut to :data:`MAX_LOC_PART` characters (key names are the client's) and
  each message to :data:`MAX_MESSAGE`; a body that is not acceptable JSON
  (:mod:`prework.http.bodies`) -> 400 ``malformed_body``, ``details.reason``.
* Starlette's ``HTTPException`` (the router's 404/405, the body limit's 413)
  -> the code for its status (``not_found``, ``method_not_allowed``,
  ``too_large``, ...), its headers kept.
* Anything else is a bug: logged with the request id and traceback, answered
  500 ``internal`` with a message that says nothing about the cause.

On a WebSocket the same errors close the socket with code ``4000 + status``
(``4401``, ``4403``, ``4404``, ...; internal errors ``1011``) and the error
code as the close reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Final, cast

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import compile_path
from starlette.types import ExceptionHandler, Scope
from starlette.websockets import WebSocket, WebSocketState

from prework.errors import (
    Internal,
    MalformedBody,
    PreworkError,
    RangeNotSatisfiable,
    RateLimited,
    Unauthenticated,
    ValidationFailed,
)

__all__ = [
    "MAX_FIELD_ERRORS",
    "MAX_LOC_PART",
    "MAX_MESSAGE",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_SCOPE_KEY",
    "close_websocket",
    "error_response",
    "install_error_handlers",
    "internal_error_response",
    "log_unhandled",
    "request_id_of",
    "ws_close_code",
]

REQUEST_ID_HEADER: Final = "X-Request-ID"
REQUEST_ID_SCOPE_KEY: Final = "prework.request_id"

log = structlog.get_logger("prework.http")

# bounds of a 422's details.fields: a body of many bad keys gets a small answer
MAX_FIELD_ERRORS: Final = 50
MAX_LOC_PART: Final = 40  # characters of one location part (a key name, say)
MAX_LOC_PARTS: Final = 12
MAX_MESSAGE: Final = 200
_PARSE_ERROR_DETAIL: Final = "There was an error parsing the body"  # FastAPI's 400

# status -> code for HTTPExceptions raised by the framework (routing, body limits)
_HTTP_CODES: Final[Mapping[int, str]] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_failed",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}
_HTTP_MESSAGES: Final[Mapping[int, str]] = {
    404: "Not found.",
    405: "Method not allowed.",
    413: "The request body is too large.",
}


def request_id_of(scope: Scope) -> str | None:
    """The request id the request-context middleware gave this request."""
    rid = scope.get(REQUEST_ID_SCOPE_KEY)
    return rid if isinstance(rid, str) else None


def _json_error(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    all_headers = dict(headers or {})
    if request_id:
        all_headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(body, status_code=status, headers=all_headers)


def error_response(exc: PreworkError, *, request_id: str | None = None) -> JSONResponse:
    """The HTTP response for a Prework error.

    A 5xx error's message is written for operators (it may name an engine, a
    path, a vendor error) and goes to the log only: the client gets the class's
    generic message, the code and the details.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    message = exc.message if exc.status < 500 else _server_error_message(exc, request_id)
    return _json_error(
        exc.status, exc.code, message, exc.details, headers=headers, request_id=request_id
    )


def _server_error_message(exc: PreworkError, request_id: str | None) -> str:
    message = type(exc).default_message
    if request_id:
        message += f" Quote request id {request_id} when reporting it."
    return message


def internal_error_response(*, request_id: str | None = None) -> JSONResponse:
    """The 500 response for a bug: says nothing about what went wrong."""
    return error_response(Internal(), request_id=request_id)


def log_unhandled(exc: BaseException, *, scope: Scope) -> None:
    """Log an unexpected exception with its traceback and the request id."""
    log.error(
        "unhandled_exception",
        request_id=request_id_of(scope),
        method=scope.get("method"),
        path=scope.get("path"),
        exc_info=exc,
    )


def ws_close_code(exc: BaseException) -> int:
    """The WebSocket close code for an error: 4000 + HTTP status, 1011 for bugs."""
    if isinstance(exc, PreworkError):
        status = exc.status
    elif isinstance(exc, HTTPException):
        status = exc.status_code
    else:
        return 1011
    return 1011 if status == 500 or not 400 <= status <= 599 else 4000 + status


async def close_websocket(ws: WebSocket, code: int, reason: str) -> None:
    """Close ``ws`` (unless it is closed already) with ``code`` and at most 120
    characters of ``reason``."""
    if ws.application_state == WebSocketState.DISCONNECTED:
        return
    await ws.close(code=code, reason=reason[:120])


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _loc_part(part: object) -> int | str:
    return part if isinstance(part, int) else _cut(str(part), MAX_LOC_PART)


def _validation_fields(errors: Sequence[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [_loc_part(part) for part in tuple(err.get("loc", ()))[:MAX_LOC_PARTS]],
            "message": _cut(str(err.get("msg", "")), MAX_MESSAGE),
            "type": _cut(str(err.get("type", "")), MAX_LOC_PART),
        }
        for err in errors[:MAX_FIELD_ERRORS]
    ]


def _from_validation_error(exc: RequestValidationError) -> PreworkError:
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error")
            details = {"reason": _cut(str(reason), MAX_MESSAGE)} if reason else {}
            return MalformedBody(details=details)
    return ValidationFailed(
        "The request is not valid; see details.fields.",
        details={
            "fields": _validation_fields(errors),
            "omitted": max(0, len(errors) - MAX_FIELD_ERRORS),
        },
    )


def _http_exception_parts(exc: HTTPException) -> tuple[str, str]:
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    if status in _HTTP_MESSAGES:
        return code, _HTTP_MESSAGES[status]
    if isinstance(exc.detail, str) and exc.detail and status < 500:
        return code, exc.detail
    try:
        return code, HTTPStatus(status).phrase + "."
    except ValueError:
        return code, "The request failed."


async def _prework_error_handler(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(exc, PreworkError)
    if isinstance(conn, WebSocket):
        await close_websocket(conn, ws_close_code(exc), exc.code)
        return None
    if exc.status >= 500:
        log.warning(
            "request_failed",
            request_id=request_id_of(conn.scope),
            method=conn.scope.get("method"),
            path=conn.scope.get("path"),
            code=exc.code,
            error=exc.message,
            cause=repr(exc.__cause__) if exc.__cause__ else None,
        )
    return error_response(exc, request_id=request_id_of(conn.scope))


async def _validation_error_handler(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(exc, RequestValidationError)
    return error_response(_from_validation_error(exc), request_id=request_id_of(conn.scope))


async def _ws_validation_error_handler(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(conn, WebSocket)
    await close_websocket(conn, 4000 + ValidationFailed.status, ValidationFailed.code)
    return None


async def _http_exception_handler(conn: HTTPConnection, exc: Exception) -> Response | None:
    assert isinstance(exc, HTTPException)
    if (
        exc.status_code == 400
        and exc.detail == _PARSE_ERROR_DETAIL
        and conn.scope["type"] == "http"
    ):
        # FastAPI's own body reader failed (a route not reading through
        # prework.http.bodies): the body is malformed, whatever the reason
        return error_response(MalformedBody(), request_id=request_id_of(conn.scope))
    code, message = _http_exception_parts(exc)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(conn))}
    if isinstance(conn, WebSocket):
        await close_websocket(conn, ws_close_code(exc), code)
        return None
    return _json_error(
        exc.status_code,
        code,
        message,
        headers=headers,
        request_id=request_id_of(conn.scope),
    )


def _allowed_methods(conn: HTTPConnection) -> list[str]:
    """Every method the path's route template serves (Starlette's 405 names only
    those of the first route that matched the path, not of all its routes)."""
    path = conn.scope.get("path", "")
    template: str | None = None
    methods: set[str] = set()
    for ctx in iter_route_contexts(conn.app.routes):
        if ctx.path is None or not ctx.methods:
            continue
        if template is None and _path_regex(ctx.path).match(path):
            template = ctx.path
        if ctx.path == template:
            methods |= set(ctx.methods)
    return sorted(methods)


@functools.lru_cache(maxsize=1024)
def _path_regex(template: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(template)
    return regex


async def _unhandled_exception_handler(conn: HTTPConnection, exc: Exception) -> Response | None:
    # Reached only when the request-context middleware is not installed: it
    # normally answers unexpected exceptions itself (see http.middleware).
    log_unhandled(exc, scope=conn.scope)
    if isinstance(conn, WebSocket):
        await close_websocket(conn, 1011, Internal.code)
        return None
    return internal_error_response(request_id=request_id_of(conn.scope))


def install_error_handlers(app: FastAPI) -> None:
    """Install the one error mapping on ``app``."""
    # each handler serves HTTP (returns a response) and WebSocket (closes, returns None)
    handlers = {
        PreworkError: _prework_error_handler,
        RequestValidationError: _validation_error_handler,
        WebSocketRequestValidationError: _ws_validation_error_handler,
        HTTPException: _http_exception_handler,
        Exception: _unhandled_exception_handler,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, cast(ExceptionHandler, handler))
