"""BlobStore.list (see prework.blobs.base), run on every backend.

The ``s3`` store shares its buckets with the rest of the session, so each test
lists under a prefix of its own (``base()``); tests about whole buckets use
``empty_blobs``. Two tests pin SeaweedFS's deviations from S3's listing (see
prework.blobs.s3) as strict xfails on that engine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

import anyio
import pytest

from prework.blobs.base import BUCKETS, BlobInfo, BlobPage, BlobStore
from prework.errors import ValidationFailed


def base() -> str:
    return f"list/{uuid.uuid4().hex}/"


def in_byte_order(keys: Iterable[str]) -> list[str]:
    return sorted(keys, key=lambda k: k.encode("utf-8"))


async def put_all(
    blobs: BlobStore, keys: Iterable[str], bucket: str = "media", content_type: str = "text/plain"
) -> None:
    """Store every key (its own name as its body), concurrently. SeaweedFS keeps
    objects in a file tree, where a key that is also the folder of others
    (``a`` and ``a/b``) races its folder when both are written at once (one of
    them may be lost), so such keys are written one after the other, shortest first."""
    keys = list(keys)
    nested = [k for k in keys if any(o.startswith(k + "/") for o in keys)]
    for key in sorted(nested, key=len):
        await blobs.put(bucket, key, key.encode(), content_type=content_type)
    keys = [k for k in keys if k not in nested]
    async with anyio.create_task_group() as tasks:
        for key in keys:
            tasks.start_soon(
                lambda k: blobs.put(bucket, k, k.encode(), content_type=content_type), key
            )


async def pages_of(
    blobs: BlobStore, prefix: str, *, limit: int, bucket: str = "media"
) -> list[BlobPage]:
    pages: list[BlobPage] = []
    cursor: str | None = None
    while True:
        page = await blobs.list(bucket, prefix, cursor=cursor, limit=limit)
        pages.append(page)
        if page.cursor is None:
            return pages
        assert len(pages) < 1000, "the listing does not end"
        cursor = page.cursor


def keys_of(pages: Iterable[BlobPage]) -> list[str]:
    return [item.key for page in pages for item in page.items]


def xfail_on_seaweedfs(request: pytest.FixtureRequest, blob_backend: str, reason: str) -> None:
    if blob_backend == "s3":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"SeaweedFS: {reason}"))


async def test_an_empty_bucket_lists_nothing(empty_blobs: BlobStore) -> None:
    for bucket in BUCKETS:
        assert await empty_blobs.list(bucket) == BlobPage(items=[], cursor=None)
        assert await empty_blobs.list(bucket, "any/prefix", limit=1) == BlobPage([], None)


async def test_a_prefix_with_nothing_under_it_lists_nothing(blobs: BlobStore) -> None:
    prefix = base()
    await blobs.put("media", prefix + "there", b"x", content_type="text/plain")
    assert await blobs.list("media", prefix + "nothing") == BlobPage(items=[], cursor=None)
    assert await blobs.list("media", prefix + "there/") == BlobPage(items=[], cursor=None)


async def test_prefix_is_a_plain_string_prefix(blobs: BlobStore) -> None:
    p = base()
    names = ["org/ab", "org/ab/x", "org/abc/x", "org/abd", "org/b/z", "orgx/1", "other"]
    await put_all(blobs, [p + n for n in names])

    async def listed(prefix: str) -> list[str]:
        page = await blobs.list("media", p + prefix)
        assert page.cursor is None
        return [item.key.removeprefix(p) for item in page.items]

    assert await listed("org/ab") == ["org/ab", "org/ab/x", "org/abc/x", "org/abd"]
    assert await listed("org/a") == ["org/ab", "org/ab/x", "org/abc/x", "org/abd"]
    assert await listed("org/") == ["org/ab", "org/ab/x", "org/abc/x", "org/abd", "org/b/z"]
    assert await listed("org") == [*(await listed("org/")), "orgx/1"]
    assert await listed("") == names
    assert await listed("org/abc/x") == ["org/abc/x"]
    assert await listed("org/ab/") == ["org/ab/x"]
    assert await listed("o") == names


async def test_pages_hold_every_key_once_in_order(blobs: BlobStore) -> None:
    p = base()
    keys = [p + f"{i:02d}/item.bin" for i in range(20)] + [p + "07/deeper/x", p + "13/z", p + "z"]
    await put_all(blobs, keys)

    pages = await pages_of(blobs, p, limit=5)

    assert keys_of(pages) == in_byte_order(keys)
    assert [len(page.items) for page in pages] == [5, 5, 5, 5, 3]
    for page in pages[:-1]:
        assert page.cursor == page.items[-1].key  # the documented cursor: the last key
    assert pages[-1].cursor is None


async def test_a_listing_that_ends_on_a_full_page_says_so(blobs: BlobStore) -> None:
    p = base()
    keys = [p + f"k{i}" for i in range(6)]
    await put_all(blobs, keys)
    pages = await pages_of(blobs, p, limit=3)
    assert [len(page.items) for page in pages] == [3, 3]
    assert pages[-1].cursor is None
    one = await pages_of(blobs, p, limit=1)
    assert keys_of(one) == keys
    assert len(one) == 6
    whole = await blobs.list("media", p, limit=6)
    assert ([i.key for i in whole.items], whole.cursor) == (keys, None)


async def test_objects_deleted_and_added_between_pages(blobs: BlobStore) -> None:
    p = base()
    keys = [p + f"k{i:02d}" for i in range(0, 20, 2)]  # k00, k02, ... k18
    await put_all(blobs, keys)

    first = await blobs.list("media", p, limit=4)
    assert [i.key for i in first.items] == keys[:4]  # k00..k06
    assert first.cursor == p + "k06"

    await blobs.delete("media", p + "k02")  # already listed
    await blobs.delete("media", p + "k10")  # not yet listed
    await put_all(blobs, [p + "k03", p + "k07", p + "k11", p + "k99"])  # before / after the cursor

    rest = keys_of(await _continue(blobs, p, first.cursor, limit=4))
    assert rest == [p + k for k in ["k07", "k08", "k11", "k12", "k14", "k16", "k18", "k99"]]
    seen = [i.key for i in first.items] + rest
    assert len(seen) == len(set(seen))
    # a listing from the start sees the bucket as it is now
    now = ["k00", "k03", "k04", "k06", "k07", "k08", "k11", "k12", "k14", "k16", "k18", "k99"]
    assert keys_of(await pages_of(blobs, p, limit=4)) == [p + k for k in now]


async def _continue(
    blobs: BlobStore, prefix: str, cursor: str | None, *, limit: int
) -> list[BlobPage]:
    pages: list[BlobPage] = []
    while cursor is not None:
        page = await blobs.list("media", prefix, cursor=cursor, limit=limit)
        pages.append(page)
        cursor = page.cursor
    return pages


async def test_non_ascii_keys_in_utf8_byte_order(blobs: BlobStore) -> None:
    p = base()
    # UTF-16 order would put the emoji (a surrogate pair, D83D...) before U+FFFF;
    # UTF-8 byte order (S3's) puts it after (F0... > EF BF BF)
    names = ["z", "é", "ö/x", "Ω", "名前/写真.jpg", "\uffff", "😀", "a b", "A"]
    await put_all(blobs, [p + n for n in names])
    want = in_byte_order(p + n for n in names)
    assert want.index(p + "\uffff") < want.index(p + "😀")

    pages = await pages_of(blobs, p, limit=2)
    assert keys_of(pages) == want
    assert (await blobs.list("media", p + "名")).items[0].key == p + "名前/写真.jpg"
    after = await blobs.list("media", p, cursor=p + "é")
    assert [i.key for i in after.items] == want[want.index(p + "é") + 1 :]


async def test_any_key_works_as_a_cursor(blobs: BlobStore) -> None:
    p = base()
    keys = [p + n for n in ["b", "d", "f"]]
    await put_all(blobs, keys)

    async def after(cursor: str) -> list[str]:
        page = await blobs.list("media", p, cursor=cursor)
        assert page.cursor is None
        return [i.key for i in page.items]

    assert await after(p + "c") == [p + "d", p + "f"]  # not a key that exists
    assert await after(p + "d") == [p + "f"]  # strictly after
    assert await after(p + "f") == []
    assert await after(p + "zz") == []
    assert await after("a") == keys  # before the prefix
    assert await after(p) == keys  # the prefix itself


async def test_buckets_are_listed_separately(empty_blobs: BlobStore) -> None:
    await empty_blobs.put("media", "same/key", b"m", content_type="text/plain")
    await empty_blobs.put("documents", "same/key", b"dd", content_type="application/pdf")
    await empty_blobs.put("documents", "same/other", b"d", content_type="application/pdf")

    media = await empty_blobs.list("media")
    documents = await empty_blobs.list("documents", "same/")
    assert [(i.key, i.size) for i in media.items] == [("same/key", 1)]
    assert [(i.key, i.size) for i in documents.items] == [("same/key", 2), ("same/other", 1)]
    assert await empty_blobs.list("thumbnails") == BlobPage([], None)


async def test_listed_info_is_what_head_says(blobs: BlobStore) -> None:
    p = base()
    await blobs.put("media", p + "a.png", b"\x89PNG...", content_type="image/png")
    await blobs.put("media", p + "b.pdf", b"%PDF" * 1000, content_type="application/pdf")
    await blobs.put("media", p + "c/empty", b"", content_type="text/plain; charset=utf-8")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"0123456789" * 10_000

    await blobs.put("media", p + "d.bin", chunks(), content_type="application/octet-stream")

    page = await blobs.list("media", p)
    heads = [await blobs.head("media", item.key) for item in page.items]
    assert page.items == heads
    assert [i.size for i in page.items] == [7, 4000, 0, 1_000_000]
    assert all(isinstance(i, BlobInfo) and i.etag for i in page.items)


async def test_a_brief_listing_has_the_keys_sizes_etags_and_times_of_head(
    blobs: BlobStore,
) -> None:
    p = base()
    await blobs.put("media", p + "a.png", b"\x89PNG...", content_type="image/png")
    await blobs.put("media", p + "b.pdf", b"%PDF" * 1000, content_type="application/pdf")
    await blobs.put("media", p + "c/d", b"", content_type="text/plain")

    pages: list[BlobPage] = []
    cursor: str | None = None
    while True:
        page = await blobs.list("media", p, cursor=cursor, limit=2, metadata=False)
        pages.append(page)
        cursor = page.cursor
        if cursor is None:
            break
    brief = [item for page in pages for item in page.items]
    heads = [await blobs.head("media", item.key) for item in brief]
    assert [i.key for i in brief] == [p + "a.png", p + "b.pdf", p + "c/d"]
    assert [(i.key, i.size, i.etag) for i in brief] == [(h.key, h.size, h.etag) for h in heads]
    for item, head in zip(brief, heads, strict=True):  # to the second (S3 lists whole ones)
        assert abs((item.last_modified - head.last_modified).total_seconds()) < 1


async def test_invalid_prefix_cursor_and_limit(blobs: BlobStore) -> None:
    for prefix in ["nul\x00", "new\nline", "x" * 1025, "é" * 513, "lone\ud800"]:
        with pytest.raises(ValidationFailed) as err:
            await blobs.list("media", prefix)
        assert err.value.code == "invalid_key"
    for cursor in ["", "tab\tcursor", "x" * 1025, "lone\udfff"]:
        with pytest.raises(ValidationFailed) as err:
            await blobs.list("media", "p/", cursor=cursor)
        assert err.value.code == "invalid_cursor"
    for limit in [0, -1, 1001]:
        with pytest.raises(ValueError, match="limit"):
            await blobs.list("media", limit=limit)
    with pytest.raises(ValueError, match="bucket"):
        await blobs.list("nope")
    # the bounds themselves are fine
    assert (await blobs.list("media", "x" * 1024, limit=1000)).items == []
    assert (await blobs.list("media", base(), cursor="x" * 1024, limit=1)).items == []


# -- where SeaweedFS is not S3 ------------------------------------------------


async def test_byte_order_where_slash_meets_lower_characters(
    blobs: BlobStore, blob_backend: str, request: pytest.FixtureRequest
) -> None:
    xfail_on_seaweedfs(request, blob_backend, "lists '/' before every other character")
    p = base()
    names = ["a/b", "a-c", "a.d", "a b", "a0"]
    await put_all(blobs, [p + n for n in names])
    page = await blobs.list("media", p)
    assert [i.key.removeprefix(p) for i in page.items] == ["a b", "a-c", "a.d", "a/b", "a0"]


async def test_a_page_ending_on_a_key_that_others_are_under(
    blobs: BlobStore, blob_backend: str, request: pytest.FixtureRequest
) -> None:
    xfail_on_seaweedfs(request, blob_backend, "StartAfter=K skips the keys under K/")
    p = base()
    keys = [p + "a", p + "a/1", p + "a/2", p + "b"]
    await put_all(blobs, keys)
    assert keys_of(await pages_of(blobs, p, limit=1)) == keys
