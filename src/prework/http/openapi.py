"""The OpenAPI document: every error answer declared, with the one error envelope.

:func:`install_openapi` replaces ``app.openapi`` with FastAPI's document plus
the error answers of every operation, derived in one place from what the
operation declares, so a route added later gets them without listing them:

==========================================  ===================================
the operation                               declares
==========================================  ===================================
requires the bearer token (``security``)    401 (``WWW-Authenticate``), 403
has a path parameter                        404
takes a body                                400 ``malformed_body``, 413, 422
has any parameter or a body                 422
is a POST, PUT, PATCH or DELETE             409 (stale versions, write conflicts)
==========================================  ===================================

A route adds the answers only it gives (a throttled route's 429, a public
route's 401, a 404 without a path id) with ``responses=answers(429, ...)``.
Every 4xx/5xx answer in the document, FastAPI's 422 included, gets the
envelope schema (:data:`ERROR_SCHEMA`; 422: :data:`VALIDATION_ERROR_SCHEMA`),
and FastAPI's ``HTTPValidationError`` schemas are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI

__all__ = [
    "ERROR_SCHEMA",
    "VALIDATION_ERROR_SCHEMA",
    "answers",
    "declare_error_answers",
    "install_openapi",
]

_REF = "#/components/schemas/"
_MUTATING: Final = frozenset({"post", "put", "patch", "delete"})
_METHODS: Final = frozenset({"get", "head", "options", "trace", *_MUTATING})

DESCRIPTIONS: Final[Mapping[int, str]] = {
    400: "The body is not acceptable JSON (`malformed_body`, `details.reason`: not UTF-8, "
    "not JSON, too deep, too many keys or items) or the request is otherwise malformed.",
    401: "Not authenticated: `unauthenticated`, `invalid_token`, `token_expired`, "
    "`session_revoked`, `account_deactivated` (and on /api/auth: `invalid_credentials`, "
    "`refresh_token_reused`).",
    403: "`forbidden`: the caller's role may not do this (`details.action`, `details.role`).",
    404: "`not_found`: no such object in the caller's organization.",
    409: "A conflict: `stale_version` (`details.current_version`), `transaction_conflict` "
    "or a rule of the operation (`user_exists`, `last_owner`, ...).",
    413: "`too_large`: the body is over the limit (`details.max_bytes`).",
    416: "`range_not_satisfiable`: the range starts past the end.",
    422: "`validation_failed` (`details.fields`: at most 50 of `{loc, message, type}`, "
    "`details.omitted`: how many more), or a more specific code (`invalid_email`, "
    "`password_too_short`, `invalid_limit`, `invalid_cursor`, `invalid_if_match`, ...).",
    429: "`rate_limited`: too many attempts; `Retry-After` says how many seconds to wait.",
    500: "`internal`: a bug; the message quotes the request id.",
    503: "`unavailable`: a backing service does not answer.",
}

_HEADERS: Final[Mapping[int, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    429: {
        "Retry-After": {
            "schema": {"type": "string"},
            "description": "Seconds to wait before trying again.",
        }
    },
}

ERROR_SCHEMA: Final[dict[str, Any]] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable: clients switch on it."},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

FIELD_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "title": "FieldError",
    "type": "object",
    "required": ["loc", "message"],
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string", "maxLength": 40}, {"type": "integer"}]},
        },
        "message": {"type": "string", "maxLength": 200},
        "type": {"type": "string"},
    },
}

VALIDATION_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "title": "ValidationFailed",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "properties": {
                        "fields": {
                            "type": "array",
                            "maxItems": 50,
                            "items": {"$ref": _REF + "FieldError"},
                        },
                        "omitted": {"type": "integer", "minimum": 0},
                    },
                },
            },
        }
    },
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own error answers (the envelope is added here)."""
    return {status: {"description": DESCRIPTIONS.get(status, "An error.")} for status in statuses}


def _default_statuses(operation: Mapping[str, Any], method: str) -> set[int]:
    statuses: set[int] = set()
    parameters = operation.get("parameters") or []
    has_body = "requestBody" in operation
    if operation.get("security"):
        statuses |= {401, 403}
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if has_body:
        statuses |= {400, 413, 422}
    if parameters:
        statuses.add(422)
    if method in _MUTATING:
        statuses.add(409)
    return statuses


def _error_answer(status: int, existing: Mapping[str, Any] | None) -> dict[str, Any]:
    schema = "ValidationFailed" if status == 422 else "Error"
    given = (existing or {}).get("description")
    answer: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status) or given or "An error.",
        "content": {"application/json": {"schema": {"$ref": _REF + schema}}},
    }
    if status in _HEADERS:
        answer["headers"] = dict(_HEADERS[status])
    return answer


def declare_error_answers(document: dict[str, Any]) -> dict[str, Any]:
    """Add every operation's error answers to ``document`` (in place); return it."""
    for path_item in (document.get("paths") or {}).values():
        for method, operation in path_item.items():
            if method not in _METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            wanted = _default_statuses(operation, method)
            wanted |= {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(wanted):
                responses[str(status)] = _error_answer(status, responses.get(str(status)))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_schema in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_schema, None)
    schemas["Error"] = ERROR_SCHEMA
    schemas["FieldError"] = FIELD_ERROR_SCHEMA
    schemas["ValidationFailed"] = VALIDATION_ERROR_SCHEMA
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve FastAPI's document with every error answer declared (see the module doc)."""
    generate = app.openapi  # FastAPI's: cached, made again when the routes change
    declared: list[int] = []  # id() of the last document we completed

    def openapi() -> dict[str, Any]:
        document = generate()
        if not declared or declared[-1] != id(document):
            declare_error_answers(document)
            declared[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
