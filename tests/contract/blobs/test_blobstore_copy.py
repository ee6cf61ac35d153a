"""BlobStore.copy on every backend (see prework.blobs.base, "Copying").

What each engine reports as the copy's ``sha256``: the ``file`` engine always
the digest; SeaweedFS (S3) the source's stored SHA-256, so a digest for a
source ``put`` in one request and ``None`` for a multipart one (see
prework.blobs.s3).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest

from prework.blobs.base import BlobInfo, BlobStore
from prework.blobs.local import LocalBlobStore
from prework.errors import ConditionFailed, NotFound, ValidationFailed

Leftovers = Callable[[], Awaitable[list[str]]]  # the ``leftovers`` fixture

MiB = 1024 * 1024


def new_key(name: str = "file.bin") -> str:
    return f"copy/{uuid.uuid4().hex}/{name}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def body_of(blobs: BlobStore, bucket: str, key: str) -> bytes:
    async with await blobs.get(bucket, key) as stream:
        return await stream.read()


async def assert_absent(blobs: BlobStore, bucket: str, key: str) -> None:
    with pytest.raises(NotFound):
        await blobs.head(bucket, key)


async def assert_copy_of(blobs: BlobStore, info: BlobInfo, bucket: str, data: bytes) -> None:
    """``info`` (what copy answered) describes the object now at its key, holding ``data``."""
    head = await blobs.head(bucket, info.key)
    assert (head.key, head.size, head.content_type, head.etag) == (
        info.key,
        info.size,
        info.content_type,
        info.etag,
    )
    assert head.sha256 == info.sha256
    assert info.size == len(data)
    assert await body_of(blobs, bucket, info.key) == data


async def test_copy_then_get_and_head(blobs: BlobStore, leftovers: Leftovers) -> None:
    src, dst = new_key("staging.jpg"), new_key("final.jpg")
    data = b"\xff\xd8 not really a jpeg \x00\x01"
    put = await blobs.put("media", src, data, content_type="image/jpeg")

    info = await blobs.copy("media", src, "media", dst)

    assert (info.key, info.size, info.content_type) == (dst, len(data), "image/jpeg")
    assert info.etag == put.etag  # a single-part object's copy keeps its ETag
    assert info.sha256 == sha256(data)  # a one-request put: both engines know it
    await assert_copy_of(blobs, info, "media", data)
    # the source is still there, unchanged
    assert (await blobs.head("media", src)).etag == put.etag
    assert await body_of(blobs, "media", src) == data
    assert await leftovers() == []


async def test_copy_across_buckets(blobs: BlobStore) -> None:
    src, dst = new_key("report.pdf"), new_key("report.pdf")
    data = b"%PDF-1.7 pretend"
    await blobs.put("media", src, data, content_type="application/pdf")

    info = await blobs.copy("media", src, "documents", dst)

    assert (info.key, info.content_type, info.sha256) == (dst, "application/pdf", sha256(data))
    await assert_copy_of(blobs, info, "documents", data)
    await assert_absent(blobs, "media", dst)  # only where it was asked


async def test_copy_replaces_the_destination(blobs: BlobStore) -> None:
    src, dst = new_key(), new_key()
    await blobs.put("media", dst, b"the old destination, longer", content_type="text/plain")
    data = b'{"new": true}'
    await blobs.put("media", src, data, content_type="application/json")

    info = await blobs.copy("media", src, "media", dst)

    assert info.content_type == "application/json"
    await assert_copy_of(blobs, info, "media", data)


async def test_copy_if_match_of_the_current_version(blobs: BlobStore) -> None:
    src, dst = new_key(), new_key()
    await blobs.put("media", src, b"first", content_type="text/plain")
    current = await blobs.put("media", src, b"second", content_type="image/png")

    info = await blobs.copy("media", src, "media", dst, if_match=current.etag)

    assert (info.etag, info.content_type) == (current.etag, "image/png")
    await assert_copy_of(blobs, info, "media", b"second")


async def test_copy_if_match_of_an_older_version_writes_nothing(
    blobs: BlobStore, leftovers: Leftovers
) -> None:
    src, fresh_dst, old_dst = new_key(), new_key(), new_key()
    checked = await blobs.put("media", src, b"what the app checked", content_type="image/png")
    await blobs.put("media", src, b"re-uploaded behind its back", content_type="image/png")
    before = await blobs.put("media", old_dst, b"the old destination", content_type="text/plain")

    for dst in (fresh_dst, old_dst):
        with pytest.raises(ConditionFailed) as caught:
            await blobs.copy("media", src, "media", dst, if_match=checked.etag)
        assert caught.value.code == "changed"

    await assert_absent(blobs, "media", fresh_dst)
    head = await blobs.head("media", old_dst)
    assert (head.etag, head.content_type) == (before.etag, "text/plain")
    assert await body_of(blobs, "media", old_dst) == b"the old destination"
    assert await leftovers() == []


@pytest.mark.parametrize("if_match", ["*", "", "0" * 32, '"quoted"', "bad\r\nheader: x"])
async def test_copy_if_match_of_no_version_fails(blobs: BlobStore, if_match: str) -> None:
    # "*" is no ETag: S3's If-Match would take it as "any version", the port does not
    src, dst = new_key(), new_key()
    await blobs.put("media", src, b"body", content_type="text/plain")
    with pytest.raises(ConditionFailed) as caught:
        await blobs.copy("media", src, "media", dst, if_match=if_match)
    assert caught.value.code == "changed"
    await assert_absent(blobs, "media", dst)


async def test_copy_of_a_missing_source(blobs: BlobStore, leftovers: Leftovers) -> None:
    src, fresh_dst, old_dst = new_key(), new_key(), new_key()
    await blobs.put("media", old_dst, b"kept", content_type="text/plain")
    for dst, if_match in [(fresh_dst, None), (old_dst, None), (old_dst, "0" * 32)]:
        with pytest.raises(NotFound):
            await blobs.copy("media", src, "media", dst, if_match=if_match)
    await assert_absent(blobs, "media", fresh_dst)
    assert await body_of(blobs, "media", old_dst) == b"kept"
    assert await leftovers() == []


@pytest.mark.parametrize("bad", ["", "/leading", "a/../b", "back\\slash", "ctl\x00", "k" * 1025])
async def test_copy_with_an_invalid_key(blobs: BlobStore, bad: str) -> None:
    good = new_key()
    await blobs.put("media", good, b"body", content_type="text/plain")
    for args in [("media", bad, "media", new_key()), ("media", good, "media", bad)]:
        with pytest.raises(ValidationFailed) as caught:
            await blobs.copy(*args)
        assert caught.value.code == "invalid_key"


async def test_copy_with_an_unknown_bucket_is_a_bug(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"body", content_type="text/plain")
    with pytest.raises(ValueError, match="nope"):
        await blobs.copy("media", key, "nope", new_key())
    with pytest.raises(ValueError, match="nope"):
        await blobs.copy("nope", key, "media", new_key())


async def test_copy_onto_itself(blobs: BlobStore) -> None:
    key = new_key()
    data = b"stays as it is"
    put = await blobs.put("media", key, data, content_type="text/plain")

    info = await blobs.copy("media", key, "media", key)
    again = await blobs.copy("media", key, "media", key, if_match=put.etag)

    for result in (info, again):
        assert (result.key, result.etag, result.content_type) == (key, put.etag, "text/plain")
        await assert_copy_of(blobs, result, "media", data)
    with pytest.raises(ConditionFailed) as caught:
        await blobs.copy("media", key, "media", key, if_match="0" * 32)
    assert caught.value.code == "changed"
    missing = new_key()
    with pytest.raises(NotFound):
        await blobs.copy("media", missing, "media", missing)


async def test_copy_of_5_mb(blobs: BlobStore, leftovers: Leftovers) -> None:
    src, dst = new_key(), new_key()
    data = os.urandom(5 * MiB + 17)
    put = await blobs.put("media", src, data, content_type="video/mp4")

    info = await blobs.copy("media", src, "documents", dst, if_match=put.etag)

    assert info.sha256 == sha256(data)
    await assert_copy_of(blobs, info, "documents", data)
    assert await leftovers() == []


async def test_copy_of_a_multipart_object(
    blobs: BlobStore, blob_backend: str, leftovers: Leftovers
) -> None:
    # 12 MiB streamed: a multipart upload on S3, whose whole-object SHA-256 S3 never knew
    src, dst = new_key(), new_key()
    data = os.urandom(12 * MiB + 5)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MiB):
            yield data[start : start + MiB]

    put = await blobs.put("media", src, chunks(), content_type="video/mp4")

    info = await blobs.copy("media", src, "media", dst, if_match=put.etag)

    assert info.sha256 == (sha256(data) if blob_backend == "file" else None)
    await assert_copy_of(blobs, info, "media", data)
    assert await leftovers() == []


async def test_copy_while_the_source_is_replaced(blobs: BlobStore, leftovers: Leftovers) -> None:
    """A copy racing re-uploads copies one whole version, and with ``if_match``
    only the checked one: never a mix, never unchecked bytes."""
    src = new_key()
    versions = [bytes([65 + n]) * (2 * MiB) for n in range(4)]
    checked = await blobs.put("media", src, versions[0], content_type="image/png")
    outcomes: list[str] = []

    async def reupload() -> None:
        for data in versions[1:]:
            await blobs.put("media", src, data, content_type="image/png")

    async def copy_one(dst: str, if_match: str | None) -> None:
        try:
            info = await blobs.copy("media", src, "media", dst, if_match=if_match)
        except ConditionFailed as exc:
            code = exc.code
            assert code == "changed"
            await assert_absent(blobs, "media", dst)
            outcomes.append("changed")
            return
        body = await body_of(blobs, "media", dst)
        assert body in versions, "a copy must be one whole version"
        assert info.etag == hashlib.md5(body, usedforsecurity=False).hexdigest()
        assert info.sha256 == sha256(body)
        if if_match is not None:
            assert body == versions[0], "only the checked version may be copied"
        outcomes.append("copied")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reupload)
        for n in range(6):
            tasks.start_soon(copy_one, new_key(), checked.etag if n % 2 else None)
    assert len(outcomes) == 6
    # after the race, the checked version is gone: a conditional copy must fail
    with pytest.raises(ConditionFailed):
        await blobs.copy("media", src, "media", new_key(), if_match=checked.etag)
    assert await leftovers() == []


@pytest.mark.backend("file")
async def test_a_cancelled_copy_leaves_nothing(blobs: BlobStore, leftovers: Leftovers) -> None:
    assert isinstance(blobs, LocalBlobStore)
    src, dst = new_key(), new_key()
    data = os.urandom(24 * MiB)
    await blobs.put("media", src, data, content_type="video/mp4")
    for delay in (0, 0.001, 0.01, 0.05):
        with anyio.move_on_after(delay):
            await blobs.copy("media", src, "media", dst)
        assert await leftovers() == []
        with contextlib.suppress(NotFound):  # else it finished before the cancel:
            assert await body_of(blobs, "media", dst) == data
