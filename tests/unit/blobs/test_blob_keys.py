"""Key, content type and file-name checks shared by the blob backends."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from prework.blobs._keys import content_disposition, validate_content_type, validate_key
from prework.blobs.s3 import translate_error
from prework.errors import Internal, NotFound, TooLarge, Unavailable, ValidationFailed


@pytest.mark.parametrize(
    "key", ["a", "a/b/c.png", "ünï/ç.txt", "with space", "x" * 255, "a/" * 300 + "b"]
)
def test_valid_keys(key: str) -> None:
    if len(key.encode()) <= 1024:
        assert validate_key(key) == key
    else:
        with pytest.raises(ValidationFailed):
            validate_key(key)


@pytest.mark.parametrize("key", ["", "/a", "a/../b", "a\\b", "a\x00", "a\u200bb\u0085", "a//b"])
def test_invalid_keys(key: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_key(key)
    assert err.value.code == "invalid_key"


def test_lone_surrogate_is_not_a_key() -> None:
    with pytest.raises(ValidationFailed):
        validate_key("a\ud800")


@pytest.mark.parametrize(
    "content_type", ["image/png", "text/plain; charset=utf-8", "application/vnd.ms-excel"]
)
def test_valid_content_types(content_type: str) -> None:
    assert validate_content_type(content_type) == content_type


@pytest.mark.parametrize("content_type", ["", "png", "text/plain\n", "text/é", "a/" + "b" * 300])
def test_invalid_content_types(content_type: str) -> None:
    with pytest.raises(ValidationFailed):
        validate_content_type(content_type)


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("report.pdf", 'attachment; filename="report.pdf"'),
        ("a b.pdf", "attachment; filename*=UTF-8''a%20b.pdf"),
        ('say "hi".txt', "attachment; filename*=UTF-8''say%20%22hi%22.txt"),
        ("Prüfung.pdf", "attachment; filename*=UTF-8''Pr%C3%BCfung.pdf"),
    ],
)
def test_content_disposition(filename: str, header: str) -> None:
    assert content_disposition(filename) == header


@pytest.mark.parametrize("filename", ["", "a\r\nSet-Cookie: x", "x" * 256])
def test_bad_download_names(filename: str) -> None:
    with pytest.raises(ValidationFailed):
        content_disposition(filename)


def _client_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


@pytest.mark.parametrize(
    ("code", "status", "expected", "our_code"),
    [
        ("NoSuchKey", 404, NotFound, "not_found"),
        ("404", 404, NotFound, "not_found"),
        ("NoSuchBucket", 404, Unavailable, "bucket_missing"),
        ("EntityTooLarge", 400, TooLarge, "too_large"),
        ("AccessDenied", 403, Unavailable, "storage_denied"),
        ("SlowDown", 503, Unavailable, "unavailable"),
        ("InternalError", 500, Unavailable, "unavailable"),
        ("KeyTooLongError", 400, ValidationFailed, "invalid_key"),
        ("MalformedXML", 400, Internal, "internal"),
    ],
)
def test_s3_error_translation(
    code: str, status: int, expected: type[Exception], our_code: str
) -> None:
    error = translate_error(_client_error(code, status), bucket="b", key="k")
    assert isinstance(error, expected)
    assert error.code == our_code


def test_connection_error_is_unavailable() -> None:
    error = translate_error(EndpointConnectionError(endpoint_url="http://x"), bucket="b")
    assert isinstance(error, Unavailable)
    assert (
        "run `prework init`"
        in translate_error(_client_error("NoSuchBucket", 404), bucket="b").message
    )
