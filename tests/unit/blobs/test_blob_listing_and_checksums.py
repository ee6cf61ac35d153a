"""The checks of listing arguments and checksums, and how the S3 adapter reads
the checksum an engine reports."""

from __future__ import annotations

import base64
import hashlib

import pytest

from prework.blobs._keys import validate_cursor, validate_limit, validate_prefix, validate_sha256
from prework.blobs.s3 import _sha256_hex
from prework.errors import ValidationFailed

DIGEST = hashlib.sha256(b"body").digest()
B64 = base64.b64encode(DIGEST).decode()


@pytest.mark.parametrize("prefix", ["", "org/ab", "org/", "a//b", "ünï/", "/abs", "x" * 1024])
def test_prefixes_need_not_be_keys(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["a\x00", "a\nb", "\x7f", "x" * 1025, "é" * 513, "a\ud800"])
def test_invalid_prefixes(prefix: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_prefix(prefix)
    assert err.value.code == "invalid_key"


@pytest.mark.parametrize("cursor", [None, "a", "dir/", "a//b", "${filename}", "x" * 1024])
def test_cursors_are_any_key_an_engine_may_list(cursor: str | None) -> None:
    assert validate_cursor(cursor) == cursor


@pytest.mark.parametrize("cursor", ["", "a\tb", "x" * 1025, "a\udc80"])
def test_invalid_cursors(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_cursor(cursor)
    assert err.value.code == "invalid_cursor"


def test_limits() -> None:
    assert validate_limit(1) == 1
    assert validate_limit(1000) == 1000
    for limit in [0, -5, 1001, True]:
        with pytest.raises(ValueError, match="limit"):
            validate_limit(limit)


def test_sha256_checksums_are_hex_and_come_back_lowercase() -> None:
    assert validate_sha256(None) is None
    assert validate_sha256(DIGEST.hex().upper()) == DIGEST.hex()
    for bad in ["", "0" * 63, "0" * 65, "z" * 64, B64, DIGEST.hex() + "\n"]:
        with pytest.raises(ValidationFailed) as err:
            validate_sha256(bad)
        assert err.value.code == "invalid_checksum"


def test_an_engines_full_object_sha256_is_read_as_hex() -> None:
    assert _sha256_hex(B64, None) == DIGEST.hex()
    assert _sha256_hex(B64, "FULL_OBJECT") == DIGEST.hex()


@pytest.mark.parametrize(
    ("reported", "checksum_type"),
    [
        (None, None),
        (B64, "COMPOSITE"),  # a multipart upload's checksum of part checksums
        (B64 + "-2", None),  # the same, from an engine that sends no ChecksumType
        ("not base64!", None),
        (base64.b64encode(DIGEST[:20]).decode(), None),  # a SHA-1's length
        (12, None),
    ],
)
def test_anything_else_is_no_sha256(reported: object, checksum_type: str | None) -> None:
    assert _sha256_hex(reported, checksum_type) is None
