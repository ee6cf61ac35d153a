"""Fixtures of the media API tests: the app on both stacks the issue names.

``media_stack`` (module scope): ``embedded`` (SQLite, the file blob engine
serving its own upload and download routes) or ``seaweedfs`` (DynamoDB Local,
S3 buckets of this session's own on the SeaweedFS S3 gateway: presigned forms
go to the engine over real HTTP, no byte through the app). ``media_world``:
an organization with a member of every role, a worker ``w1`` on the crew of a
started assignment of a template with a photo, a signature and a text item,
and a worker ``w2`` on no crew. ``http``: a plain HTTP client (for the S3 forms
and links); :func:`helpers.send_form` picks the right one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from prework.app import create_app
from prework.blobs.base import DEFAULT_BUCKET_NAMES, BlobStore
from prework.blobs.s3 import S3BlobStore
from prework.bootstrap import open_blobs
from prework.config import Settings
from prework.store.base import Store
from prework.testing.engines.seaweedfs import S3Endpoint

from ..conftest import _app_client, _engine_settings, _opened_store
from ..identity.conftest import RELAXED_LIMITS
from .helpers import MediaWorld, make_media_world

STACKS = ("embedded", "seaweedfs")
QUIET: dict[str, Any] = {
    **RELAXED_LIMITS,
    "overdue_check_interval_seconds": 0,
    "media_gc_interval_seconds": 0,  # the tests run the collector when they mean to
}


@pytest.fixture(scope="module", params=STACKS)
def media_stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def media_buckets(s3_endpoint: S3Endpoint) -> dict[str, str]:
    """Physical bucket names of this session's own on SeaweedFS."""
    run = uuid.uuid4().hex[:10]
    return {logical: f"pwm-{run}-{logical}" for logical in DEFAULT_BUCKET_NAMES}


def stack_settings(
    stack: str, tmp_path: Path, request: pytest.FixtureRequest, *, prefix_fixture: str, **extra: Any
) -> Settings:
    if stack == "embedded":
        base = _engine_settings("sqlite", tmp_path, request, prefix_fixture=prefix_fixture)
        return base.model_copy(update={**QUIET, **extra})
    base = _engine_settings("dynamodb", tmp_path, request, prefix_fixture=prefix_fixture)
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    names: dict[str, str] = request.getfixturevalue("media_buckets")
    return base.model_copy(
        update={
            **QUIET,
            "blobs": f"s3://?endpoint={endpoint.url}&region={endpoint.region}&path_style=true",
            "bucket_media": names["media"],
            "bucket_thumbnails": names["thumbnails"],
            "bucket_documents": names["documents"],
            **extra,
        }
    )


async def opened_stack_blobs(settings: Settings, request: pytest.FixtureRequest) -> BlobStore:
    """The settings' blob store, initialised (S3: with the engine's keys)."""
    if settings.blobs.startswith("file:"):
        blobs = open_blobs(settings)
        await blobs.init()
        return blobs
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    s3 = S3BlobStore(
        endpoint=endpoint.url,
        region=endpoint.region,
        path_style=True,
        bucket_names=settings.bucket_names,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
    )
    await s3.init()
    return s3


@pytest.fixture(scope="module")
def media_settings(
    media_stack: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    tmp_path = tmp_path_factory.mktemp(f"media-{media_stack}")
    return stack_settings(media_stack, tmp_path, request, prefix_fixture="module_table_prefix")


@pytest.fixture(scope="module")
async def media_store(media_settings: Settings) -> AsyncIterator[Store]:
    async with _opened_store(media_settings) as store:
        yield store


@pytest.fixture(scope="module")
async def media_blobs(
    media_settings: Settings, request: pytest.FixtureRequest
) -> AsyncIterator[BlobStore]:
    blobs = await opened_stack_blobs(media_settings, request)
    try:
        yield blobs
    finally:
        await blobs.close()


@pytest.fixture(scope="module")
def media_app(media_settings: Settings, media_store: Store, media_blobs: BlobStore) -> FastAPI:
    return create_app(media_settings, store=media_store, blobs=media_blobs)


@pytest.fixture(scope="module")
async def media_client(media_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _app_client(media_app) as client:
        yield client


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def media_world(
    media_app: FastAPI,
    media_client: httpx.AsyncClient,
    media_store: Store,
    media_blobs: BlobStore,
    http: httpx.AsyncClient,
) -> MediaWorld:
    return await make_media_world(media_app, media_client, media_store, media_blobs, http)
