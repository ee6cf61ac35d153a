"""The one error mapping and the body limit, observed through HTTP.

Throwaway routes under ``/_test`` are added to the app of each test only.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import structlog
from fastapi import APIRouter, FastAPI, Header, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from prework.app import create_app
from prework.config import Settings
from prework.errors import (
    AlreadyExists,
    NotFound,
    RangeNotSatisfiable,
    RateLimited,
    TransactionCanceled,
    Unauthenticated,
    Unavailable,
)
from prework.http.middleware import (
    BodyLimitMiddleware,
    InternalErrorMiddleware,
    RequestContextMiddleware,
)
from prework.logging import configure_logging
from prework.store.base import Store

LEAKY = "db-password=hunter2-very-secret"
BEARER = "Bearer eyJhbGciOi.token-in-a-local-variable"
PASSWORD = "correct-horse-battery-staple-password"


class ItemCreate(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    count: int = 0
    password: str = Field(min_length=30)


class Probe:
    """Records what the throwaway routes saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.bytes_seen = 0


@pytest.fixture
def probe() -> Probe:
    return Probe()


def _test_router(probe: Probe) -> APIRouter:
    router = APIRouter(prefix="/_test")

    @router.post("/items")
    async def create_item(item: ItemCreate) -> dict[str, str]:
        probe.calls += 1
        return {"name": item.name}

    @router.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        probe.calls += 1
        async for chunk in request.stream():
            probe.bytes_seen += len(chunk)
        return {"size": probe.bytes_seen}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(LEAKY)

    @router.post("/boom-with-secrets")
    async def boom_with_secrets(item: ItemCreate, authorization: Annotated[str, Header()]) -> None:
        token = authorization.removeprefix("Bearer ")
        raise RuntimeError(f"bug while handling a {len(token)}-character token")

    @router.get("/not-found")
    async def not_found() -> None:
        raise NotFound("No such checklist.", code="checklist_not_found", details={"id": "c1"})

    @router.get("/exists")
    async def exists() -> None:
        raise AlreadyExists("User already exists.", code="user_exists")

    @router.get("/rate-limited")
    async def rate_limited() -> None:
        raise RateLimited(retry_after=7)

    @router.get("/range")
    async def unsatisfiable_range() -> None:
        raise RangeNotSatisfiable(size=1234)

    @router.get("/unauthenticated")
    async def unauthenticated() -> None:
        raise Unauthenticated()

    @router.get("/canceled")
    async def canceled() -> None:
        raise TransactionCanceled(failed_indexes=[1])

    @router.get("/unavailable")
    async def unavailable() -> None:
        raise Unavailable(f"DynamoDB at 10.0.0.5 said {LEAKY}") from ConnectionError(LEAKY)

    @router.get("/http-exception")
    async def http_exception() -> None:
        raise HTTPException(status_code=403, detail="Not authenticated")

    return router


@pytest.fixture
def app(settings: Settings, store: Store, blobs: Any, probe: Probe) -> FastAPI:
    app = create_app(settings.model_copy(update={"max_body_bytes": 1000}), store=store, blobs=blobs)
    app.include_router(_test_router(probe))
    return app


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


# --------------------------------------------------------------------------- routing errors
async def test_unknown_route_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
    assert "X-Request-ID" in response.headers


async def test_wrong_method_is_method_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


