"""The app shell: adapters it opens itself, routers, CORS."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from prework.app import create_app, create_served_app
from prework.blobs.local import LocalBlobStore
from prework.config import Settings
from prework.http import blobs as blob_routes
from prework.http.middleware import BLOB_UPLOAD_PATH
from prework.store.sqlite import SqliteStore


async def test_app_opens_initialises_and_closes_embedded_engines(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'own.db'}")
    app = create_app(settings)
    assert isinstance(app.state.store, SqliteStore)
    assert isinstance(app.state.blobs, LocalBlobStore)
    assert not (tmp_path / "own.db").exists()  # nothing happens before startup

    async with app_client(app) as client:
        # startup created the tables and bucket directories: the engines work at once
        await app.state.store.put("users", {"pk": "USER#1", "sk": "PROFILE", "name": "Ada"})
        assert await app.state.store.get("users", {"pk": "USER#1", "sk": "PROFILE"}) == {
            "pk": "USER#1",
            "sk": "PROFILE",
            "name": "Ada",
        }
        await app.state.blobs.put("media", "a/b.txt", b"hi", content_type="text/plain")
        response = await client.get("/readyz")
        assert response.status_code == 200

    # shutdown closed what the app opened; the data is on disk for the next start
    app2 = create_app(settings)
    async with app_client(app2):
        assert await app2.state.store.get("users", {"pk": "USER#1", "sk": "PROFILE"})
        stream = await app2.state.blobs.get("media", "a/b.txt")
        assert await stream.read() == b"hi"


async def test_file_blob_routes_are_mounted_for_the_file_backend(
    client: httpx.AsyncClient,
) -> None:
    assert BLOB_UPLOAD_PATH == blob_routes.UPLOAD_PATH  # the body-limit exemption
    response = await client.post(blob_routes.UPLOAD_PATH, content=b"not a form")
    assert response.status_code == 400  # the route answered (not 404/405)
    assert response.json()["error"]["code"] == "invalid_multipart"


async def test_no_cors_headers_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_configured_origins_without_credentials(
    settings: Settings, store: Any, blobs: Any, app_client: Callable[..., Any]
) -> None:
    settings = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    async with app_client(create_app(settings, store=store, blobs=blobs)) as client:
        preflight = await client.options(
            "/healthz",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization",
            },
        )
        simple = await client.get("/healthz", headers={"Origin": "https://app.example"})
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in preflight.headers
    assert "X-Request-ID" in preflight.headers
    assert simple.headers["access-control-allow-origin"] == "https://app.example"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_rotating_the_secret_key_keeps_outstanding_blob_urls_working(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    old_key, new_key = "the-old-secret-key-0123456789", "the-new-secret-key-9876543210"
    before = make_settings(tmp_path, "memory://", secret_key=old_key)
    app = create_app(before)
    async with app_client(app):
        await app.state.blobs.put("media", "r/a.txt", b"kept", content_type="text/plain")
        download = await app.state.blobs.presign_download("media", "r/a.txt")
        upload = await app.state.blobs.presign_upload(
            "media", "r/b.txt", content_type="text/plain", max_size=100
        )

    async def follow(settings: Settings) -> tuple[int, int]:
        async with app_client(create_app(settings)) as client:
            got = await client.get(download)
            posted = await client.post(
                upload.url, data=upload.fields, files={"file": ("b.txt", b"new", "text/plain")}
            )
        return got.status_code, posted.status_code

    rotated = make_settings(
        tmp_path, "memory://", secret_key=new_key, previous_secret_keys=[old_key]
    )
    assert await follow(rotated) == (200, 204)
    forgotten = make_settings(tmp_path, "memory://", secret_key=new_key)
    assert await follow(forgotten) == (403, 403)


async def test_openapi_document_builds_without_warnings(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")  # pytest turns warnings into errors
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/blobs/{bucket}/{key}"]) == {"get"}


async def test_cors_headers_are_on_error_responses_too(
    settings: Settings, store: Any, blobs: Any, app_client: Callable[..., Any]
) -> None:
    """A browser on an allowed origin can read every error, 500s included (and
    their request id, to quote it)."""
    settings = settings.model_copy(
        update={"cors_origins": ["https://app.example"], "max_body_bytes": 10}
    )
    app = create_app(settings, store=store, blobs=blobs)
    router = APIRouter()

    @router.post("/_test/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    app.include_router(router)
    origin = {"Origin": "https://app.example"}
    async with app_client(app) as client:
        responses = {
            500: await client.post("/_test/boom", headers=origin),
            413: await client.post("/_test/boom", headers=origin, content=b"x" * 11),
            404: await client.get("/nowhere", headers=origin),
        }
    for status, response in responses.items():
        assert response.status_code == status
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
        assert response.headers["X-Request-ID"]
        assert response.json()["error"]["code"]


@pytest.mark.parametrize("on", [False, True])
def test_fastapi_telemetry_follows_the_setting(
    tmp_path: Path, make_settings: Callable[..., Settings], on: bool
) -> None:
    """PREWORK_OPENTELEMETRY (README): off, FastAPI's native OpenTelemetry is configured
    off (no provider lookups per request); on, FastAPI's defaults (the global providers)."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'p.db'}", opentelemetry=on)
    config = create_app(settings)._telemetry
    assert (config["tracing"], config["metrics"], config["logs"]) == (on, on, on)


async def test_the_served_app_freezes_what_its_start_made_for_the_collector(
    tmp_path: Path, make_settings: Callable[..., Settings], app_client: Callable[..., Any]
) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'served.db'}")
    app = create_served_app(settings)
    assert gc.get_freeze_count() == 0
    try:
        async with app_client(app) as client:
            assert gc.get_freeze_count() > 10_000  # the modules, routes, models, services
            assert (await client.get("/readyz")).status_code == 200
    finally:
        gc.unfreeze()  # this process goes on building apps
