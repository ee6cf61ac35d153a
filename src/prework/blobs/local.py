"""The embedded blob backend: objects as files under a root directory.

Layout: one directory per physical bucket under ``root``; an object lives at
``<bucket>/<h[:2]>/<h>`` where ``h`` is the SHA-256 of its key. Hashing the
key means no key can name a path outside its bucket, keys ``a`` and ``a/b``
can both exist, and long keys never hit a file-name limit. Each object file
starts with a fixed-size header (magic, JSON metadata: key, size, content
type, ETag, modification time, SHA-256) followed by the body, so the metadata and the
body are replaced together by one ``os.replace``: readers see the old object
or the new one, never a mix, and an open reader keeps reading the version it
opened.

A write streams into a ``.tmp-*`` file in the object's directory and is
renamed into place only when the body is complete and within its size limits;
on any failure the temp file is deleted. The file is fsynced before the
rename and its directory after, so a completed ``put`` survives a power cut.
Temp files a crashed process left behind are removed by :meth:`init` once
they are older than :data:`STALE_TEMP_SECONDS` (younger ones may belong to a
live writer in another process). All file I/O runs in worker threads.

Reads can be limited to a byte range (:meth:`LocalBlobStream.restrict`), which
the download route uses for HTTP ``Range`` requests.

:meth:`LocalBlobStore.copy` streams the body of the source file it opened
(the one whose header it checked ``if_match`` against) into a new object file
at the destination, through the same temp file, fsync and ``os.replace`` as
``put``; its ETag and SHA-256 are computed afresh (they equal the source's).

Every write (``put``, ``copy`` and presigned uploads) computes the body's SHA-256 as it
streams and keeps it in the header; ``head``, ``get`` and ``list`` return it.

Listing cannot use the file names (they are hashes), so :meth:`LocalBlobStore.list`
walks the bucket directory once per page (``os.scandir`` of its 256
subdirectories, in a worker thread), filters and orders the keys, then reads
the headers of the page's objects (never a body). The key of each file is read
from its header the first time the store meets it and then kept in memory,
per bucket, as long as the file exists (a file's name is the hash of its key,
so that never goes stale). Cost, measured on 100,000 objects (2 shared cores,
files in the OS cache): the first page of a bucket reads every header, about
2 s; every later page is one walk of the names plus ``limit`` header reads,
about 0.2 s, so listing all 100,000 in pages of 1000 takes about 25 s
(without the kept keys every page would cost the 2 s). A full listing visits
O(n²/limit) names. The kept keys take about 270 bytes per object of a listed
bucket (27 MB per 100,000).

Presigned URLs are HMAC-SHA256-signed URLs of this app, served by
:mod:`prework.http.blobs`: uploads mirror S3's browser POST form
(``key``, ``bucket``, ``Content-Type``, ``policy``, ``signature``; a form
pinned to a SHA-256 also ``x-amz-checksum-algorithm`` and
``x-amz-checksum-sha256``, base64, as S3's, and a body hashing otherwise is
refused with 422 ``checksum_mismatch``), downloads
are ``/api/blobs/<bucket>/<key>?expires=..&signature=..[&filename=..]``.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import functools
import hashlib
import heapq
import hmac
import json
import math
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, TypeVarTuple
from urllib.parse import quote, urlencode

import anyio
import anyio.to_thread

from prework.blobs._files import (
    CHUNK_SIZE,
    HEADER_SIZE,
    STALE_TEMP_SECONDS,
    LocalBlobStream,
    PendingFile,
    now,
    open_object,
    read_info,
    remove_stale_temp_files,
    scan_keys,
)
from prework.blobs._keys import (
    content_disposition,
    physical_bucket,
    validate_content_type,
    validate_cursor,
    validate_expires_in,
    validate_key,
    validate_limit,
    validate_prefix,
    validate_sha256,
    validate_size_range,
)
from prework.blobs.base import BlobInfo, BlobPage, BlobStore, PresignedUpload
from prework.errors import (
    ConditionFailed,
    Forbidden,
    Internal,
    NotFound,
    TooLarge,
    Unavailable,
    ValidationFailed,
)

__all__ = ["LocalBlobStore", "UploadPolicy"]

_KEY_CONTEXT = b"prework.blobs.v1"
CHECKSUM_ALGORITHM_FIELD = "x-amz-checksum-algorithm"
CHECKSUM_SHA256_FIELD = "x-amz-checksum-sha256"
_EXPIRES_RE = re.compile(r"[0-9]{1,12}")
COPY_CHUNK_SIZE = 16 * CHUNK_SIZE  # bytes a copy moves per worker-thread call (1 MiB)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """What a presigned upload form allows (decoded from its ``policy`` field)."""

    bucket: str
    key: str
    content_type: str
    min_size: int
    max_size: int
    expires: int
    sha256: str | None = None


def _sha256_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


class LocalBlobStore(BlobStore):
    """Blobs in files under ``root``; presigned URLs point at this app."""

    serves_through_app = True

    def __init__(
        self,
        root: Path,
        *,
        bucket_names: Mapping[str, str],
        public_url: str,
        secret: bytes,
        previous_secrets: Sequence[bytes] = (),
    ) -> None:
        if not secret:
            raise ValueError("LocalBlobStore needs a non-empty secret")
        self.root = Path(root)
        self._bucket_names = dict(bucket_names)
        self._public_url = public_url.rstrip("/")
        # a key of our own, so these signatures never verify anywhere else
        self._signing_keys = [
            hmac.new(s, _KEY_CONTEXT, hashlib.sha256).digest() for s in (secret, *previous_secrets)
        ]
        # per physical bucket: object file name -> key (see the module docstring)
        self._keys: dict[str, dict[str, str]] = {}

    # -- paths -------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        return self.root / physical_bucket(self._bucket_names, bucket)

    def _object_path(self, bucket: str, key: str) -> Path:
        directory = self._bucket_dir(bucket)
        validate_key(key)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return directory / digest[:2] / digest

    # -- lifecycle ---------------------------------------------------------

    async def init(self) -> None:
        """Create the bucket directories; remove temp files older than
        :data:`STALE_TEMP_SECONDS` (left by a crashed writer)."""
        bucket_dirs = [self.root / name for name in self._bucket_names.values()]

        def make() -> None:
            for directory in bucket_dirs:
                directory.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(bucket_dirs, now() - STALE_TEMP_SECONDS)

        try:
            await anyio.to_thread.run_sync(make)
        except OSError as exc:
            raise Unavailable(f"Cannot create blob directories under {self.root}.") from exc

    async def ping(self) -> None:
        def check() -> list[str]:
            return [
                name
                for name in self._bucket_names.values()
                if not os.access(self.root / name, os.R_OK | os.W_OK | os.X_OK)
            ]

        missing = await anyio.to_thread.run_sync(check)
        if missing:
            raise Unavailable(
                f"Blob directories missing or not writable under {self.root}: "
                f"{', '.join(missing)}; run `prework init`.",
                code="bucket_missing",
            )

    async def close(self) -> None:
        return None

    # -- objects -----------------------------------------------------------

    async def put(
        self,
        bucket: str,
        key: str,
        body: bytes | AsyncIterator[bytes],
        *,
        content_type: str,
        max_size: int | None = None,
    ) -> BlobInfo:
        return await self._put(bucket, key, body, content_type=content_type, max_size=max_size)

    async def _put(
        self,
        bucket: str,
        key: str,
        body: bytes | AsyncIterator[bytes],
        *,
        content_type: str,
        max_size: int | None,
        min_size: int = 0,
        expected_sha256: str | None = None,
    ) -> BlobInfo:
        path = self._object_path(bucket, key)
        validate_content_type(content_type)
        pending = PendingFile(path)

        def too_large() -> TooLarge:
            return TooLarge(
                f"The blob is larger than {max_size} bytes.", details={"max_size": max_size}
            )

        def check_min() -> None:
            if pending.size < min_size:
                raise ValidationFailed(
                    f"The blob is smaller than {min_size} bytes.",
                    code="too_small",
                    details={"min_size": min_size},
                )

        if isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body)
            if max_size is not None and len(data) > max_size:
                raise too_large()

            def write_all() -> BlobInfo:
                try:
                    pending.open()
                    pending.write(data)
                    check_min()
                    return pending.commit(key, content_type, expected_sha256)
                except BaseException:
                    pending.discard()
                    raise

            return await self._io(write_all)

        try:
            await self._io(pending.open)
            buffer = bytearray()
            received = 0
            async for chunk in body:
                received += len(chunk)
                if max_size is not None and received > max_size:
                    raise too_large()
                buffer += chunk
                if len(buffer) >= CHUNK_SIZE:
                    data = bytes(buffer)
                    buffer.clear()
                    await self._io(pending.write, data)
            if buffer:
                await self._io(pending.write, bytes(buffer))
            check_min()
            return await self._io(pending.commit, key, content_type, expected_sha256)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(pending.discard)
            raise

    @staticmethod
    async def _io(func: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run blocking file work in a thread, mapping OS errors to Unavailable."""
        try:
            return await anyio.to_thread.run_sync(func, *args)
        except OSError as exc:
            raise Unavailable(f"Blob storage I/O failed: {exc.strerror or exc}.") from exc

    async def get(self, bucket: str, key: str) -> LocalBlobStream:
        path = self._object_path(bucket, key)
        fh, info = await self._io(open_object, path, key)
        return LocalBlobStream(fh, info)

    async def head(self, bucket: str, key: str) -> BlobInfo:
        path = self._object_path(bucket, key)
        fh, info = await self._io(open_object, path, key)
        fh.close()
        return info

    async def copy(
        self,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        *,
        if_match: str | None = None,
    ) -> BlobInfo:
        source = self._object_path(bucket, key)
        dest = self._object_path(dest_bucket, dest_key)
        # the header checked and the body streamed come from this one open file:
        # a source replaced meanwhile is another file, never read here
        fh, info = await self._io(open_object, source, key)
        try:
            if if_match is not None and info.etag != if_match:
                raise ConditionFailed(
                    "The blob is no longer the version the copy was asked for.",
                    code="changed",
                    details={"key": key, "if_match": if_match, "etag": info.etag},
                )
            if source == dest:
                return info  # an object is its own copy; rewriting it could undo a newer put
            pending = PendingFile(dest)

            def copy_chunk() -> int:
                data = fh.read(min(COPY_CHUNK_SIZE, info.size - pending.size))
                pending.write(data)
                return len(data)

            try:
                await self._io(pending.open)
                await self._io(fh.seek, HEADER_SIZE)
                while pending.size < info.size:
                    if not await self._io(copy_chunk):
                        raise Internal(f"The blob file of {key!r} is shorter than its header says.")
                return await self._io(pending.commit, dest_key, info.content_type)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(pending.discard)
                raise
        finally:
            fh.close()

    async def delete(self, bucket: str, key: str) -> None:
        path = self._object_path(bucket, key)

        await self._io(functools.partial(path.unlink, missing_ok=True))

    async def list(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cursor: str | None = None,
        limit: int = 1000,
        metadata: bool = True,
    ) -> BlobPage:
        del metadata  # the headers the walk reads hold it all
        directory = self._bucket_dir(bucket)
        validate_prefix(prefix)
        validate_cursor(cursor)
        validate_limit(limit)
        known = self._keys.get(directory.name, {})

        def page() -> tuple[dict[str, str], BlobPage]:
            try:
                keys = scan_keys(directory, known)
            except FileNotFoundError as exc:
                raise Unavailable(
                    f"Blob directory {directory} is missing; run `prework init`.",
                    code="bucket_missing",
                ) from exc
            wanted = (
                (key, name)
                for name, key in keys.items()
                if key.startswith(prefix) and (cursor is None or key > cursor)
            )
            # str order is code point order, which is UTF-8 byte order
            chosen = heapq.nsmallest(limit + 1, wanted)
            items: builtins.list[BlobInfo] = []
            for _key, name in chosen[:limit]:
                info = read_info(directory / name[:2] / name)
                if info is not None:  # else deleted since the walk
                    items.append(info)
            more = len(chosen) > limit
            return keys, BlobPage(items=items, cursor=chosen[limit - 1][0] if more else None)

        keys, result = await self._io(page)
        self._keys[directory.name] = keys
        return result

    # -- signing -----------------------------------------------------------

    def _sign(self, message: bytes, key: bytes | None = None) -> str:
        return hmac.new(key or self._signing_keys[0], message, hashlib.sha256).hexdigest()

    def _signature_ok(self, message: bytes, signature: str) -> bool:
        given = signature.encode("ascii", "replace")
        ok = False
        for key in self._signing_keys:  # no early exit: same work whatever matches
            ok |= hmac.compare_digest(self._sign(message, key).encode("ascii"), given)
        return ok

    @staticmethod
    def _expiry(expires_in: int) -> int:
        return math.ceil(now() + validate_expires_in(expires_in))

    # -- presigned upload --------------------------------------------------

    async def presign_upload(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str,
        max_size: int,
        min_size: int = 1,
        expires_in: int = 900,
        checksum_sha256: str | None = None,
    ) -> PresignedUpload:
        self._object_path(bucket, key)
        validate_content_type(content_type)
        validate_size_range(min_size, max_size)
        sha256 = validate_sha256(checksum_sha256)
        expires = self._expiry(expires_in)
        policy_doc: dict[str, str | int] = {
            "bucket": bucket,
            "key": key,
            "content_type": content_type,
            "min_size": min_size,
            "max_size": max_size,
            "expires": expires,
        }
        if sha256 is not None:
            policy_doc["sha256"] = sha256
        policy = base64.b64encode(
            json.dumps(policy_doc, separators=(",", ":"), sort_keys=True).encode("utf-8")
        ).decode("ascii")
        fields = {
            "key": key,
            "bucket": bucket,
            "Content-Type": content_type,
            "policy": policy,
            "signature": self._sign(b"upload\n" + policy.encode("ascii")),
        }
        if sha256 is not None:  # the same fields as an S3 form's
            fields[CHECKSUM_ALGORITHM_FIELD] = "SHA256"
            fields[CHECKSUM_SHA256_FIELD] = _sha256_b64(sha256)
        return PresignedUpload(
            url=f"{self._public_url}/api/blobs/upload",
            fields=fields,
            expires_at=datetime.fromtimestamp(expires, UTC),
        )

    def verify_upload(self, fields: Mapping[str, str]) -> UploadPolicy:
        """Check an upload form's fields (names case-insensitive) against its
        signed policy; return the policy or raise Forbidden (``signature_invalid``,
        ``expired``, ``policy_violation``)."""
        form = {name.lower(): value for name, value in fields.items()}
        policy_b64 = form.get("policy", "")
        signature = form.get("signature", "")
        if not policy_b64 or not signature:
            raise Forbidden("The upload form is not signed.", code="signature_invalid")
        if not policy_b64.isascii() or not self._signature_ok(
            b"upload\n" + policy_b64.encode("ascii"), signature
        ):
            raise Forbidden("The upload signature is not valid.", code="signature_invalid")
        try:
            doc = json.loads(base64.b64decode(policy_b64, validate=True))
            policy = UploadPolicy(
                bucket=str(doc["bucket"]),
                key=str(doc["key"]),
                content_type=str(doc["content_type"]),
                min_size=int(doc["min_size"]),
                max_size=int(doc["max_size"]),
                expires=int(doc["expires"]),
                sha256=validate_sha256(doc.get("sha256")),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise Forbidden("The upload policy is not valid.", code="signature_invalid") from exc
        if now() > policy.expires:
            raise Forbidden("The upload form has expired.", code="expired")
        if policy.bucket not in self._bucket_names:
            raise Forbidden("The upload policy names an unknown bucket.", code="policy_violation")
        checksum = policy.sha256
        for name, wanted in (
            ("bucket", policy.bucket),
            ("key", policy.key),
            ("content-type", policy.content_type),
            (CHECKSUM_ALGORITHM_FIELD, None if checksum is None else "SHA256"),
            (CHECKSUM_SHA256_FIELD, None if checksum is None else _sha256_b64(checksum)),
        ):
            if form.get(name) != wanted:
                raise Forbidden(
                    f"The form field {name!r} does not match the upload policy.",
                    code="policy_violation",
                    details={"field": name},
                )
        return policy

    async def accept_upload(
        self, fields: Mapping[str, str], body: AsyncIterator[bytes]
    ) -> BlobInfo:
        """Store a presigned upload: verify ``fields`` (before reading ``body``),
        then stream ``body`` in, holding it to the policy's size range and, if
        the policy pins one, its SHA-256 (ValidationFailed ``checksum_mismatch``)."""
        policy = self.verify_upload(fields)
        return await self._put(
            policy.bucket,
            policy.key,
            body,
            content_type=policy.content_type,
            max_size=policy.max_size,
            min_size=policy.min_size,
            expected_sha256=policy.sha256,
        )

    # -- presigned download ------------------------------------------------

    @staticmethod
    def _download_message(bucket: str, key: str, expires: int, filename: str | None) -> bytes:
        return json.dumps(["download", bucket, key, expires, filename or ""]).encode("utf-8")

    async def presign_download(
        self,
        bucket: str,
        key: str,
        *,
        expires_in: int = 900,
        filename: str | None = None,
    ) -> str:
        self._object_path(bucket, key)
        if filename is not None:
            content_disposition(filename)
        expires = self._expiry(expires_in)
        params: dict[str, str] = {
            "expires": str(expires),
            "signature": self._sign(self._download_message(bucket, key, expires, filename)),
        }
        if filename:
            params["filename"] = filename
        return (
            f"{self._public_url}/api/blobs/{quote(bucket, safe='')}/{quote(key, safe='/')}"
            f"?{urlencode(params, quote_via=quote)}"
        )

    def verify_download(
        self,
        bucket: str,
        key: str,
        expires: str | None,
        signature: str | None,
        filename: str | None = None,
    ) -> None:
        """Check a download URL's signature and expiry; raise Forbidden
        (``signature_invalid`` or ``expired``) or NotFound (unknown bucket)."""
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses
        if not expires or not signature or not _EXPIRES_RE.fullmatch(expires):
            raise Forbidden("The download link is not signed.", code="signature_invalid")
        expires_at = int(expires)
        message = self._download_message(bucket, key, expires_at, filename)
        if not self._signature_ok(message, signature):
            raise Forbidden("The download signature is not valid.", code="signature_invalid")
        if now() > expires_at:
            raise Forbidden("The download link has expired.", code="expired")
        if bucket not in self._bucket_names:
            raise NotFound("No such bucket.", details={"bucket": bucket})
