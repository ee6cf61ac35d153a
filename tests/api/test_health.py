"""Liveness/readiness probes, request ids and the access log, through HTTP."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from prework.app import create_app
from prework.bootstrap import open_blobs, open_store
from prework.config import Settings
from prework.http import health

HEX32 = re.compile(r"[0-9a-f]{32}")


# --------------------------------------------------------------------------- probes
async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_both_engines_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"store": "ok", "blobs": "ok"}}


@pytest.fixture
async def black_hole() -> AsyncIterator[int]:
    """A loopback port that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def _readyz(
    app_client: Callable[..., Any], settings: Settings, *, init_blobs: bool = True
) -> tuple[httpx.Response, float]:
    store, blobs = open_store(settings), open_blobs(settings)
    if init_blobs:
        await blobs.init()
    try:
        async with app_client(create_app(settings, store=store, blobs=blobs)) as client:
            started = asyncio.get_running_loop().time()
            response = await client.get("/readyz")
            return response, asyncio.get_running_loop().time() - started
    finally:
        await store.close()
        await blobs.close()


async def test_readyz_503_names_an_unusable_store(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    (tmp_path / "not-a-dir").write_text("")
    url = f"sqlite:///{tmp_path / 'not-a-dir' / 'prework.db'}"  # cannot be opened
    response, _ = await _readyz(app_client, make_settings(tmp_path, url))

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert error["details"]["checks"] == {"store": "unavailable", "blobs": "ok"}
    assert error["details"]["failed"] == ["store"]
    assert "not-a-dir" not in response.text  # no engine detail leaks
    assert "X-Request-ID" in response.headers


async def test_readyz_503_names_an_unusable_blob_store(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    settings = make_settings(tmp_path, "memory://")
    response, _ = await _readyz(app_client, settings, init_blobs=False)  # no bucket dirs

    assert response.status_code == 503
    details = response.json()["error"]["details"]
    assert details["checks"] == {"store": "ok", "blobs": "unavailable"}
    assert details["failed"] == ["blobs"]


async def test_readyz_gives_up_on_a_hanging_engine_after_the_timeout(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    app_client: Callable[..., Any],
    black_hole: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "prework")  # sign requests: reach the socket
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "prework")
    url = f"dynamodb://?endpoint=http://127.0.0.1:{black_hole}&region=us-east-1"
    response, elapsed = await _readyz(app_client, make_settings(tmp_path, url))

    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"] == {"store": "timeout", "blobs": "ok"}
    assert health.READY_TIMEOUT_SECONDS <= elapsed < health.READY_TIMEOUT_SECONDS + 1.5


# --------------------------------------------------------------------------- request ids
async def test_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")
    assert HEX32.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize("rid", ["abc", "A.b_c-1", "x" * 128, "0" * 32])
async def test_well_formed_request_id_is_echoed(client: httpx.AsyncClient, rid: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": rid})
    assert response.headers["X-Request-ID"] == rid


@pytest.mark.parametrize(
    "rid", ["", "x" * 129, "has space", "semi;colon", "new\tline", "ünï", "a/b", "<script>"]
)
async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient, rid: str) -> None:
    response = await client.get("/healthz", headers=[(b"X-Request-ID", rid.encode())])
    assert HEX32.fullmatch(response.headers["X-Request-ID"])


async def test_request_id_is_on_error_responses_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/route", headers={"X-Request-ID": "trace-404"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "trace-404"


async def test_one_access_log_line_per_request(client: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        await client.get("/healthz?token=secret-in-query", headers={"X-Request-ID": "acc-1"})
        await client.get("/nowhere", headers={"X-Request-ID": "acc-2"})
    lines = [entry for entry in logs if entry["event"] == "request"]
    assert [(e["request_id"], e["path"], e["status"]) for e in lines] == [
        ("acc-1", "/healthz", 200),
        ("acc-2", "/nowhere", 404),
    ]
    for entry in lines:
        assert entry["method"] == "GET"
        assert entry["client"] == "127.0.0.1"
        assert isinstance(entry["duration_ms"], float)
        assert entry["duration_ms"] >= 0
        assert "secret-in-query" not in repr(entry)


async def test_healthz_needs_no_engine(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    """Liveness does not depend on the engines: an unusable store still gets 200."""
    (tmp_path / "not-a-dir").write_text("")
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'not-a-dir' / 'x.db'}")
    store, blobs = open_store(settings), open_blobs(settings)
    app: FastAPI = create_app(settings, store=store, blobs=blobs)
    try:
        async with app_client(app) as client:
            response = await client.get("/healthz")
    finally:
        await store.close()
        await blobs.close()
    assert response.status_code == 200
