"""The BlobStore contract (see prework.blobs.base), run on every backend."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from prework.blobs.base import BlobStore
from prework.errors import NotFound, TooLarge, ValidationFailed

Leftovers = Callable[[], Awaitable[list[str]]]  # the ``leftovers`` fixture

MiB = 1024 * 1024


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def new_key(name: str = "file.bin") -> str:
    return f"tests/{uuid.uuid4().hex}/{name}"


class Source:
    """An async body that counts what it handed out."""

    def __init__(self, data: bytes, chunk: int = 100_003) -> None:
        self.data = data
        self.chunk = chunk
        self.sent = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            piece = self.data[start : start + self.chunk]
            self.sent += len(piece)
            yield piece


async def test_put_bytes_then_get_and_head(blobs: BlobStore) -> None:
    key = new_key("photo.jpg")
    body = b"\xff\xd8 not really a jpeg \x00\x01"
    info = await blobs.put("media", key, body, content_type="image/jpeg")
    assert (info.key, info.size, info.content_type) == (key, len(body), "image/jpeg")
    assert info.etag

    head = await blobs.head("media", key)
    assert (head.key, head.size, head.content_type, head.etag) == (
        key,
        len(body),
        "image/jpeg",
        info.etag,
    )
    async with await blobs.get("media", key) as stream:
        assert stream.info.size == len(body)
        assert stream.info.content_type == "image/jpeg"
        assert await stream.read() == body


async def test_put_async_iterator_of_5_mb(blobs: BlobStore) -> None:
    key = new_key()
    data = os.urandom(5 * MiB + 17)
    info = await blobs.put("documents", key, Source(data).stream(), content_type="application/pdf")
    assert info.size == len(data)

    stream = await blobs.get("documents", key)
    digest = hashlib.sha256()
    chunks = 0
    async for chunk in stream:
        digest.update(chunk)
        chunks += 1
    assert digest.digest() == hashlib.sha256(data).digest()
    assert chunks > 1, "the body must be streamed in chunks"
    assert (await blobs.head("documents", key)).size == len(data)


async def test_put_5_mb_bytes(blobs: BlobStore) -> None:
    key = new_key()
    data = os.urandom(5 * MiB)
    await blobs.put("media", key, data, content_type="video/mp4")
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == data


async def test_put_iterator_larger_than_a_part(blobs: BlobStore, leftovers: Leftovers) -> None:
    # 12 MiB: above the S3 adapter's single-request threshold (multipart upload)
    key = new_key()
    data = os.urandom(12 * MiB + 5)
    source = Source(data, chunk=MiB + 1)
    info = await blobs.put(
        "media", key, source.stream(), content_type="video/mp4", max_size=13 * MiB
    )
    assert info.size == len(data)
    assert (await blobs.head("media", key)).size == len(data)
    async with await blobs.get("media", key) as stream:
        assert hashlib.sha256(await stream.read()).digest() == hashlib.sha256(data).digest()
    assert await leftovers() == []


async def test_empty_body(blobs: BlobStore) -> None:
    key = new_key("empty.txt")
    info = await blobs.put("documents", key, b"", content_type="text/plain")
    assert info.size == 0
    async with await blobs.get("documents", key) as stream:
        assert await stream.read() == b""


async def test_put_replaces_the_object(blobs: BlobStore) -> None:
    key = new_key()
    first = await blobs.put("media", key, b"first version", content_type="text/plain")
    second = await blobs.put("media", key, b"second", content_type="application/json")
    assert first.etag != second.etag
    head = await blobs.head("media", key)
    assert (head.size, head.content_type, head.etag) == (6, "application/json", second.etag)
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == b"second"


async def test_missing_object_is_not_found(blobs: BlobStore) -> None:
    key = new_key()
    with pytest.raises(NotFound):
        await blobs.head("media", key)
    with pytest.raises(NotFound):
        await blobs.get("media", key)


async def test_delete_is_idempotent(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("thumbnails", key, b"x", content_type="image/png")
    await blobs.delete("thumbnails", key)
    with pytest.raises(NotFound):
        await blobs.head("thumbnails", key)
    await blobs.delete("thumbnails", key)
    await blobs.delete("thumbnails", new_key())


async def test_buckets_are_separate(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"in media", content_type="text/plain")
    with pytest.raises(NotFound):
        await blobs.head("documents", key)


async def test_a_key_and_its_prefix_coexist(blobs: BlobStore) -> None:
    base = new_key("dir")
    await blobs.put("media", base, b"outer", content_type="text/plain")
    await blobs.put("media", f"{base}/inner", b"inner", content_type="text/plain")
    async with await blobs.get("media", base) as stream:
        assert await stream.read() == b"outer"
    async with await blobs.get("media", f"{base}/inner") as stream:
        assert await stream.read() == b"inner"


@pytest.mark.parametrize(
    "name",
    ["ünïcødé файл.png", "with space & symbols !$'()*+,;=@[]~%.txt", "名前/深い/パス.jpg"],
)
async def test_unusual_but_valid_keys(blobs: BlobStore, name: str) -> None:
    key = new_key(name)
    await blobs.put("media", key, name.encode(), content_type="text/plain")
    assert (await blobs.head("media", key)).key == key
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == name.encode()


async def test_longest_key_is_accepted(blobs: BlobStore) -> None:
    prefix = new_key("")
    key = prefix + "/".join(["k" * 255] * 4)
    key = key[:1024]
    assert len(key) == 1024
    await blobs.put("media", key, b"long", content_type="text/plain")
    assert (await blobs.head("media", key)).size == 4


INVALID_KEYS = [
    "",
    "/absolute",
    "../escape",
    "a/../../b",
    "a/..",
    "..",
    "a\\b",
    "..\\..\\windows",
    "nul\x00byte",
    "new\nline",
    "tab\there",
    "del\x7f",
    "a//b",
    "a/./b",
    "trailing/",
    "x" * 1025,
    "long/" + "x" * 256 + "/segment",
    "é" * 513,  # 1026 bytes of UTF-8
    "uploads/${filename}",
]


@pytest.mark.parametrize("key", INVALID_KEYS, ids=lambda k: repr(k)[:30])
async def test_invalid_keys_are_rejected(blobs: BlobStore, key: str) -> None:
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: blobs.put("media", key, b"x", content_type="text/plain"),
        lambda: blobs.get("media", key),
        lambda: blobs.head("media", key),
        lambda: blobs.delete("media", key),
        lambda: blobs.presign_upload("media", key, content_type="text/plain", max_size=10),
        lambda: blobs.presign_download("media", key),
    ]
    for call in calls:
        with pytest.raises(ValidationFailed) as err:
            await call()
        assert err.value.code == "invalid_key"


@pytest.mark.backend("file")
async def test_invalid_keys_write_nothing_anywhere(blobs: BlobStore, tmp_path: Path) -> None:
    for key in INVALID_KEYS:
        with pytest.raises(ValidationFailed):
            await blobs.put("media", key, b"evil", content_type="text/plain")
    assert files_under(tmp_path) == []


async def test_invalid_content_type_is_rejected(blobs: BlobStore) -> None:
    key = new_key()
    for content_type in ["", "text/plain\r\nX-Evil: 1", "no-slash", "x/" + "y" * 300]:
        with pytest.raises(ValidationFailed):
            await blobs.put("media", key, b"x", content_type=content_type)
    with pytest.raises(NotFound):
        await blobs.head("media", key)


async def test_unknown_bucket_is_a_bug(blobs: BlobStore) -> None:
    with pytest.raises(ValueError, match="bucket"):
        await blobs.put("nope", new_key(), b"x", content_type="text/plain")
    with pytest.raises(ValueError, match="bucket"):
        await blobs.head("nope", new_key())


async def test_body_of_exactly_max_size_is_accepted(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"12345", content_type="text/plain", max_size=5)
    await blobs.put(
        "media", key, Source(b"12345", chunk=2).stream(), content_type="text/plain", max_size=5
    )
    assert (await blobs.head("media", key)).size == 5


async def test_too_large_bytes_store_nothing(blobs: BlobStore, leftovers: Leftovers) -> None:
    key = new_key()
    with pytest.raises(TooLarge):
        await blobs.put("media", key, b"123456", content_type="text/plain", max_size=5)
    with pytest.raises(NotFound):
        await blobs.head("media", key)
    assert await leftovers() == []


async def test_too_large_stream_is_cut_off_and_stores_nothing(
    blobs: BlobStore, leftovers: Leftovers
) -> None:
    key = new_key()
    source = Source(os.urandom(3 * MiB), chunk=64 * 1024)
    with pytest.raises(TooLarge):
        await blobs.put("media", key, source.stream(), content_type="text/plain", max_size=MiB)
    assert source.sent <= MiB + source.chunk, "the body must be cut off as soon as it is too large"
    with pytest.raises(NotFound):
        await blobs.head("media", key)
    assert await leftovers() == []


async def test_too_large_stream_keeps_the_previous_object(
    blobs: BlobStore, leftovers: Leftovers
) -> None:
    key = new_key()
    await blobs.put("media", key, b"old", content_type="text/plain")
    with pytest.raises(TooLarge):
        await blobs.put(
            "media",
            key,
            Source(b"x" * 1000, chunk=10).stream(),
            content_type="text/html",
            max_size=100,
        )
    head = await blobs.head("media", key)
    assert (head.size, head.content_type) == (3, "text/plain")
    assert await leftovers() == []


async def test_too_large_multipart_stream_leaves_no_upload(
    blobs: BlobStore, leftovers: Leftovers
) -> None:
    key = new_key()
    source = Source(os.urandom(12 * MiB), chunk=MiB)
    with pytest.raises(TooLarge):
        await blobs.put("media", key, source.stream(), content_type="video/mp4", max_size=10 * MiB)
    assert source.sent <= 11 * MiB
    with pytest.raises(NotFound):
        await blobs.head("media", key)
    assert await leftovers() == []


async def test_failing_body_stores_nothing(blobs: BlobStore, leftovers: Leftovers) -> None:
    key = new_key()

    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * 100_000
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put("media", key, broken(), content_type="text/plain")
    with pytest.raises(NotFound):
        await blobs.head("media", key)
    assert await leftovers() == []


async def test_stream_can_be_closed_early(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, os.urandom(2 * MiB), content_type="application/octet-stream")
    stream = await blobs.get("media", key)
    async for _chunk in stream:
        break
    await stream.close()
    await stream.close()  # twice is fine
    assert (await blobs.head("media", key)).size == 2 * MiB


async def test_ping_answers(blobs: BlobStore) -> None:
    await blobs.ping()
    await blobs.init()  # idempotent
