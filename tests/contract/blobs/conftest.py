"""Fixtures of the BlobStore contract suite: one suite, every backend.

Each test taking ``blobs`` runs once per backend (``file``, ``s3``); mark a
test ``@pytest.mark.backend("file")`` to run it on that backend only (it is
then not generated for the others; nothing is skipped).

``http`` is a client that can follow the backend's presigned URLs: for
``file`` an ASGI client on a minimal app serving the blob router, for ``s3``
a plain HTTP client talking to the engine. ``leftovers()`` lists what a
failed write may have left behind (temp files; unfinished multipart uploads).
``empty_blobs`` is a store whose buckets hold nothing yet (for ``s3``: new
buckets of its own, removed afterwards); ``s3_client`` a raw aiobotocore
client on the S3 engine, for writing what Prework itself would not.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.session import get_session as get_sync_session
from fastapi import FastAPI

from prework.blobs.base import DEFAULT_BUCKET_NAMES, BlobStore
from prework.blobs.local import LocalBlobStore
from prework.blobs.s3 import S3BlobStore
from prework.http.blobs import router as blob_router
from prework.http.errors import install_error_handlers
from prework.testing.engines.seaweedfs import S3Endpoint

BACKENDS = ("file", "s3")
PUBLIC_URL = "http://testserver"
SECRET = b"contract-suite-secret"

Leftovers = Callable[[], Awaitable[list[str]]]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "blob_backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backend")
    if marker is not None and (unknown := set(marker.args) - set(BACKENDS)):
        raise pytest.UsageError(f"unknown blob backends {sorted(unknown)}")
    names = [n for n in BACKENDS if marker is None or n in marker.args]
    metafunc.parametrize("blob_backend", names, scope="function")


def _s3_config() -> AioConfig:
    return AioConfig(signature_version="s3v4", s3={"addressing_style": "path"})


def _unique_bucket_names() -> dict[str, str]:
    run = uuid.uuid4().hex[:10]
    return {logical: f"pwt-{run}-{logical}" for logical in DEFAULT_BUCKET_NAMES}


@contextlib.asynccontextmanager
async def _raw_s3_client(endpoint: S3Endpoint) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=endpoint.region,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        config=_s3_config(),
    ) as client:
        yield client


@pytest.fixture(scope="session")
def s3_bucket_names(s3_endpoint: S3Endpoint) -> Iterator[dict[str, str]]:
    """Physical bucket names unique to this test session; emptied and removed at the end."""
    names = _unique_bucket_names()
    yield names
    # teardown runs outside the event loop: a plain botocore client is fine here
    client: Any = get_sync_session().create_client(
        "s3",
        endpoint_url=s3_endpoint.url,
        region_name=s3_endpoint.region,
        aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key,
        config=_s3_config(),
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for name in names.values():
        if name not in existing:
            continue
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        for up in uploads:
            client.abort_multipart_upload(Bucket=name, Key=up["Key"], UploadId=up["UploadId"])
        client.delete_bucket(Bucket=name)
    client.close()


@pytest.fixture
async def file_blobs(tmp_path: Path) -> AsyncIterator[LocalBlobStore]:
    """A fresh file store in this test's temp directory."""
    store = LocalBlobStore(
        tmp_path / "blobs",
        bucket_names=DEFAULT_BUCKET_NAMES,
        public_url=PUBLIC_URL,
        secret=SECRET,
    )
    await store.init()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
async def s3_blobs(
    s3_endpoint: S3Endpoint, s3_bucket_names: dict[str, str]
) -> AsyncIterator[S3BlobStore]:
    """One S3 store for the session (tests use unique keys), on this session's buckets."""
    store = S3BlobStore(
        endpoint=s3_endpoint.url,
        region=s3_endpoint.region,
        path_style=True,
        bucket_names=s3_bucket_names,
        access_key=s3_endpoint.access_key,
        secret_key=s3_endpoint.secret_key,
    )
    await store.init()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def s3_client(s3_endpoint: S3Endpoint) -> AsyncIterator[Any]:
    """A raw aiobotocore S3 client on the test engine."""
    async with _raw_s3_client(s3_endpoint) as client:
        yield client


@pytest.fixture
def empty_blobs(blob_backend: str, request: pytest.FixtureRequest) -> BlobStore:
    """A store of the backend this test runs on whose buckets are empty."""
    fixture = "file_blobs" if blob_backend == "file" else "s3_empty_blobs"
    store: BlobStore = request.getfixturevalue(fixture)
    return store


@pytest.fixture
async def s3_empty_blobs(s3_endpoint: S3Endpoint) -> AsyncIterator[S3BlobStore]:
    """An S3 store on new buckets of its own, emptied and removed afterwards."""
    endpoint = s3_endpoint
    names = _unique_bucket_names()
    s3 = S3BlobStore(
        endpoint=endpoint.url,
        region=endpoint.region,
        path_style=True,
        bucket_names=names,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
    )
    try:
        await s3.init()
        yield s3
    finally:
        await s3.close()
        async with _raw_s3_client(endpoint) as client:
            existing = {b["Name"] for b in (await client.list_buckets()).get("Buckets", [])}
            for name in names.values():
                if name not in existing:
                    continue
                async for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                    for obj in page.get("Contents", []):
                        await client.delete_object(Bucket=name, Key=obj["Key"])
                await client.delete_bucket(Bucket=name)


@pytest.fixture
def blobs(blob_backend: str, request: pytest.FixtureRequest) -> BlobStore:
    """The store of the backend this test instance runs on (initialised)."""
    store: BlobStore = request.getfixturevalue(f"{blob_backend}_blobs")
    return store


def blob_app(store: BlobStore) -> FastAPI:
    """A minimal app serving the file backend's presigned URLs."""
    app = FastAPI()
    app.state.blobs = store
    app.include_router(blob_router)
    install_error_handlers(app)
    return app


@pytest.fixture
def make_blob_app() -> Callable[[BlobStore], FastAPI]:
    """Builds the minimal app serving a file store's presigned URLs."""
    return blob_app


@pytest.fixture
def blob_secret() -> bytes:
    """The secret the ``file`` backend's store signs with."""
    return SECRET


@pytest.fixture(scope="session")
async def s3_http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
async def asgi_http(file_blobs: LocalBlobStore) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=blob_app(file_blobs))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


@pytest.fixture
def http(blob_backend: str, request: pytest.FixtureRequest) -> httpx.AsyncClient:
    """A client for the backend's presigned URLs: the app for ``file``, the engine for ``s3``."""
    client: httpx.AsyncClient = request.getfixturevalue(
        "asgi_http" if blob_backend == "file" else "s3_http"
    )
    return client


@pytest.fixture
async def leftovers(blobs: BlobStore, request: pytest.FixtureRequest) -> AsyncIterator[Leftovers]:
    """An async callable listing unfinished writes (temp files, multipart uploads)."""
    if isinstance(blobs, LocalBlobStore):
        root = blobs.root

        async def temp_files() -> list[str]:
            return sorted(str(p.relative_to(root)) for p in root.rglob(".tmp-*"))

        yield temp_files
        return

    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    names: dict[str, str] = request.getfixturevalue("s3_bucket_names")
    async with _raw_s3_client(endpoint) as client:

        async def uploads() -> list[str]:
            found: list[str] = []
            for name in names.values():
                out = await client.list_multipart_uploads(Bucket=name)
                found += [f"{name}/{u['Key']}" for u in out.get("Uploads", [])]
            return found

        yield uploads
