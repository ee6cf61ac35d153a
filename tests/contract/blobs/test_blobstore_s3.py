"""What only the S3 backend does: translating engine trouble into Prework errors."""

from __future__ import annotations

import socket
import time

import pytest

from prework.blobs.s3 import S3BlobStore
from prework.errors import NotFound, Unavailable
from prework.testing.engines.seaweedfs import S3Endpoint

pytestmark = pytest.mark.backend("s3")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_rejected_credentials_are_unavailable(
    blob_backend: str, s3_endpoint: S3Endpoint, s3_bucket_names: dict[str, str]
) -> None:
    store = S3BlobStore(
        endpoint=s3_endpoint.url,
        region=s3_endpoint.region,
        path_style=True,
        bucket_names=s3_bucket_names,
        access_key=s3_endpoint.access_key,
        secret_key="not-the-secret",
    )
    try:
        with pytest.raises(Unavailable) as err:
            await store.put("media", "denied.txt", b"x", content_type="text/plain")
        assert err.value.code == "storage_denied"
        assert err.value.__cause__ is not None
        with pytest.raises(Unavailable):
            await store.ping()
    finally:
        await store.close()


async def test_unreachable_engine_is_unavailable(
    blob_backend: str, s3_bucket_names: dict[str, str]
) -> None:
    store = S3BlobStore(
        endpoint=f"http://127.0.0.1:{closed_port()}",
        region="us-east-1",
        path_style=True,
        bucket_names=s3_bucket_names,
        access_key="k",
        secret_key="s",
        max_attempts=1,
    )
    started = time.monotonic()
    try:
        with pytest.raises(Unavailable) as err:
            await store.head("media", "k")
        assert err.value.__cause__ is not None
    finally:
        await store.close()
    assert time.monotonic() - started < 5


async def test_missing_object_keeps_the_vendor_error_as_cause(blobs: S3BlobStore) -> None:
    with pytest.raises(NotFound) as err:
        await blobs.head("media", "never/written")
    assert type(err.value.__cause__).__name__ == "ClientError"
