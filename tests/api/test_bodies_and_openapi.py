"""Hostile and malformed JSON bodies, bounded 422s, the declared error answers.

Through HTTP on the real app (``module_client``: one app per engine); the
time such bodies cost the event loop is measured in
``bench/bench_hostile_bodies.py``, not here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

LOGIN = "/api/auth/login"
JSON = {"content-type": "application/json"}
# the documented bounds (prework.http.bodies, prework.http.errors)
MAX_DEPTH = 32
MAX_KEYS = 1_000
MAX_BYTES = 64 * 1024  # a route's body unless it declares more
MAX_FIELD_ERRORS = 50
MAX_LOC_PART = 40
CREDENTIALS = {"email": "nobody@example.com", "password": "correct horse battery staple"}


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text[:500]
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    return error


# ------------------------------------------------------------------ hostile bodies
async def test_fifty_thousand_unknown_keys_are_refused_from_the_declared_length(
    module_client: httpx.AsyncClient,
) -> None:
    body = orjson.dumps({**CREDENTIALS, **{f"k{i}": i for i in range(50_000)}})
    r = await module_client.post(LOGIN, content=body, headers=JSON)
    error = _error(r, 413, "too_large")
    assert error["details"] == {"max_bytes": MAX_BYTES}
    assert len(r.content) < 1_000


async def test_a_streamed_body_past_the_route_limit_is_too_large(
    module_client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield orjson.dumps(CREDENTIALS)[:-1]
        for _ in range(MAX_BYTES // 1_000 + 2):
            yield b',"' + b"x" * 1_000 + b'":1'
        yield b"}"

    r = await module_client.post(LOGIN, content=chunks(), headers=JSON)
    assert "content-length" not in r.request.headers
    error = _error(r, 413, "too_large")
    assert error["details"] == {"max_bytes": MAX_BYTES}


async def test_a_body_at_the_route_limit_is_read(module_client: httpx.AsyncClient) -> None:
    body = orjson.dumps({**CREDENTIALS, "x": "y" * 10})
    body = body[:-1] + b" " * (MAX_BYTES - len(body)) + b"}"
    assert len(body) == MAX_BYTES
    r = await module_client.post(LOGIN, content=body, headers=JSON)
    (field,) = _error(r, 422, "validation_failed")["details"]["fields"]
    assert field["loc"] == ["body", "x"]


async def test_more_keys_than_the_bound_are_refused_before_validation(
    module_client: httpx.AsyncClient,
) -> None:
    body = orjson.dumps({**CREDENTIALS, **{f"k{i}": i for i in range(5_000)}})
    assert len(body) < MAX_BYTES
    r = await module_client.post(LOGIN, content=body, headers=JSON)
    error = _error(r, 400, "malformed_body")
    assert str(MAX_KEYS) in error["details"]["reason"]
    assert len(r.content) < 1_000


async def test_keys_are_counted_also_in_a_pretty_printed_body(
    module_client: httpx.AsyncClient,
) -> None:
    body = orjson.dumps(
        {**CREDENTIALS, **{f"k{i}": i for i in range(2_000)}}, option=orjson.OPT_INDENT_2
    ).replace(b'": ', b'" :  ')
    assert len(body) < MAX_BYTES
    r = await module_client.post(LOGIN, content=body, headers=JSON)
    _error(r, 400, "malformed_body")


async def test_colons_in_strings_are_not_taken_for_keys(module_client: httpx.AsyncClient) -> None:
    # thousands of '":'-like byte runs inside strings, few keys: validated, not refused
    values = [":x", '":', '{":', "12:00:00", '\\":'] * 1_000
    r = await module_client.post(LOGIN, json={**CREDENTIALS, "x": values})
    (field,) = _error(r, 422, "validation_failed")["details"]["fields"]
    assert field["loc"] == ["body", "x"]


async def test_validation_errors_are_capped_and_say_how_many_were_left_out(
    module_client: httpx.AsyncClient,
) -> None:
    extra = MAX_KEYS - len(CREDENTIALS)
    body = {**CREDENTIALS, **{f"unknown{i}": i for i in range(extra)}}
    r = await module_client.post(LOGIN, json=body)
    error = _error(r, 422, "validation_failed")
    assert len(error["details"]["fields"]) == MAX_FIELD_ERRORS
    assert error["details"]["omitted"] == extra - MAX_FIELD_ERRORS
    assert len(r.content) < 20_000


async def test_a_long_key_name_is_never_echoed_whole(module_client: httpx.AsyncClient) -> None:
    key = "k" * (MAX_BYTES - 200)
    r = await module_client.post(LOGIN, json={**CREDENTIALS, key: 1})
    error = _error(r, 422, "validation_failed")
    (field,) = error["details"]["fields"]
    assert field["type"] == "extra_forbidden"
    assert all(len(str(part)) <= MAX_LOC_PART for part in field["loc"])
    assert len(r.content) < 1_000


async def test_nesting_past_the_depth_bound_is_malformed(module_client: httpx.AsyncClient) -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    r = await module_client.post(LOGIN, json={**CREDENTIALS, "x": deep})
    error = _error(r, 400, "malformed_body")
    assert "deeper" in error["details"]["reason"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"email": "\xff\xfe", "password": "x"}', id="not-utf8"),
        pytest.param(
            b'{"email": "a@b.example", "password": 1' + b"1" * 4_300 + b"}", id="4300-digits"
        ),
        pytest.param(b"[" * 30_000 + b"]" * 30_000, id="30k-deep"),
        pytest.param(b'{"email": "\\ud800", "password": "x"}', id="lone-surrogate"),
        pytest.param(b'{"email": NaN}', id="nan"),
        pytest.param(b"{", id="truncated"),
    ],
)
async def test_every_malformed_json_body_is_malformed_body(
    module_client: httpx.AsyncClient, body: bytes
) -> None:
    r = await module_client.post(LOGIN, content=body, headers=JSON)
    error = _error(r, 400, "malformed_body")
    assert len(error["details"].get("reason", "")) <= 200


def test_every_route_with_a_json_body_or_creating_uses_the_shared_route(
    module_app: FastAPI,
) -> None:
    from prework.http.idempotency import creates
    from prework.http.routing import Route

    unbounded = []
    for ctx in iter_route_contexts(module_app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or (route.body_field is None and not creates(route)):
            continue
        if not isinstance(route, Route):
            unbounded.append(f"{sorted(route.methods or ())} {ctx.path}")
    assert not unbounded, f"build these routers with prework.http.routing.APIRouter: {unbounded}"


def _bounded_requests(app: FastAPI) -> list[tuple[str, str, int | None]]:
    """(method, a concrete path, its byte limit or None) of every bounded JSON route."""
    from prework.http.bodies import _BOUNDS_ATTRIBUTE, DEFAULT_BOUNDS, BoundedJSONRoute

    values = {"int": "7", "uuid": "00000000-0000-4000-8000-000000000000"}
    found: list[tuple[str, str, int | None]] = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, BoundedJSONRoute):
            continue
        path = ctx.path or route.path
        for name, convertor in route.param_convertors.items():
            kind = type(convertor).__name__.removesuffix("Convertor").lower()
            path = re.sub(r"\{" + name + r"(:[a-z]+)?\}", values.get(kind, "p1"), path)
        limit = getattr(route.endpoint, _BOUNDS_ATTRIBUTE, DEFAULT_BOUNDS).max_bytes
        found.extend((method, path, limit) for method in sorted(route.methods or ()))
    return found


async def test_a_declared_length_past_the_limit_is_refused_before_the_app_as_the_app_would(
    module_app: FastAPI, module_client: httpx.AsyncClient
) -> None:
    # prework serve answers these in front of the app (prework.app.refusing_declared_too_large):
    # for every bounded route, past its limit and past the server's, the same answer
    # as the app's, byte for byte, and the app not called; within the limit, the app
    from prework.app import refusing_declared_too_large

    called: list[str] = []

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope["path"])
        await module_app(scope, receive, send)

    front = refusing_declared_too_large(module_app)
    assert front is not module_app
    front.app = watched
    server_max = module_app.state.settings.max_body_bytes
    requests = _bounded_requests(module_app)
    assert len(requests) > 10
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=front), base_url=str(module_client.base_url)
    ) as early:
        for method, path, limit in requests:
            cases = [server_max + 1] if limit is None else [limit + 1, server_max + 1]
            for length in cases:
                headers = {**JSON, "x-request-id": "same-id"}
                body = b" " * length
                direct = await module_client.request(method, path, content=body, headers=headers)
                answer = await early.request(method, path, content=body, headers=headers)
                assert (method, direct.status_code) == (method, 413), (path, direct.text)
                assert answer.status_code == 413
                assert answer.content == direct.content
                assert answer.headers.multi_items() == direct.headers.multi_items()
                assert not called, f"{method} {path} reached the app"
        # within the limit: the app answers
        ok = await early.post(LOGIN, content=orjson.dumps(CREDENTIALS), headers=JSON)
        assert ok.status_code == 401
        assert called == [LOGIN]


async def test_behind_the_proxy_headers_middleware_the_refusal_names_the_forwarded_client(
    module_app: FastAPI, module_client: httpx.AsyncClient
) -> None:
    from structlog.testing import capture_logs
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from prework.app import refusing_declared_too_large

    # as uvicorn serves it with PREWORK_TRUSTED_PROXIES set
    proxied = ProxyHeadersMiddleware(cast(Any, module_app), trusted_hosts="*")
    served = refusing_declared_too_large(proxied)
    headers = {**JSON, "x-forwarded-for": "203.0.113.9"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=served), base_url=str(module_client.base_url)
    ) as client:
        with capture_logs() as logs:
            r = await client.post(LOGIN, content=b" " * (MAX_BYTES + 1), headers=headers)
    assert _error(r, 413, "too_large")["details"] == {"max_bytes": MAX_BYTES}
    (line,) = [e for e in logs if e["event"] == "request"]
    assert (line["status"], line["client"]) == (413, "203.0.113.9")
    assert refusing_declared_too_large(served) is served  # in place once


async def test_with_cors_the_app_answers_every_refusal(make_settings: Any, tmp_path: Any) -> None:
    from prework.app import create_app, refusing_declared_too_large

    settings = make_settings(tmp_path, "memory://", cors_origins=["https://app.example"])
    app = create_app(settings)
    assert refusing_declared_too_large(app) is app


async def test_method_not_allowed_names_every_method_of_the_path(
    module_client: httpx.AsyncClient,
) -> None:
    r = await module_client.request("OPTIONS", "/api/users/invitations")
    _error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET, POST"


# ------------------------------------------------------------------ the OpenAPI document
@pytest.fixture
async def document(module_client: httpx.AsyncClient) -> dict[str, Any]:
    r = await module_client.get("/openapi.json")
    assert r.status_code == 200
    doc: dict[str, Any] = r.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_error_answer_is_the_envelope(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, op in _operations(document):
        for status, answer in op["responses"].items():
            if int(status) >= 400:
                ref = answer["content"]["application/json"]["schema"]["$ref"]
                want = "ValidationFailed" if status == "422" else "Error"
                assert ref == f"#/components/schemas/{want}", (method, path, status)
    envelope = document["components"]["schemas"]["Error"]
    assert envelope["required"] == ["error"]
    assert envelope["properties"]["error"]["required"] == ["code", "message", "details"]


def test_each_operation_declares_the_errors_it_can_answer(document: dict[str, Any]) -> None:
    for method, path, op in _operations(document):
        statuses = set(op["responses"])
        if op.get("security"):
            assert {"401", "403"} <= statuses, (method, path)
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert "404" in statuses, (method, path)
        if "requestBody" in op:
            assert {"400", "413", "422"} <= statuses, (method, path)
        if method != "GET":
            assert "409" in statuses, (method, path)
    paths = document["paths"]
    assert {"401", "429"} <= set(paths[LOGIN]["post"]["responses"])
    assert "429" in paths["/api/auth/register"]["post"]["responses"]
    assert "Retry-After" in paths[LOGIN]["post"]["responses"]["429"]["headers"]


def test_the_field_rules_are_in_the_schema(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    register = schemas["RegisterCreate"]["properties"]
    assert register["email"]["format"] == "email"
    assert register["password"]["minLength"] == 12
    assert register["password"]["maxLength"] == 1024
    assert "{0,198}" in register["display_name"]["pattern"]  # 1..200 once stripped
    params = {p["name"]: p["schema"] for p in document["paths"]["/api/users"]["get"]["parameters"]}
    cursor = params["cursor"]["anyOf"][0]
    assert cursor["maxLength"] == 2048
    limit = params["limit"]["anyOf"][0]
    assert (limit["minimum"], limit["maximum"]) == (1, 200)
    audit = {p["name"]: p["schema"] for p in document["paths"]["/api/audit"]["get"]["parameters"]}
    assert audit["since"]["anyOf"][0]["format"] == "date-time"


def _authenticated_body_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, a concrete path) of every route that takes a JSON body and the caller's
    principal (the bearer token)."""
    from fastapi.dependencies.models import Dependant

    from prework.http.security import current_principal

    def needs_principal(dependant: Dependant) -> bool:
        return any(
            d.call is current_principal or needs_principal(d) for d in dependant.dependencies
        )

    wanted = {(m, p) for m, p, _ in _bounded_requests(app)}
    found: list[tuple[str, str]] = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        if needs_principal(route.dependant):
            found += [(m, p) for m, p in sorted(wanted) if re.fullmatch(route.path_regex, p)]
    return sorted(set(found))


async def test_an_unauthenticated_body_is_refused_before_it_is_parsed(
    module_client: httpx.AsyncClient, module_app: FastAPI
) -> None:
    # every route that needs the bearer token answers 401 to a request without one
    # (or with a bad one) before it reads the body: a malformed or deep body costs no
    # parsing and tells the unauthenticated caller nothing of the body's rules
    routes = _authenticated_body_routes(module_app)
    assert len(routes) >= 20, routes
    hostile = b"[" * 30_000 + b"]" * 30_000
    for method, path in routes:
        for headers, code in (
            (JSON, "unauthenticated"),
            ({**JSON, "authorization": "Bearer not-a-token"}, "invalid_token"),
        ):
            for body in (hostile, b'{"name": '):
                r = await module_client.request(method, path, content=body, headers=headers)
                assert (r.status_code, r.json()["error"]["code"]) == (401, code), (
                    method,
                    path,
                    r.text[:300],
                )