# --------------------------------------------------------------------------- bodies
async def test_malformed_json_is_malformed_body(client: httpx.AsyncClient, probe: Probe) -> None:
    response = await client.post(
        "/_test/items", content=b'{"name": "x",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert _error(response)["code"] == "malformed_body"
    assert probe.calls == 0


async def test_validation_errors_list_fields_without_echoing_input(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    response = await client.post(
        "/_test/items", json={"name": "", "count": "many", "password": "hunter2-short"}
    )
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "validation_failed"
    fields = {tuple(f["loc"]): f for f in error["details"]["fields"]}
    assert set(fields) == {("body", "name"), ("body", "count"), ("body", "password")}
    for field in fields.values():
        assert set(field) == {"loc", "message", "type"}
        assert field["message"]
    assert fields[("body", "count")]["type"] == "int_parsing"
    assert fields[("body", "password")]["type"] == "string_too_short"
    assert "hunter2-short" not in response.text
    assert "many" not in response.text
    assert probe.calls == 0


async def test_missing_body_is_a_validation_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/_test/items")
    assert response.status_code == 422
    assert _error(response)["details"]["fields"][0]["loc"] == ["body"]


async def test_body_under_the_limit_passes(client: httpx.AsyncClient, probe: Probe) -> None:
    response = await client.post("/_test/raw", content=b"x" * 1000)
    assert response.status_code == 200
    assert response.json() == {"size": 1000}


async def test_declared_oversized_body_is_rejected_before_the_app(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    response = await client.post("/_test/raw", content=b"x" * 1001)
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "too_large"
    assert error["details"] == {"max_bytes": 1000}
    assert "X-Request-ID" in response.headers
    assert probe.calls == 0


async def _chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"y" * n


async def test_streamed_oversized_body_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    request = client.build_request("POST", "/_test/raw", content=_chunks(10_000))
    assert "Content-Length" not in request.headers
    response = await client.send(request)
    assert response.status_code == 413
    assert _error(response)["code"] == "too_large"
    assert "X-Request-ID" in response.headers
    assert probe.bytes_seen <= 1000  # never a byte past the limit


async def test_streamed_oversized_json_body_is_too_large(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    response = await client.post(
        "/_test/items",
        content=_chunks(5000),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert _error(response)["code"] == "too_large"
    assert probe.calls == 0


async def test_streamed_body_under_the_limit_passes(
    client: httpx.AsyncClient, probe: Probe
) -> None:
    response = await client.post("/_test/raw", content=_chunks(999))
    assert response.status_code == 200
    assert response.json() == {"size": 999}


async def _slow_chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    async for chunk in _chunks(total, size):
        await asyncio.sleep(0.002)  # let the app start answering meanwhile
        yield chunk


async def test_streamed_response_survives_an_oversized_unread_body(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A streaming response that started before the (unread) body passed the
    limit is not cut off: the excess is dropped, never handed to the app."""
    router = APIRouter()

    @router.post("/_test/stream")
    async def stream() -> StreamingResponse:
        async def parts() -> AsyncIterator[bytes]:
            for i in range(20):
                await asyncio.sleep(0.005)
                yield b"part-%02d;" % i

        return StreamingResponse(parts(), media_type="text/plain")

    app.include_router(router)
    response = await client.post(
        "/_test/stream", content=_slow_chunks(10_000), headers={"X-Request-ID": "s-1"}
    )
    assert response.status_code == 200
    assert response.text == "".join(f"part-{i:02d};" for i in range(20))
    assert response.headers["X-Request-ID"] == "s-1"


async def test_request_id_is_added_when_the_app_sends_no_headers() -> None:
    """ASGI lets ``http.response.start`` omit ``headers``."""

    async def bare(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=RequestContextMiddleware(bare))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/", headers={"X-Request-ID": "bare-1"})
    assert response.status_code == 200
    assert response.text == "ok"
    assert response.headers["X-Request-ID"] == "bare-1"


@pytest.mark.parametrize("declared", [b"\xb2", b"\xd9\xa3", b"-1", b"1e9", b""])
async def test_odd_content_length_is_counted_not_trusted(declared: bytes) -> None:
    """Servers normally refuse these; the middleware must not crash on them either."""
    seen: list[int] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        seen.append(len(message.get("body", b"")))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    messages = [{"type": "http.request", "body": b"z" * 5, "more_body": False}]
    sent: list[Any] = []

    async def receive() -> Any:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [(b"content-length", declared)],
    }
    await BodyLimitMiddleware(endpoint, max_body_bytes=10)(scope, receive, send)
    assert sent[0]["status"] == 204
    assert seen == [5]


async def test_upload_path_is_exempt_from_the_body_limit() -> None:
    seen: list[int] = []

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        seen.append(size)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = RequestContextMiddleware(
        BodyLimitMiddleware(endpoint, max_body_bytes=10, exempt_paths=["/api/blobs/upload"])
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        exempt = await client.post("/api/blobs/upload", content=b"z" * 100)
        limited = await client.post("/api/other", content=b"z" * 100)
        limited_streamed = await client.post("/api/other", content=_chunks(100, 7))
    assert exempt.status_code == 204
    assert seen[0] == 100
    assert limited.status_code == 413
    assert limited_streamed.status_code == 413
    assert seen[1:] == [] or max(seen[1:]) <= 10


# --------------------------------------------------------------------------- Prework errors
async def test_prework_error_keeps_its_code_message_and_details(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/_test/not-found")
    assert response.status_code == 404
    assert _error(response) == {
        "code": "checklist_not_found",
        "message": "No such checklist.",
        "details": {"id": "c1"},
    }


async def test_subclass_code_keeps_class_status(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/exists")
    assert response.status_code == 409
    assert _error(response)["code"] == "user_exists"


async def test_transaction_canceled_is_a_conflict_naming_positions(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/_test/canceled")
    assert response.status_code == 409
    error = _error(response)
    assert error["code"] == "transaction_canceled"
    assert error["details"]["failed_indexes"] == [1]


async def test_rate_limited_sets_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/rate-limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert _error(response)["details"] == {"retry_after": 7}


async def test_range_not_satisfiable_names_the_size_in_content_range(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/_test/range")
    assert response.status_code == 416
    assert response.headers["Content-Range"] == "bytes */1234"
    assert _error(response) == {
        "code": "range_not_satisfiable",
        "message": "The requested range is outside the object.",
        "details": {},
    }


async def test_unauthenticated_sets_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get("/_test/unauthenticated")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert _error(response)["code"] == "unauthenticated"


async def test_unavailable_is_503_without_the_engine_details(client: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/_test/unavailable", headers={"X-Request-ID": "u-1"})
    assert response.status_code == 503
    assert _error(response)["code"] == "unavailable"
    assert "hunter2" not in response.text
    assert "10.0.0.5" not in response.text
    assert "u-1" in _error(response)["message"]
    # ...which go to the log instead
    [logged] = [e for e in logs if e["event"] == "request_failed"]
    assert logged["request_id"] == "u-1"
    assert "10.0.0.5" in logged["error"]
    assert "ConnectionError" in logged["cause"]


async def test_http_exception_from_a_library_gets_the_envelope(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/_test/http-exception")
    assert response.status_code == 403
    assert _error(response) == {
        "code": "forbidden",
        "message": "Not authenticated",
        "details": {},
    }


# --------------------------------------------------------------------------- bugs
async def test_unexpected_exception_is_a_500_that_leaks_nothing(
    client: httpx.AsyncClient,
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/_test/boom", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal"
    assert error["details"] == {}
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert response.headers["X-Request-ID"] == "boom-1"

    [logged] = [e for e in logs if e["event"] == "unhandled_exception"]
    assert logged["request_id"] == "boom-1"
    assert logged["path"] == "/_test/boom"
    assert isinstance(logged["exc_info"], RuntimeError)
    [access] = [e for e in logs if e["event"] == "request"]
    assert access["status"] == 500


async def test_unexpected_exception_without_the_middleware_still_gets_the_envelope(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    store: Store,
    blobs: Any,
    probe: Probe,
) -> None:
    """The Exception handler is the fallback when the error middlewares are absent."""
    app = create_app(make_settings(tmp_path, "memory://"), store=store, blobs=blobs)
    app.include_router(_test_router(probe))
    ours: tuple[object, ...] = (RequestContextMiddleware, InternalErrorMiddleware)
    app.user_middleware = [m for m in app.user_middleware if m.cls not in ours]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with structlog.testing.capture_logs() as logs:
            response = await client.get("/_test/boom")
    assert response.status_code == 500
    assert _error(response)["code"] == "internal"
    assert "hunter2" not in response.text
    assert any(e["event"] == "unhandled_exception" for e in logs)


# --------------------------------------------------------------------------- logs
@pytest.fixture
def rendered_logs() -> Iterator[Callable[[bool], io.StringIO]]:
    """``rendered_logs(json)``: configure the real log pipeline into a buffer.

    Restores structlog and the standard library loggers afterwards.
    """
    saved_structlog = structlog.get_config()
    names = [
        "",
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "botocore",
        "aiobotocore",
        "urllib3",
        "asyncio",
        "multipart",
    ]
    saved = {
        name: (lg.level, list(lg.handlers), lg.propagate, lg.disabled)
        for name in names
        for lg in [logging.getLogger(name)]
    }

    def configure(json: bool) -> io.StringIO:
        buffer = io.StringIO()
        settings = Settings(_env_file=None, log_json=json)
        configure_logging(settings, stream=buffer)
        return buffer

    try:
        yield configure
    finally:
        structlog.configure(**saved_structlog)
        for name, (level, handlers, propagate, disabled) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate
            lg.disabled = disabled


@pytest.mark.parametrize("json", [True, False], ids=["json", "console"])
async def test_logged_tracebacks_carry_no_credentials(
    client: httpx.AsyncClient, rendered_logs: Callable[[bool], io.StringIO], json: bool
) -> None:
    """A bug's traceback is logged, but never the values of the frames' local
    variables: those hold Authorization headers, tokens and passwords."""
    buffer = rendered_logs(json)
    response = await client.post(
        "/_test/boom-with-secrets",
        json={"name": "x", "password": PASSWORD},
        headers={"Authorization": BEARER, "X-Request-ID": "secret-trace"},
    )
    # the stdlib path too (uvicorn logs an exception escaping a started response)
    try:
        secret = BEARER  # noqa: F841 - a local variable of this frame
        raise ValueError("escaped")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")

    assert response.status_code == 500
    output = buffer.getvalue()
    assert "unhandled_exception" in output
    assert "secret-trace" in output
    assert "boom_with_secrets" in output  # the traceback is there...
    assert "Exception in ASGI application" in output
    assert "escaped" in output
    assert "eyJhbGciOi" not in output  # ...without the locals' values
    assert PASSWORD not in output
