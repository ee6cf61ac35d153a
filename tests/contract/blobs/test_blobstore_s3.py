"""What only the S3 backend does: translating engine trouble into Prework errors;
reading checksums and listing objects written by other S3 clients."""

from __future__ import annotations

import base64
import hashlib
import socket
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from prework.blobs.base import BlobStore
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


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


async def test_head_reports_only_whole_object_sha256(
    blobs: BlobStore, s3_client: Any, s3_bucket_names: dict[str, str]
) -> None:
    bucket = s3_bucket_names["media"]
    prefix = f"raw/{uuid.uuid4().hex}/"
    body = b"written by another client"
    await s3_client.put_object(
        Bucket=bucket, Key=prefix + "checked", Body=body, ChecksumSHA256=b64_sha256(body)
    )
    await s3_client.put_object(Bucket=bucket, Key=prefix + "unchecked", Body=body)
    # a multipart upload with SHA-256 part checksums: the engine reports a
    # COMPOSITE "checksum of checksums" (...=-2), which is not the body's SHA-256
    parts_data = [b"a" * (5 * 1024 * 1024), b"b" * 100]
    key = prefix + "composite"
    up = await s3_client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    parts = []
    for number, data in enumerate(parts_data, 1):
        out = await s3_client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=up["UploadId"],
            PartNumber=number,
            Body=data,
            ChecksumSHA256=b64_sha256(data),
        )
        parts.append(
            {"ETag": out["ETag"], "PartNumber": number, "ChecksumSHA256": out["ChecksumSHA256"]}
        )
    done = await s3_client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    assert done["ChecksumSHA256"].endswith("-2")  # what the engine says: composite

    assert (await blobs.head("media", prefix + "checked")).sha256 == hashlib.sha256(
        body
    ).hexdigest()
    assert (await blobs.head("media", prefix + "unchecked")).sha256 is None
    assert (await blobs.head("media", key)).sha256 is None
    page = await blobs.list("media", prefix)
    assert [(i.key, i.sha256) for i in page.items] == [
        (prefix + "checked", hashlib.sha256(body).hexdigest()),
        (key, None),
        (prefix + "unchecked", None),
    ]


async def test_put_with_a_wrong_checksum_is_refused_by_the_engine(
    s3_client: Any, s3_bucket_names: dict[str, str]
) -> None:
    # what makes put()'s ChecksumSHA256 worth sending: the engine checks it
    bucket = s3_bucket_names["media"]
    key = f"raw/{uuid.uuid4().hex}/bad"
    with pytest.raises(ClientError) as err:
        await s3_client.put_object(
            Bucket=bucket, Key=key, Body=b"body", ChecksumSHA256=b64_sha256(b"other")
        )
    assert err.value.response["Error"]["Code"] == "BadDigest"
    with pytest.raises(ClientError):
        await s3_client.head_object(Bucket=bucket, Key=key)


async def test_keys_prework_could_not_write_are_not_listed(
    blobs: BlobStore, s3_client: Any, s3_bucket_names: dict[str, str]
) -> None:
    bucket = s3_bucket_names["media"]
    prefix = f"raw/{uuid.uuid4().hex}/"
    # "$" sorts before "a": the first page covers only the stranger
    for name in ["${filename}", "a", "b"]:
        await s3_client.put_object(Bucket=bucket, Key=prefix + name, Body=b"x")

    first = await blobs.list("media", prefix, limit=1)
    assert first.items == []
    assert first.cursor == prefix + "${filename}"  # yet the cursor moves past it
    second = await blobs.list("media", prefix, cursor=first.cursor, limit=1)
    assert [i.key for i in second.items] == [prefix + "a"]
    third = await blobs.list("media", prefix, cursor=second.cursor, limit=1)
    assert ([i.key for i in third.items], third.cursor) == ([prefix + "b"], None)
