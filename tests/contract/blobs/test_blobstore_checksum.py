"""BlobInfo.sha256 and checksum-pinned presigned uploads, on every backend.

The port's promise: ``sha256`` is the lowercase hex SHA-256 of the whole body
or ``None``, never anything else; a form given ``checksum_sha256`` stores only
a body with that digest. Which objects an engine knows the digest of differs,
and each test says what each engine does: the ``file`` engine always knows
it; SeaweedFS (like AWS S3) reports it for objects stored with a SHA-256
checksum (single PUT by ``put``, a checksum-pinned POST) and not for
multipart uploads or POSTs without one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from prework.blobs.base import BlobInfo, BlobStore, PresignedUpload
from prework.errors import NotFound, ValidationFailed

MiB = 1024 * 1024
Leftovers = Callable[[], Awaitable[list[str]]]  # the ``leftovers`` fixture


def new_key(name: str = "upload.bin") -> str:
    return f"checksum/{uuid.uuid4().hex}/{name}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunks_of(data: bytes, size: int = MiB) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def post(
    http: httpx.AsyncClient,
    form: PresignedUpload,
    body: bytes,
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    return await http.post(
        form.url,
        data=form.fields if fields is None else fields,
        files={"file": ("f.bin", body, "application/octet-stream")},
    )


async def listed(blobs: BlobStore, bucket: str, key: str) -> BlobInfo:
    page = await blobs.list(bucket, key, limit=1)
    assert [i.key for i in page.items] == [key]
    return page.items[0]


async def assert_absent(blobs: BlobStore, key: str) -> None:
    with pytest.raises(NotFound):
        await blobs.head("media", key)


def field(fields: dict[str, str], name: str) -> str:
    return next(n for n in fields if n.lower() == name)


async def test_put_records_the_sha256(blobs: BlobStore) -> None:
    for body in [b"hello", b"", os.urandom(3 * MiB)]:
        key = new_key()
        info = await blobs.put("media", key, body, content_type="application/octet-stream")
        assert info.sha256 == sha256(body)
        assert (await blobs.head("media", key)).sha256 == sha256(body)
        assert (await listed(blobs, "media", key)).sha256 == sha256(body)
        async with await blobs.get("media", key) as stream:
            assert await stream.read() == body


async def test_a_streamed_put_within_one_part_records_the_sha256(blobs: BlobStore) -> None:
    key = new_key()
    body = os.urandom(2 * MiB + 3)
    info = await blobs.put("documents", key, chunks_of(body), content_type="application/pdf")
    assert info.sha256 == sha256(body)
    assert (await blobs.head("documents", key)).sha256 == sha256(body)


async def test_a_multipart_put_has_a_sha256_only_where_the_engine_knows_it(
    blobs: BlobStore, blob_backend: str
) -> None:
    key = new_key()
    await blobs.put("media", key, b"small first", content_type="text/plain")
    body = os.urandom(9 * MiB)  # past the S3 adapter's PART_SIZE: a multipart upload
    info = await blobs.put("media", key, chunks_of(body), content_type="video/mp4")
    # S3 keeps no whole-object SHA-256 of a multipart upload: None, never the old one
    expected = sha256(body) if blob_backend == "file" else None
    assert info.sha256 == expected
    assert (await blobs.head("media", key)).sha256 == expected
    assert (await listed(blobs, "media", key)).sha256 == expected


async def test_a_checksum_pinned_upload_stores_the_right_body(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    body = os.urandom(100_000)
    form = await blobs.presign_upload(
        "media",
        key,
        content_type="application/octet-stream",
        max_size=MiB,
        checksum_sha256=sha256(body).upper(),  # any case; stored lowercase
    )
    assert form.fields[field(form.fields, "x-amz-checksum-algorithm")] == "SHA256"
    assert form.fields[field(form.fields, "x-amz-checksum-sha256")] == base64.b64encode(
        hashlib.sha256(body).digest()
    ).decode("ascii")

    response = await post(http, form, body)
    assert response.is_success, response.text

    assert (await blobs.head("media", key)).sha256 == sha256(body)
    assert (await listed(blobs, "media", key)).sha256 == sha256(body)
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == body


async def test_a_checksum_pinned_upload_refuses_another_body(
    blobs: BlobStore, http: httpx.AsyncClient, blob_backend: str, leftovers: Leftovers
) -> None:
    key = new_key()
    await blobs.put("media", key, b"the old object", content_type="text/plain")
    form = await blobs.presign_upload(
        "media",
        key,
        content_type="application/octet-stream",
        max_size=MiB,
        checksum_sha256=sha256(b"what was promised"),
    )

    response = await post(http, form, b"something else entirely")

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if blob_backend == "file":
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "checksum_mismatch"
    else:
        assert "BadDigest" in response.text
    head = await blobs.head("media", key)
    assert (head.size, head.sha256) == (14, sha256(b"the old object"))
    assert await leftovers() == []


@pytest.mark.parametrize("case", ["changed", "removed", "algorithm_changed"])
async def test_the_checksum_fields_cannot_be_changed(
    blobs: BlobStore, http: httpx.AsyncClient, case: str
) -> None:
    key = new_key()
    promised, sent = b"promised body", b"another body"
    form = await blobs.presign_upload(
        "media",
        key,
        content_type="application/octet-stream",
        max_size=MiB,
        checksum_sha256=sha256(promised),
    )
    fields = dict(form.fields)
    checksum = field(fields, "x-amz-checksum-sha256")
    if case == "changed":  # the checksum of the body actually sent
        fields[checksum] = base64.b64encode(hashlib.sha256(sent).digest()).decode("ascii")
    elif case == "removed":
        del fields[checksum]
        del fields[field(fields, "x-amz-checksum-algorithm")]
    else:
        fields[field(fields, "x-amz-checksum-algorithm")] = "CRC32"

    response = await post(http, form, sent, fields)

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    await assert_absent(blobs, key)


async def test_checksum_fields_cannot_be_added_to_a_form_without_one(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    body = b"some body"
    form = await blobs.presign_upload("media", key, content_type="text/plain", max_size=MiB)
    fields = {
        **form.fields,
        "x-amz-checksum-algorithm": "SHA256",
        "x-amz-checksum-sha256": base64.b64encode(hashlib.sha256(body).digest()).decode(),
    }
    response = await post(http, form, body, fields)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    await assert_absent(blobs, key)


async def test_an_upload_without_a_checksum(
    blobs: BlobStore, http: httpx.AsyncClient, blob_backend: str
) -> None:
    key = new_key()
    body = b"no checksum was asked for"
    form = await blobs.presign_upload("media", key, content_type="text/plain", max_size=MiB)
    assert not any("checksum" in name.lower() for name in form.fields)
    assert (await post(http, form, body)).is_success
    # the file engine hashes every write; an S3 engine only checks what it is given
    expected = sha256(body) if blob_backend == "file" else None
    assert (await blobs.head("media", key)).sha256 == expected
    assert (await listed(blobs, "media", key)).sha256 == expected


@pytest.mark.parametrize(
    "checksum", ["", "abc", "g" * 64, "0" * 63, "0" * 65, " " + "0" * 63, "00" * 31 + "0\n"]
)
async def test_an_invalid_checksum_is_refused(blobs: BlobStore, checksum: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        await blobs.presign_upload(
            "media", new_key(), content_type="text/plain", max_size=10, checksum_sha256=checksum
        )
    assert err.value.code == "invalid_checksum"
