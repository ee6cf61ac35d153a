"""What only the file backend does: its files on disk and the app routes serving
its presigned URLs (error codes, streaming limits, response headers)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import time
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from prework.blobs.base import DEFAULT_BUCKET_NAMES, BlobStore, PresignedUpload
from prework.blobs.local import LocalBlobStore
from prework.errors import Unavailable
from prework.http.multipart import MultipartForm

pytestmark = pytest.mark.backend("file")

MiB = 1024 * 1024
PUBLIC_URL = "http://testserver"  # the ``http`` fixture's base URL
BOUNDARY = "prework-test-boundary-7d3f"


def new_key(name: str = "f.png") -> str:
    return f"file/{uuid.uuid4().hex}/{name}"


def local(blobs: BlobStore) -> LocalBlobStore:
    assert isinstance(blobs, LocalBlobStore)
    return blobs


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def form_body(
    fields: dict[str, str],
    file_chunks: AsyncIterator[bytes],
    *,
    closed: bool = True,
    after: dict[str, str] | None = None,
) -> AsyncIterator[bytes]:
    """A multipart/form-data body, streamed: fields, the ``file`` part, ``after``."""
    for name, value in fields.items():
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    yield (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
        f'name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    async for chunk in file_chunks:
        yield chunk
    if not closed:
        return
    for name, value in (after or {}).items():
        yield (
            f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}'
        ).encode()
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


class Counter:
    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            piece = b"z" * min(self.chunk, self.total - self.sent)
            self.sent += len(piece)
            yield piece


async def post_stream(
    http: httpx.AsyncClient, form: PresignedUpload, body: AsyncIterator[bytes]
) -> httpx.Response:
    return await http.post(
        form.url,
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def error_code(response: httpx.Response) -> Any:
    return response.json()["error"]["code"]


# -- the upload route -----------------------------------------------------


async def test_form_fields_match_the_s3_shape(blobs: BlobStore) -> None:
    form = await blobs.presign_upload("media", "a/b.png", content_type="image/png", max_size=9)
    assert form.url == f"{PUBLIC_URL}/api/blobs/upload"
    assert set(form.fields) == {"key", "bucket", "Content-Type", "policy", "signature"}
    assert form.fields["key"] == "a/b.png"
    assert form.fields["bucket"] == "media"


async def test_oversized_upload_is_cut_off_while_streaming(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=MiB)
    source = Counter(64 * MiB)
    response = await post_stream(http, form, form_body(form.fields, source.chunks()))
    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert source.sent < 2 * MiB, "the app must stop reading once the body is too large"
    assert files_under(local(blobs).root) == []


@pytest.mark.parametrize("tamper", ["key", "signature"])
async def test_rejected_policy_reads_no_body(
    blobs: BlobStore, http: httpx.AsyncClient, tamper: str
) -> None:
    form = await blobs.presign_upload("media", new_key(), content_type="image/png", max_size=MiB)
    fields = dict(form.fields)
    fields[tamper] = "file/someone-else.png" if tamper == "key" else "0" * 64
    source = Counter(64 * MiB)
    response = await post_stream(http, form, form_body(fields, source.chunks()))
    assert response.status_code == 403
    assert error_code(response) == ("policy_violation" if tamper == "key" else "signature_invalid")
    # the file part's headers come in a chunk of their own: none of its body was asked for
    assert source.sent == 0
    assert files_under(local(blobs).root) == []


async def test_truncated_upload_stores_nothing(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=MiB)
    body = form_body(form.fields, Counter(300_000).chunks(), closed=False)
    response = await post_stream(http, form, body)
    assert response.status_code == 400
    assert error_code(response) == "upload_incomplete"
    assert files_under(local(blobs).root) == []


async def test_interrupted_upload_stores_nothing(
    blobs: BlobStore, make_blob_app: Callable[[BlobStore], FastAPI]
) -> None:
    """The client goes away mid-body: 400 ``upload_incomplete``, nothing stored."""
    form = await blobs.presign_upload("media", new_key(), content_type="image/png", max_size=MiB)
    chunks = [chunk async for chunk in form_body(form.fields, Counter(1000).chunks(), closed=False)]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks
    ]
    messages.append({"type": "http.disconnect"})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/blobs/upload",
        "raw_path": b"/api/blobs/upload",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    await make_blob_app(blobs)(scope, receive, send)
    assert messages == [], "the whole body up to the disconnect was read"
    assert sent[0]["status"] == 400
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert json.loads(body)["error"]["code"] == "upload_incomplete"
    assert files_under(local(blobs).root) == []


async def test_upload_split_into_tiny_chunks(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    """Headers, fields and body cut at every byte; a body with near-delimiters in it."""
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=MiB)
    content = f"x\r\n--{BOUNDARY[:-1]}\r\n-\r\n-".encode() * 4  # delimiters, nearly

    async def one_byte_at_a_time() -> AsyncIterator[bytes]:
        async for chunk in form_body(form.fields, _once(content)):
            for i in range(len(chunk)):
                yield chunk[i : i + 1]

    response = await post_stream(http, form, one_byte_at_a_time())
    assert response.status_code == 204, response.text
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == content


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_reader_skips_the_unread_rest_of_a_part() -> None:
    """The upload route reads every part it is given; the reader (http.multipart)
    also lets a caller pass a part by, reading and dropping its body."""
    skipped = Counter(300_000)
    body = form_body({"a": "1"}, skipped.chunks(), after={"b": "2"})
    form = MultipartForm(body, f"multipart/form-data; boundary={BOUNDARY}")
    parts = []
    while (part := await form.next_part()) is not None:
        parts.append(part)
        if part.name != "file":
            assert await part.text(10) == {"a": "1", "b": "2"}[part.name]
    assert [part.name for part in parts] == ["a", "file", "b"]
    assert skipped.sent == 300_000
    assert [chunk async for chunk in parts[1]] == [], "the skipped body was dropped, not kept"


async def test_fields_after_the_file_are_ignored(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=MiB)
    body = form_body(form.fields, Counter(1000).chunks(), after={"key": "file/other.png"})
    response = await post_stream(http, form, body)
    assert response.status_code == 204
    assert response.headers["etag"]
    assert (await blobs.head("media", key)).size == 1000


async def test_fields_must_come_before_the_file(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=MiB)
    body = form_body({}, Counter(10).chunks(), after=form.fields)
    response = await post_stream(http, form, body)
    assert response.status_code == 403
    assert files_under(local(blobs).root) == []


@pytest.mark.parametrize(
    ("headers", "content", "code"),
    [
        ({"Content-Type": "application/json"}, b"{}", "invalid_multipart"),
        ({"Content-Type": "multipart/form-data"}, b"", "invalid_multipart"),
        (
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n'
            f"--{BOUNDARY}--\r\n".encode(),
            "missing_file",
        ),
        (
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            b"this is not multipart at all",
            "invalid_multipart",
        ),
        (
            {"Content-Type": f"multipart/form-data; boundary={'b' * 257}"},
            f"--{'b' * 257}\r\n".encode(),
            "invalid_multipart",
        ),
        (
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nk\r\n"
            f"--{BOUNDARY}--\r\n".encode(),
            "invalid_multipart",  # a part without a name
        ),
        (
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\nk'.encode(),
            "upload_incomplete",
        ),
        (
            {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="key"\r\n\r\n'.encode()
            + b"\xff\r\n"
            + f"--{BOUNDARY}--\r\n".encode(),
            "invalid_multipart",  # a field that is not UTF-8
        ),
    ],
)
async def test_malformed_upload_requests(
    http: httpx.AsyncClient, headers: dict[str, str], content: bytes, code: str
) -> None:
    response = await http.post("/api/blobs/upload", headers=headers, content=content)
    assert response.status_code == 400, response.text
    assert error_code(response) == code


@pytest.mark.parametrize(
    "fields",
    [
        {"key": "k" * (16 * 1024 + 1)},
        {f"f{i}": "v" for i in range(33)},
    ],
    ids=["field_too_long", "too_many_fields"],
)
async def test_unacceptable_form_fields(http: httpx.AsyncClient, fields: dict[str, str]) -> None:
    response = await http.post(
        "/api/blobs/upload",
        content=form_body(fields, Counter(10).chunks()),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 400, response.text
    assert error_code(response) == "invalid_multipart"


async def test_repeated_field_is_rejected(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    form = await blobs.presign_upload("media", new_key(), content_type="image/png", max_size=9)
    fields = {**form.fields, "KEY": form.fields["key"]}
    response = await http.post(form.url, data=fields, files={"file": ("f", b"1", "image/png")})
    assert response.status_code == 400


# -- the download route -----------------------------------------------------


async def test_download_headers(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key("page.html")
    info = await blobs.put("media", key, b"<script>alert(1)</script>", content_type="text/html")
    got = await http.get(await blobs.presign_download("media", key))
    assert got.status_code == 200
    assert got.headers["content-type"] == "text/html"
    assert got.headers["etag"] == f'"{info.etag}"'
    assert got.headers["last-modified"].endswith("GMT")
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in got.headers["content-security-policy"]
    assert "content-disposition" not in got.headers


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?expires=99999999999",
        "?signature=abc",
        "?expires=soon&signature=abc",
        "?expires=-1&signature=a",
        "?expires=%C2%B2&signature=a",  # "²" is a digit to str.isdigit(), not to int()
        "?expires=%D9%A3&signature=a",  # an Arabic-Indic three
    ],
)
async def test_unsigned_download_is_rejected(
    blobs: BlobStore, http: httpx.AsyncClient, query: str
) -> None:
    key = new_key()
    await blobs.put("media", key, b"x", content_type="image/png")
    got = await http.get(f"/api/blobs/media/{key}{query}")
    assert got.status_code == 403
    assert error_code(got) == "signature_invalid"


async def test_download_with_invalid_signature_code(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    await blobs.put("media", key, b"x", content_type="image/png")
    url = await blobs.presign_download("media", key)
    got = await http.get(url.replace("media", "documents", 1))
    assert (got.status_code, error_code(got)) == (403, "signature_invalid")


async def test_routes_are_404_without_a_file_store(
    blobs: BlobStore, make_blob_app: Callable[[BlobStore], FastAPI]
) -> None:
    app = make_blob_app(blobs)
    app.state.blobs = None
    url = await blobs.presign_download("media", new_key())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL
    ) as client:
        got = await client.get(url)
        assert (got.status_code, error_code(got)) == (404, "not_found")
        posted = await client.post("/api/blobs/upload", files={"file": ("f", b"1")})
        assert (posted.status_code, error_code(posted)) == (404, "not_found")


async def test_rotated_secret_still_verifies(
    blobs: BlobStore, make_blob_app: Callable[[BlobStore], FastAPI], blob_secret: bytes
) -> None:
    key = new_key()
    await blobs.put("media", key, b"x", content_type="image/png")
    url = await blobs.presign_download("media", key)
    root = local(blobs).root
    rotated = LocalBlobStore(
        root,
        bucket_names=DEFAULT_BUCKET_NAMES,
        public_url=PUBLIC_URL,
        secret=b"new-secret",
        previous_secrets=[blob_secret],
    )
    stranger = LocalBlobStore(
        root, bucket_names=DEFAULT_BUCKET_NAMES, public_url=PUBLIC_URL, secret=b"new-secret"
    )
    for store, status in ((rotated, 200), (stranger, 403)):
        transport = httpx.ASGITransport(app=make_blob_app(store))
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            assert (await client.get(url)).status_code == status


# -- files on disk ----------------------------------------------------------


async def test_objects_stay_inside_their_bucket_directory(blobs: BlobStore) -> None:
    root = local(blobs).root
    for key in ["..%2F..%2Fx", "a/..b/c..", "...", "~/x", "C:/windows"]:
        await blobs.put("documents", key, b"x", content_type="text/plain")
    bucket_dir = root / DEFAULT_BUCKET_NAMES["documents"]
    found = files_under(root)
    assert len(found) == 5
    assert all(bucket_dir in p.parents for p in found)


async def test_reader_keeps_the_version_it_opened(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"a" * (2 * MiB), content_type="text/plain")
    stream = await blobs.get("media", key)
    chunks = stream.__aiter__()
    first = await anext(chunks)
    await blobs.put("media", key, b"b" * MiB, content_type="text/csv")
    rest = b"".join([chunk async for chunk in chunks])
    assert first + rest == b"a" * (2 * MiB)
    assert stream.info.content_type == "text/plain"
    async with await blobs.get("media", key) as fresh:
        assert await fresh.read() == b"b" * MiB


async def test_store_without_init_is_unavailable(tmp_path: Path) -> None:
    store = LocalBlobStore(
        tmp_path / "missing", bucket_names=DEFAULT_BUCKET_NAMES, public_url=PUBLIC_URL, secret=b"s"
    )
    with pytest.raises(Unavailable):
        await store.ping()
    with pytest.raises(Unavailable) as err:
        await store.put("media", "k", b"x", content_type="text/plain")
    assert err.value.code == "bucket_missing"
    with pytest.raises(Unavailable) as err:
        await store.list("media")
    assert err.value.code == "bucket_missing"
    await store.init()
    await store.ping()
    await store.put("media", "k", os.urandom(10), content_type="text/plain")


# -- HEAD and byte ranges ------------------------------------------------------

RANGE_BODY = bytes(range(256)) * 800  # 204_800 bytes: several read chunks
RANGE_SIZE = len(RANGE_BODY)


@pytest.fixture
async def range_url(blobs: BlobStore) -> str:
    key = new_key("clip.mp4")
    await blobs.put("media", key, RANGE_BODY, content_type="video/mp4")
    return await blobs.presign_download("media", key)


async def test_head_answers_like_get_without_a_body(
    blobs: BlobStore, http: httpx.AsyncClient, range_url: str
) -> None:
    got = await http.get(range_url)
    head = await http.head(range_url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(RANGE_SIZE)
    assert head.headers["accept-ranges"] == "bytes"
    for name in ("content-type", "etag", "last-modified", "x-content-type-options"):
        assert head.headers[name] == got.headers[name]
    assert got.headers["accept-ranges"] == "bytes"


async def test_head_checks_the_signature(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key()
    await blobs.put("media", key, b"x", content_type="image/png")
    head = await http.head(f"/api/blobs/media/{key}?expires=99999999999&signature=abc")
    assert head.status_code == 403


@pytest.mark.parametrize(
    ("spec", "start", "stop"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=10-", 10, RANGE_SIZE),
        ("bytes=-5", RANGE_SIZE - 5, RANGE_SIZE),
        ("bytes=-999999", 0, RANGE_SIZE),
        ("bytes=65530-131080", 65530, 131081),  # across read chunks
        (f"bytes={RANGE_SIZE - 1}-{RANGE_SIZE * 3}", RANGE_SIZE - 1, RANGE_SIZE),
        ("BYTES= 3-4 ", 3, 5),
        ("bytes=0-" + "9" * 5000, 0, RANGE_SIZE),  # no int() overflow
    ],
)
async def test_single_byte_range(
    http: httpx.AsyncClient, range_url: str, spec: str, start: int, stop: int
) -> None:
    got = await http.get(range_url, headers={"Range": spec})
    assert got.status_code == 206, got.text
    assert got.content == RANGE_BODY[start:stop]
    assert got.headers["content-range"] == f"bytes {start}-{stop - 1}/{RANGE_SIZE}"
    assert got.headers["content-length"] == str(stop - start)
    assert got.headers["content-type"] == "video/mp4"
    assert got.headers["accept-ranges"] == "bytes"

    head = await http.head(range_url, headers={"Range": spec})
    assert head.status_code == 206
    assert head.content == b""
    assert head.headers["content-range"] == got.headers["content-range"]


@pytest.mark.parametrize(
    "spec",
    [
        f"bytes={RANGE_SIZE}-",
        f"bytes={RANGE_SIZE + 5}-{RANGE_SIZE + 9}",
        "bytes=-0",
        "bytes=" + "9" * 5000 + "-",
    ],
)
async def test_unsatisfiable_range_is_416(
    http: httpx.AsyncClient, range_url: str, spec: str
) -> None:
    got = await http.get(range_url, headers={"Range": spec})
    assert got.status_code == 416
    assert got.headers["content-range"] == f"bytes */{RANGE_SIZE}"
    assert got.headers["content-type"] == "application/json"
    assert got.json() == {
        "error": {
            "code": "range_not_satisfiable",
            "message": "The requested range is outside the object.",
            "details": {},
        }
    }

    head = await http.head(range_url, headers={"Range": spec})
    assert head.status_code == 416
    assert head.headers["content-range"] == f"bytes */{RANGE_SIZE}"
    assert head.content == b""


async def test_any_range_of_an_empty_object_is_416(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key("empty.txt")
    await blobs.put("media", key, b"", content_type="text/plain")
    url = await blobs.presign_download("media", key)
    got = await http.get(url, headers={"Range": "bytes=0-"})
    assert got.status_code == 416
    assert got.headers["content-range"] == "bytes */0"
    assert (await http.get(url)).status_code == 200


@pytest.mark.parametrize(
    "spec",
    ["bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes=a-b", "bytes=", "bytes=-", "bytes=1 - 2"],
)
async def test_ranges_we_do_not_serve_get_the_whole_object(
    http: httpx.AsyncClient, range_url: str, spec: str
) -> None:
    got = await http.get(range_url, headers={"Range": spec})
    assert got.status_code == 200
    assert got.content == RANGE_BODY
    assert "content-range" not in got.headers


async def test_if_range_serves_the_range_only_for_the_same_version(
    http: httpx.AsyncClient, range_url: str
) -> None:
    full = await http.get(range_url)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    for validator, status in ((etag, 206), (modified, 206), ('"other"', 200), ("W/" + etag, 200)):
        got = await http.get(range_url, headers={"Range": "bytes=0-3", "If-Range": validator})
        assert got.status_code == status, validator
        assert got.content == (RANGE_BODY[:4] if status == 206 else RANGE_BODY)


async def test_range_reads_do_not_leave_files_open(
    blobs: BlobStore, http: httpx.AsyncClient, range_url: str
) -> None:
    root = str(local(blobs).root)

    def open_blob_files() -> list[str]:
        found = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}").startswith(root):
                    found.append(fd)
        return found

    for _ in range(5):
        assert (await http.get(range_url, headers={"Range": "bytes=1-2"})).status_code == 206
        assert (await http.head(range_url, headers={"Range": "bytes=1-2"})).status_code == 206
        assert (await http.get(range_url, headers={"Range": "bytes=-0"})).status_code == 416
    assert open_blob_files() == []


# -- crash leftovers and durability ----------------------------------------


async def test_init_removes_stale_temp_files_only(tmp_path: Path) -> None:
    store = LocalBlobStore(
        tmp_path / "b", bucket_names=DEFAULT_BUCKET_NAMES, public_url=PUBLIC_URL, secret=b"s"
    )
    await store.init()
    await store.put("media", "kept", b"data", content_type="text/plain")
    [object_file] = files_under(store.root)
    stale = object_file.parent / ".tmp-crashed"
    fresh = object_file.parent / ".tmp-in-flight"
    elsewhere = store.root / DEFAULT_BUCKET_NAMES["documents"] / "ab" / ".tmp-old"
    elsewhere.parent.mkdir()
    for path in (stale, fresh, elsewhere):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 2 * 3600
    for path in (stale, elsewhere):
        os.utime(path, (two_hours_ago, two_hours_ago))

    await store.init()

    assert not stale.exists()
    assert not elsewhere.exists()
    assert fresh.exists()  # another process may still be writing it
    async with await store.get("media", "kept") as stream:
        assert await stream.read() == b"data"


async def test_put_syncs_the_file_before_the_rename_and_the_directory_after(
    blobs: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        events.append(("fsync-dir" if os.path.isdir(path) else "fsync-file", path))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"dur"
        yield b"able"

    key = new_key()
    per_put: list[list[tuple[str, str]]] = []
    for body in (b"durable", chunks(), b"again"):  # new directory, stream, existing directory
        events.clear()
        await blobs.put("media", key, body, content_type="text/plain")
        per_put.append(list(events))
    monkeypatch.undo()

    [object_file] = files_under(local(blobs).root)
    for events_of_put in per_put:
        kinds = [kind for kind, _ in events_of_put]
        assert kinds[:2] == ["fsync-file", "replace"], events_of_put
        assert events_of_put[1][1] == str(object_file)
        assert ("fsync-dir", str(object_file.parent)) in events_of_put[2:]
    # the object's directory was new on the first put: its parent is synced too
    assert ("fsync-dir", str(object_file.parent.parent)) in per_put[0]


# -- listing and checksums on disk ---------------------------------------------


def object_file(blobs: BlobStore, bucket: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return local(blobs).root / DEFAULT_BUCKET_NAMES[bucket] / digest[:2] / digest


async def test_sha256_is_kept_in_the_object_header(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"body", content_type="text/plain")
    raw = object_file(blobs, "media", key).read_bytes()
    magic, length = struct.unpack_from(">4sI", raw)
    meta = json.loads(raw[8 : 8 + length])
    assert magic == b"PWB1"
    assert meta["sha256"] == hashlib.sha256(b"body").hexdigest()


async def test_objects_written_without_a_sha256_read_as_none(blobs: BlobStore) -> None:
    # the header as the store wrote it before it recorded SHA-256
    key = new_key()
    await blobs.put("media", key, b"old body", content_type="text/plain")
    path = object_file(blobs, "media", key)
    raw = path.read_bytes()
    _, length = struct.unpack_from(">4sI", raw)
    meta = json.loads(raw[8 : 8 + length])
    del meta["sha256"]
    header = json.dumps(meta, separators=(",", ":")).encode()
    path.write_bytes(
        struct.pack(">4sI", b"PWB1", len(header)) + header.ljust(4096 - 8, b"\0") + b"old body"
    )

    assert (await blobs.head("media", key)).sha256 is None
    async with await blobs.get("media", key) as stream:
        assert stream.info.sha256 is None
        assert await stream.read() == b"old body"
    page = await blobs.list("media", key)
    assert [(i.key, i.size, i.sha256) for i in page.items] == [(key, 8, None)]


async def test_a_listing_passes_over_temp_files_and_strangers(blobs: BlobStore) -> None:
    keys = sorted([new_key("a"), new_key("b")])
    for key in keys:
        await blobs.put("media", key, b"x", content_type="text/plain")
    path = object_file(blobs, "media", keys[0])
    bucket_dir = path.parent.parent
    (path.parent / ".tmp-abc123").write_bytes(b"half a write")
    (bucket_dir / "notes.txt").write_text("left by someone")
    (bucket_dir / "zz").mkdir()
    (bucket_dir / "zz" / ("0" * 64)).write_bytes(b"not in its directory")
    (path.parent / ("f" * 64)).write_bytes(b"not in its directory either")

    page = await blobs.list("media")
    assert [i.key for i in page.items] == keys
    assert page.cursor is None


async def test_a_listing_sees_objects_replaced_since_the_last(blobs: BlobStore) -> None:
    key = new_key()
    await blobs.put("media", key, b"one", content_type="text/plain")
    assert [i.size for i in (await blobs.list("media", key)).items] == [3]
    await blobs.put("media", key, b"three", content_type="text/html")
    [item] = (await blobs.list("media", key)).items
    assert (item.size, item.content_type, item.sha256) == (
        5,
        "text/html",
        hashlib.sha256(b"three").hexdigest(),
    )
    await blobs.delete("media", key)
    assert (await blobs.list("media", key)).items == []


async def test_a_file_that_vanishes_between_walk_and_read_is_left_out(
    blobs: BlobStore,
) -> None:
    # a dangling symlink under an object's name: the walk sees the name, the
    # read finds no file, as when a delete lands between the two
    prefix = new_key("")
    known, kept, unknown = prefix + "a-known", prefix + "b-kept", prefix + "c-unknown"
    for key in (known, kept):
        await blobs.put("media", key, b"x", content_type="text/plain")
    assert len((await blobs.list("media", prefix)).items) == 2  # the store now knows both names
    for key in (known, unknown):
        path = object_file(blobs, "media", key)
        path.unlink(missing_ok=True)
        path.parent.mkdir(exist_ok=True)
        path.symlink_to(path.with_name("gone"))

    page = await blobs.list("media", prefix)
    assert [i.key for i in page.items] == [kept]
    assert page.cursor is None
    # a page whose only key vanished: empty, but not the end
    first = await blobs.list("media", prefix, limit=1)
    assert (first.items, first.cursor) == ([], known)
    second = await blobs.list("media", prefix, cursor=first.cursor, limit=1)
    assert ([i.key for i in second.items], second.cursor) == ([kept], None)


async def test_listing_while_objects_are_deleted(blobs: BlobStore) -> None:
    prefix = new_key("")
    keys = {f"{prefix}{i:03d}" for i in range(300)}
    for key in keys:
        await blobs.put("media", key, b"x", content_type="text/plain")
    seen: list[str] = []

    async def delete_all() -> None:
        for key in sorted(keys, reverse=True):
            await blobs.delete("media", key)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(delete_all)
        cursor: str | None = None
        while True:
            page = await blobs.list("media", prefix, cursor=cursor, limit=7)
            seen += [item.key for item in page.items]
            if page.cursor is None:
                break
            cursor = page.cursor

    assert set(seen) <= keys
    assert seen == sorted(set(seen))
    assert (await blobs.list("media", prefix)).items == []


async def test_the_upload_form_carries_the_checksum_like_s3s(blobs: BlobStore) -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    form = await blobs.presign_upload(
        "media", "a/b.png", content_type="image/png", max_size=9, checksum_sha256=digest
    )
    assert set(form.fields) == {
        "key",
        "bucket",
        "Content-Type",
        "policy",
        "signature",
        "x-amz-checksum-algorithm",
        "x-amz-checksum-sha256",
    }
    assert form.fields["x-amz-checksum-sha256"] == "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE="
