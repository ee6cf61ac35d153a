"""Presigned uploads and downloads, followed over HTTP, on every backend.

The ``file`` backend's URLs are served by the app (ASGI client); the ``s3``
backend's by the engine. Either way a rejected request gets a 4xx and leaves
nothing stored.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from prework.blobs.base import BlobStore, PresignedUpload
from prework.errors import NotFound

MAX = 123_457  # distinctive: the tampering test finds it inside the policy


def new_key(name: str = "upload.png") -> str:
    return f"presigned/{uuid.uuid4().hex}/{name}"


async def post_form(
    http: httpx.AsyncClient,
    form: PresignedUpload,
    body: bytes,
    *,
    fields: dict[str, str] | None = None,
    part_type: str = "application/octet-stream",
) -> httpx.Response:
    return await http.post(
        form.url,
        data=fields if fields is not None else form.fields,
        files={"file": ("upload.bin", body, part_type)},
    )


async def assert_absent(blobs: BlobStore, bucket: str, key: str) -> None:
    with pytest.raises(NotFound):
        await blobs.head(bucket, key)


def flip_last(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def signature_field(fields: dict[str, str]) -> str:
    return next(name for name in fields if name.lower().endswith("signature"))


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in changes.items():
        real = next((q for q in query if q.lower() == name.lower()), name)
        query[real] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def query_value(url: str, suffix: str) -> tuple[str, str]:
    query = dict(parse_qsl(urlsplit(url).query))
    name = next(q for q in query if q.lower().endswith(suffix))
    return name, query[name]


async def wait_until(moment: datetime) -> None:
    delay = (moment - datetime.now(UTC)).total_seconds() + 0.3
    if delay > 0:
        await asyncio.sleep(delay)


# -- uploads ----------------------------------------------------------------


async def test_presigned_upload_then_download(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key("photo.png")
    body = os.urandom(50_000)
    form = await blobs.presign_upload(
        "media", key, content_type="image/png", max_size=MAX, expires_in=60
    )
    assert form.expires_at > datetime.now(UTC)

    response = await post_form(http, form, body, part_type="image/png")
    assert response.is_success, response.text

    head = await blobs.head("media", key)
    assert (head.size, head.content_type) == (len(body), "image/png")
    async with await blobs.get("media", key) as stream:
        assert await stream.read() == body

    url = await blobs.presign_download("media", key, expires_in=60)
    got = await http.get(url)
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"] == "image/png"
    assert int(got.headers["content-length"]) == len(body)


async def test_presigned_upload_of_a_5_mb_body(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key("video.mp4")
    body = os.urandom(5 * 1024 * 1024)
    form = await blobs.presign_upload(
        "media", key, content_type="video/mp4", max_size=6 * 1024 * 1024
    )
    response = await post_form(http, form, body)
    assert response.is_success, response.text
    url = await blobs.presign_download("media", key)
    assert (await http.get(url)).content == body


async def test_presigned_upload_replaces_an_object(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key("doc.pdf")
    await blobs.put("documents", key, b"old", content_type="application/pdf")
    form = await blobs.presign_upload(
        "documents", key, content_type="application/pdf", max_size=MAX
    )
    assert (await post_form(http, form, b"%PDF-new")).is_success
    async with await blobs.get("documents", key) as stream:
        assert await stream.read() == b"%PDF-new"


async def test_upload_of_exactly_max_size_is_accepted(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    form = await blobs.presign_upload("media", key, content_type="image/png", max_size=10)
    assert (await post_form(http, form, b"0123456789")).is_success
    assert (await blobs.head("media", key)).size == 10


def _tamper(case: str, form: PresignedUpload, key: str) -> tuple[dict[str, str], bytes, str]:
    """The fields, body and key stored under for an upload that breaks its policy."""
    fields = dict(form.fields)
    body = b"x" * 1000
    if case == "wrong_content_type":
        fields["Content-Type"] = "text/html"
    elif case == "too_large":
        body = b"x" * (MAX + 1)
    elif case == "too_small":
        body = b"x" * 99
    elif case == "tampered_signature":
        name = signature_field(fields)
        fields[name] = flip_last(fields[name])
    elif case == "tampered_policy":
        policy = base64.b64decode(fields["policy"]).decode()
        assert str(MAX) in policy
        fields["policy"] = base64.b64encode(
            policy.replace(str(MAX), str(MAX * 100)).encode()
        ).decode()
    elif case == "other_key":
        key = key + ".other"
        fields["key"] = key
    elif case == "no_signature":
        del fields[signature_field(fields)]
    elif case == "no_policy":
        del fields["policy"]
    else:
        raise AssertionError(case)
    return fields, body, key


UPLOAD_ATTACKS = [
    "wrong_content_type",
    "too_large",
    "too_small",
    "tampered_signature",
    "tampered_policy",
    "other_key",
    "no_signature",
    "no_policy",
]


@pytest.mark.parametrize("case", UPLOAD_ATTACKS)
async def test_upload_outside_its_policy_is_rejected(
    blobs: BlobStore, http: httpx.AsyncClient, case: str
) -> None:
    key = new_key()
    form = await blobs.presign_upload(
        "media", key, content_type="image/png", min_size=100, max_size=MAX
    )
    fields, body, stored_key = _tamper(case, form, key)

    response = await post_form(http, form, body, fields=fields, part_type="image/png")

    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    await assert_absent(blobs, "media", key)
    await assert_absent(blobs, "media", stored_key)


UPLOAD_ERRORS = {
    "wrong_content_type": (403, "policy_violation"),
    "other_key": (403, "policy_violation"),
    "tampered_signature": (403, "signature_invalid"),
    "tampered_policy": (403, "signature_invalid"),
    "no_signature": (403, "signature_invalid"),
    "no_policy": (403, "signature_invalid"),
    "too_large": (413, "too_large"),
    "too_small": (422, "too_small"),
}


@pytest.mark.backend("file")
@pytest.mark.parametrize(("case", "expected"), UPLOAD_ERRORS.items())
async def test_upload_error_codes(
    blobs: BlobStore, http: httpx.AsyncClient, case: str, expected: tuple[int, str]
) -> None:
    key = new_key()
    form = await blobs.presign_upload(
        "media", key, content_type="image/png", min_size=100, max_size=MAX
    )
    fields, body, _ = _tamper(case, form, key)
    response = await http.post(form.url, data=fields, files={"file": ("f", body, "image/png")})
    assert (response.status_code, response.json()["error"]["code"]) == expected
    assert set(response.json()["error"]) == {"code", "message", "details"}


async def test_upload_after_expiry_is_rejected_and_so_is_download(
    blobs: BlobStore, http: httpx.AsyncClient, blob_backend: str
) -> None:
    key = new_key()
    await blobs.put("media", key, b"kept", content_type="image/png")
    form = await blobs.presign_upload(
        "media", key, content_type="image/png", max_size=MAX, expires_in=1
    )
    url = await blobs.presign_download("media", key, expires_in=1)
    await wait_until(form.expires_at)

    response = await post_form(http, form, b"replacement")
    assert 400 <= response.status_code < 500, response.text
    got = await http.get(url)
    assert got.status_code == 403, got.text
    if blob_backend == "file":  # the app's own error envelope
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "expired"
        assert got.json()["error"]["code"] == "expired"

    async with await blobs.get("media", key) as stream:
        assert await stream.read() == b"kept"


# -- downloads --------------------------------------------------------------


async def test_presigned_download_sets_the_file_name(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key("report")
    await blobs.put("documents", key, b"%PDF-1.7", content_type="application/pdf")

    url = await blobs.presign_download("documents", key, filename="report.pdf")
    got = await http.get(url)
    assert got.status_code == 200
    assert got.headers["content-disposition"] == 'attachment; filename="report.pdf"'

    url = await blobs.presign_download("documents", key, filename="Prüfbericht 1.pdf")
    got = await http.get(url)
    assert got.status_code == 200
    assert "filename*=UTF-8''Pr%C3%BCfbericht%201.pdf" in got.headers["content-disposition"]


async def test_presigned_download_of_unusual_key(blobs: BlobStore, http: httpx.AsyncClient) -> None:
    key = new_key("ünï cødé?#&=%2F+.txt")
    await blobs.put("media", key, b"odd", content_type="text/plain")
    got = await http.get(await blobs.presign_download("media", key))
    assert got.status_code == 200
    assert got.content == b"odd"


async def test_tampered_download_signature_is_rejected(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    await blobs.put("media", key, b"secret", content_type="image/png")
    url = await blobs.presign_download("media", key)
    name, signature = query_value(url, "signature")

    got = await http.get(with_query(url, **{name: flip_last(signature)}))
    assert got.status_code == 403
    assert b"secret" not in got.content


async def test_download_signature_is_bound_to_the_key(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key, other = new_key("a.png"), new_key("b.png")
    await blobs.put("media", key, b"mine", content_type="image/png")
    await blobs.put("media", other, b"theirs", content_type="image/png")
    url = await blobs.presign_download("media", key)

    got = await http.get(
        url.replace(key.split("/")[1], other.split("/")[1]).replace("a.png", "b.png")
    )
    assert got.status_code == 403
    assert b"theirs" not in got.content


async def test_download_file_name_cannot_be_changed(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    key = new_key()
    await blobs.put("media", key, b"x", content_type="image/png")
    url = await blobs.presign_download("media", key, filename="a.png")
    forged = url.replace("a.png", "evil.html")
    assert forged != url
    assert (await http.get(forged)).status_code == 403


async def test_presigned_download_of_missing_object_is_404(
    blobs: BlobStore, http: httpx.AsyncClient
) -> None:
    url = await blobs.presign_download("media", new_key())
    assert (await http.get(url)).status_code == 404
