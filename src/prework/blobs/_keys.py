"""Checks every blob backend applies to its inputs before touching storage.

Keys follow :mod:`prework.blobs.base`: ``/``-separated, 1..1024 bytes of UTF-8,
no leading ``/``, no backslash, no control character, no ``..`` segment. For
the two backends to agree on which keys exist, empty segments (``a//b``,
``a/``), ``.`` segments and segments over 255 bytes are refused as well
(S3 engines disagree about them: SeaweedFS folds ``a//b`` into ``a/b``,
treats ``a/`` as a directory, refuses ``a/./b`` and segments longer than a
file name), and so is ``${filename}``, which S3 substitutes in POST uploads.

A listing's ``prefix`` and ``cursor`` are looser: any string of UTF-8 without
control characters, at most 1024 bytes (a prefix may be empty or end inside a
segment; a cursor may be a key another tool wrote to an S3 bucket).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import quote

from prework.errors import ValidationFailed

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_CONTENT_TYPE_LENGTH = 255
MAX_FILENAME_LENGTH = 255
MAX_EXPIRES_IN = 7 * 24 * 3600  # S3's limit for SigV4 presigned URLs
MAX_LIST_LIMIT = 1000  # S3's page size
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def _bad_key(key: str, reason: str) -> ValidationFailed:
    shown = key if len(key) <= 80 else key[:77] + "..."
    return ValidationFailed(
        f"Invalid blob key: {reason}.",
        code="invalid_key",
        details={"key": shown, "reason": reason},
    )


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid blob key; raise ValidationFailed (``invalid_key``)."""
    if not isinstance(key, str) or not key:
        raise _bad_key(str(key), "empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates
        raise _bad_key(key, "not UTF-8") from exc
    if size > MAX_KEY_BYTES:
        raise _bad_key(key, f"longer than {MAX_KEY_BYTES} bytes")
    if key.startswith("/"):
        raise _bad_key(key, "absolute")
    if "\\" in key:
        raise _bad_key(key, "backslash")
    if _has_control(key):
        raise _bad_key(key, "control character")
    if "${filename}" in key:
        raise _bad_key(key, "contains ${filename}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise _bad_key(key, "empty, '.' or '..' segment")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise _bad_key(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def _listing_text_problem(text: str) -> str | None:
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "not UTF-8"
    if size > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if _has_control(text):
        return "control character"
    return None


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a key; raise ValidationFailed (``invalid_key``)."""
    if not isinstance(prefix, str):
        raise _bad_key(str(prefix), "not a string")
    if (reason := _listing_text_problem(prefix)) is not None:
        raise _bad_key(prefix, reason)
    return prefix


def validate_cursor(cursor: str | None) -> str | None:
    """Return ``cursor`` (None or a key to list after); raise ValidationFailed
    (``invalid_cursor``)."""
    if cursor is None:
        return None
    reason = "empty" if cursor == "" else None
    if not isinstance(cursor, str):
        reason = "not a string"
    elif reason is None:
        reason = _listing_text_problem(cursor)
    if reason is not None:
        shown = str(cursor)
        raise ValidationFailed(
            f"Invalid listing cursor: {reason}.",
            code="invalid_cursor",
            details={"cursor": shown if len(shown) <= 80 else shown[:77] + "...", "reason": reason},
        )
    return cursor


def validate_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_LIST_LIMIT}, not {limit!r}")
    return limit


def validate_sha256(value: str | None) -> str | None:
    """``value`` (64 hex digits, any case) in lowercase, or None; raise
    ValidationFailed (``invalid_checksum``)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise ValidationFailed(
            "Invalid SHA-256 checksum: expected 64 hexadecimal digits.",
            code="invalid_checksum",
            details={"checksum_sha256": str(value)[:80]},
        )
    return value.lower()


def validate_content_type(content_type: str) -> str:
    """A content type that is safe to store and send back as a header."""
    if (
        not content_type
        or len(content_type) > MAX_CONTENT_TYPE_LENGTH
        or not content_type.isascii()
        or not content_type.isprintable()
        or "/" not in content_type
    ):
        raise ValidationFailed(
            "Invalid content type.",
            code="invalid_content_type",
            details={"content_type": content_type[:80]},
        )
    return content_type


def validate_expires_in(expires_in: int) -> int:
    if not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ValueError(f"expires_in must be 1..{MAX_EXPIRES_IN} seconds, not {expires_in}")
    return expires_in


def validate_size_range(min_size: int, max_size: int) -> None:
    if min_size < 0 or max_size < 1 or min_size > max_size:
        raise ValueError(f"invalid size range {min_size}..{max_size}")


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition header for ``filename`` (RFC 6266).

    Plain ASCII names go in ``filename="..."``; anything else in the RFC 5987
    ``filename*=UTF-8''...`` form (the way Starlette's FileResponse does it).
    """
    if not filename or len(filename) > MAX_FILENAME_LENGTH or _has_control(filename):
        raise ValidationFailed(
            "Invalid download file name.",
            code="invalid_filename",
            details={"filename": filename[:80]},
        )
    quoted = quote(filename, safe="")
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=UTF-8''{quoted}"


def physical_bucket(bucket_names: Mapping[str, str], bucket: str) -> str:
    """The physical name of logical ``bucket``; ValueError when unknown (a bug)."""
    try:
        return bucket_names[bucket]
    except KeyError:
        raise ValueError(f"unknown blob bucket {bucket!r}") from None
