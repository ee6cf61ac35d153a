"""The S3 blob backend (AWS S3 or an S3-compatible engine) over aiobotocore.

One aiobotocore session (shared by the process: it caches the service
model) and one client per store, created on first use and reused;
:meth:`S3BlobStore.close` releases it. Requests are SigV4-signed.

``put`` with an async iterator buffers up to :data:`PART_SIZE`; a body that
fits is sent with one ``PutObject``, a larger one becomes a multipart upload
of ``PART_SIZE`` parts. ``max_size`` is enforced while streaming; on any
failure the multipart upload is aborted so no part and no object are left.

Presigned uploads are S3 browser POST policies pinning the exact key, the
content type and a ``content-length-range``; presigned downloads are SigV4
query-signed ``GetObject`` URLs. Vendor errors are translated into
:mod:`prework.errors` with the botocore error kept as ``__cause__``.

**Checksums.** A presigned upload given ``checksum_sha256`` adds the form
fields ``x-amz-checksum-algorithm=SHA256`` and ``x-amz-checksum-sha256=<the
digest in base64>`` and pins both in the policy, so the engine refuses a form
with another checksum (policy condition) and a body that does not hash to it
(``BadDigest``). ``put`` of a body sent in one ``PutObject`` (bytes, or an
iterator that ends within :data:`PART_SIZE`) sends ``ChecksumSHA256`` the same
way: hashing an in-memory body is cheap (in a thread past 1 MiB), and the
engine checks it. A multipart ``put`` sends none: S3 keeps no whole-object
SHA-256 of a multipart upload (only a composite "checksum of checksums",
``...=-<parts>``, or full-object CRCs). ``head`` asks for the checksum
(``ChecksumMode=ENABLED``) and returns it as hex only when it is a
full-object SHA-256 (``ChecksumType`` not ``COMPOSITE``, no ``-<parts>``
suffix, 32 bytes); otherwise, and when the engine reports nothing, ``None``.
(On AWS, reading the checksum of an SSE-KMS object needs ``kms:Decrypt``,
which reading the object needs anyway.)
``get`` does not ask (botocore would then hash every body on the event loop
to verify it): its ``info.sha256`` is ``None``; ask ``head``.

What SeaweedFS (4.48, the engine of the test suite) does, found by experiment
and pinned by the contract tests: it accepts both checksum fields on a
presigned POST, refuses a body that does not match (400 ``BadDigest``, nothing
stored), refuses a form whose checksum field differs from the policy's (403
``AccessDenied``, "Policy Condition failed") or that carries checksum fields
the policy does not name ("Extra input fields"); ``PutObject`` with
``ChecksumSHA256`` is verified the same way (``BadDigest``, which botocore
retries). ``HeadObject`` with ``ChecksumMode=ENABLED`` reports the SHA-256 of
objects stored with one (PUT or POST), nothing for objects stored without one
or replaced by one without; a multipart upload created with
``ChecksumAlgorithm=SHA256`` reports ``ChecksumType=COMPOSITE`` and a
``...=-2`` value (which ``head`` returns as ``None``); ``FULL_OBJECT`` SHA-256
multipart uploads are refused (``InvalidRequest``), as on AWS.

**Copying** is one ``CopyObject`` (``MetadataDirective=COPY``: the content
type goes along), after a ``HeadObject`` of the source that gives its size,
content type, ETag and SHA-256: the copy is sent with
``CopySourceIfMatch=<that ETag>``, so the version copied is the one the HEAD
described (with ``if_match``, the HEAD's ETag must be ``if_match`` first, or
ConditionFailed ``changed`` without a copy; a 412 from the copy means the
source was replaced in between: ``changed`` too). Without ``if_match``, a
source replaced between the HEAD and the copy is HEADed again (at most
:data:`COPY_ATTEMPTS` times, then Unavailable). The copy asks for
``ChecksumAlgorithm=SHA256``; its ``sha256`` is the full-object SHA-256 the
engine reports for the copy, else the source's (the same bytes, by the ETag
condition), else ``None``. One ``CopyObject`` copies at most 5 GiB
(:data:`MAX_COPY_SIZE`): a larger source raises ValidationFailed
``too_large_to_copy`` (no multipart ``UploadPartCopy``). Copying an object
onto itself is the HEAD alone: S3 refuses a ``COPY`` onto itself
(``InvalidRequest``), and rewriting it could undo a newer ``put``.

What SeaweedFS (4.48) does with ``CopyObject``, found by experiment: the
response carries the ETag (unquoted) and ``LastModified`` but no checksum,
whatever ``ChecksumAlgorithm`` says; the copy keeps the source's ETag (a
multipart source's ``...-<parts>`` too) and the source's stored SHA-256 (HEAD
of the copy reports it; a source stored without one gives a copy without
one, ``ChecksumAlgorithm=SHA256`` notwithstanding). ``CopySourceIfMatch``
takes the ETag quoted or not and ``*``; a mismatch is 412
``PreconditionFailed``, a missing source 404 ``NoSuchKey`` (with or without
the condition).

**Listing** is ``ListObjectsV2`` with ``Prefix``, ``MaxKeys=limit`` and
``StartAfter=cursor`` (never a ContinuationToken: the cursor is the last key
the page covered, the same kind of value as the ``file`` engine's), then one
``HeadObject`` per listed key (at most :data:`LIST_HEAD_CONCURRENCY` at a
time), because a listing carries no content type and no checksum: a page of
1000 costs 1 LIST and 1000 HEAD requests. An object deleted between the two is
left out of the page; an object replaced between them is listed as ``head``
sees it. Keys Prework could not have written (``dir/`` markers and the like,
from other tools) are not listed, but the cursor moves past them.

SeaweedFS (4.48) does not list in S3's order: it walks its directory tree, so
``/`` sorts before every other character (``a/b`` before ``a-c``; AWS lists
``a-c`` first). Keys whose order differs are those where one has ``/`` and the
other a character below it (space, ``!"#$%&'()*+,-.``) at the first
difference. And ``StartAfter=K`` skips every key under ``K/`` when ``K`` is
itself a key (its own continuation token is ``K/`` in that case), so paging
over a key that is also a "directory" of other keys loses those keys. Both
are SeaweedFS deviations from S3 (the contract tests pin them as strict
xfails on this engine); AWS S3 lists in UTF-8 byte order and honours
``StartAfter`` exactly. Writing a key and another under it as its "directory"
(``a`` and ``a/b``) at the same moment can lose one of them on SeaweedFS (a
file and a folder of one name race in its tree); written one after the other
both stay. Prework's own key shapes never make a key the folder of another
within a bucket.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import contextlib
import functools
import hashlib
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

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
from prework.blobs.base import BlobInfo, BlobPage, BlobStore, BlobStream, PresignedUpload
from prework.errors import (
    ConditionFailed,
    Internal,
    NotFound,
    PreworkError,
    TooLarge,
    Unavailable,
    ValidationFailed,
)

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

__all__ = ["COPY_ATTEMPTS", "LIST_HEAD_CONCURRENCY", "MAX_COPY_SIZE", "PART_SIZE", "S3BlobStore"]

PART_SIZE = 8 * 1024 * 1024  # also the single-PutObject threshold; S3's minimum part is 5 MiB
CHUNK_SIZE = 64 * 1024
LIST_HEAD_CONCURRENCY = 16  # HEAD requests at once while listing (the pool has 32 connections)
_HASH_IN_THREAD = 1024 * 1024  # bodies this large are hashed in a worker thread
MAX_COPY_SIZE = 5 * 1024**3  # the most one CopyObject copies
COPY_ATTEMPTS = 3  # HEAD + CopyObject rounds while an unconditional copy's source keeps changing

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_BUCKET_MISSING_CODES = frozenset({"NoSuchBucket"})
_TOO_LARGE_CODES = frozenset({"EntityTooLarge"})
_ACCESS_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "ExpiredToken"}
)


def translate_error(exc: Exception, *, bucket: str, key: str | None = None) -> PreworkError:
    """The Prework error for a botocore error met while working on ``bucket``/``key``."""
    where: dict[str, Any] = {"bucket": bucket}
    if key is not None:
        where["key"] = key
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        details = {**where, "s3_code": code}
        if code in _NOT_FOUND_CODES:
            return NotFound("No such blob.", details=where)
        if code in _BUCKET_MISSING_CODES:
            return Unavailable(
                f"The bucket {bucket!r} does not exist; run `prework init`.",
                code="bucket_missing",
                details=details,
            )
        if code == "KeyTooLongError":
            return ValidationFailed(
                "The blob key is too long.", code="invalid_key", details=details
            )
        if code in _TOO_LARGE_CODES:
            return TooLarge("The blob is too large.", details=details)
        if code in _ACCESS_CODES:
            return Unavailable(
                "Object storage refused our credentials.", code="storage_denied", details=details
            )
        if status >= 500 or code in ("SlowDown", "ServiceUnavailable", "RequestTimeout"):
            return Unavailable("Object storage is unavailable.", details=details)
        return Internal(f"Object storage rejected the request ({code}).", details=details)
    if isinstance(exc, BotoCoreError):
        return Unavailable(f"Object storage is unreachable: {exc}.", details=where)
    return Internal("Unexpected object storage error.", details=where)


@contextlib.contextmanager
def _translated(bucket: str, key: str | None = None) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, bucket=bucket, key=key) from exc


@functools.cache
def _shared_session() -> AioSession:
    """One botocore session per process: it caches the (large) S3 service model,
    which makes every client after the first cheap to create."""
    return get_session()


def _strip_etag(etag: str) -> str:
    return etag.strip('"')


def _sha256_hex(reported: object, checksum_type: object) -> str | None:
    """The engine's reported ``ChecksumSHA256`` as hex, if it is the SHA-256 of
    the whole object; None for a composite (multipart) checksum or nothing."""
    if not isinstance(reported, str) or checksum_type == "COMPOSITE" or "-" in reported:
        return None
    try:
        digest = base64.b64decode(reported, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == hashlib.sha256().digest_size else None


async def _sha256_b64(data: bytes) -> str:
    if len(data) > _HASH_IN_THREAD:
        digest = await anyio.to_thread.run_sync(lambda: hashlib.sha256(data).digest())
    else:
        digest = hashlib.sha256(data).digest()
    return base64.b64encode(digest).decode("ascii")


def _changed(key: str, if_match: str, etag: str | None) -> ConditionFailed:
    details: dict[str, Any] = {"key": key, "if_match": if_match}
    if etag is not None:
        details["etag"] = etag
    return ConditionFailed(
        "The blob is no longer the version the copy was asked for.",
        code="changed",
        details=details,
    )


def _precondition_failed(exc: ClientError) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code == "PreconditionFailed" or status == 412


def _nameable(key: str) -> bool:
    """Whether ``key`` is one Prework could have written (see :mod:`prework.blobs._keys`)."""
    try:
        validate_key(key)
    except ValidationFailed:
        return False
    return True


class _S3BlobStream(BlobStream):
    def __init__(self, body: StreamingBody, info: BlobInfo, bucket: str) -> None:
        self.info = info
        self._body = body
        self._bucket = bucket
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            with _translated(self._bucket, self.info.key):
                while not self._closed:
                    chunk: bytes = await self._body.read(CHUNK_SIZE)
                    if not chunk:
                        break
                    yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._body.close()


class S3BlobStore(BlobStore):
    """Blobs in S3 buckets (physical names from ``bucket_names``).

    ``access_key``/``secret_key`` default to botocore's credential chain;
    ``max_attempts`` bounds botocore's retries (standard mode) per request.
    """

    def __init__(
        self,
        *,
        endpoint: str | None,
        region: str,
        path_style: bool,
        bucket_names: Mapping[str, str],
        access_key: str | None = None,
        secret_key: str | None = None,
        max_attempts: int = 3,
    ) -> None:
        self._endpoint = endpoint
        self._region = region
        self._bucket_names = dict(bucket_names)
        self._access_key = access_key
        self._secret_key = secret_key
        self._config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            max_pool_connections=32,
            warm_up_loader_caches=True,  # read the API model in a thread, not on the loop
            # S3-compatible engines differ in their support of the newer
            # flexible checksums (botocore's default CRC32 in aws-chunked
            # trailers); compute them only where S3 requires them. The SHA-256
            # that put() and head() use is a plain header (see the module).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._session = _shared_session()
        self._client: S3Client | None = None
        self._exit_stack = contextlib.AsyncExitStack()
        self._lock = anyio.Lock()

    async def _get_client(self) -> S3Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    creator = self._session.create_client(
                        "s3",
                        endpoint_url=self._endpoint,
                        region_name=self._region,
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                        config=self._config,
                    )
                    self._client = await self._exit_stack.enter_async_context(creator)
        return self._client

    def _bucket(self, bucket: str) -> str:
        return physical_bucket(self._bucket_names, bucket)

    # -- lifecycle ---------------------------------------------------------

    async def init(self) -> None:
        client = await self._get_client()
        for name in self._bucket_names.values():
            try:
                await client.head_bucket(Bucket=name)
                continue
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in ("404", "NoSuchBucket", "NotFound"):
                    raise translate_error(exc, bucket=name) from exc
            except BotoCoreError as exc:
                raise translate_error(exc, bucket=name) from exc
            with _translated(name):
                try:
                    if self._region == "us-east-1":
                        await client.create_bucket(Bucket=name)
                    else:
                        await client.create_bucket(
                            Bucket=name,
                            CreateBucketConfiguration={"LocationConstraint": self._region},  # type: ignore[typeddict-item]
                        )
                except ClientError as exc:
                    code = str(exc.response.get("Error", {}).get("Code", ""))
                    if code != "BucketAlreadyOwnedByYou":
                        raise

    async def ping(self) -> None:
        client = await self._get_client()
        name = self._bucket("media")
        try:
            await client.head_bucket(Bucket=name)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise Unavailable(
                    f"The bucket {name!r} does not exist; run `prework init`.",
                    code="bucket_missing",
                ) from exc
            raise translate_error(exc, bucket=name) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, bucket=name) from exc

    async def close(self) -> None:
        self._client = None
        await self._exit_stack.aclose()

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
        name = self._bucket(bucket)
        validate_key(key)
        validate_content_type(content_type)
        client = await self._get_client()

        def too_large() -> TooLarge:
            return TooLarge(
                f"The blob is larger than {max_size} bytes.", details={"max_size": max_size}
            )

        async def put_whole(data: bytes) -> BlobInfo:
            checksum = await _sha256_b64(data)
            out = await client.put_object(
                Bucket=name, Key=key, Body=data, ContentType=content_type, ChecksumSHA256=checksum
            )
            # only what the engine says it checked and kept
            reported = out.get("ChecksumSHA256")
            sha256 = None
            if reported == checksum:
                sha256 = _sha256_hex(reported, out.get("ChecksumType"))
            return self._info(key, len(data), content_type, out["ETag"], sha256)

        if isinstance(body, bytes | bytearray | memoryview):
            data = bytes(body)
            if max_size is not None and len(data) > max_size:
                raise too_large()
            with _translated(name, key):
                return await put_whole(data)

        buffer = bytearray()
        size = 0
        upload_id: str | None = None
        parts: list[CompletedPartTypeDef] = []

        async def send_part(data: bytes) -> None:
            nonlocal upload_id
            if upload_id is None:
                created = await client.create_multipart_upload(
                    Bucket=name, Key=key, ContentType=content_type
                )
                upload_id = created["UploadId"]
            number = len(parts) + 1
            out = await client.upload_part(
                Bucket=name, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            parts.append({"ETag": out["ETag"], "PartNumber": number})

        try:
            with _translated(name, key):
                async for chunk in body:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise too_large()
                    buffer += chunk
                    while len(buffer) >= PART_SIZE:
                        part = bytes(buffer[:PART_SIZE])
                        del buffer[:PART_SIZE]
                        await send_part(part)
                if upload_id is None:
                    return await put_whole(bytes(buffer))
                if buffer:
                    await send_part(bytes(buffer))
                    buffer.clear()
                done = await client.complete_multipart_upload(
                    Bucket=name,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                return self._info(key, size, content_type, done["ETag"])
        except BaseException:
            if upload_id is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                    await client.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload_id)
            raise

    @staticmethod
    def _info(
        key: str, size: int, content_type: str, etag: str, sha256: str | None = None
    ) -> BlobInfo:
        return BlobInfo(
            key=key,
            size=size,
            content_type=content_type,
            etag=_strip_etag(etag),
            last_modified=datetime.now(UTC),
            sha256=sha256,
        )

    async def get(self, bucket: str, key: str) -> BlobStream:
        name = self._bucket(bucket)
        validate_key(key)
        client = await self._get_client()
        with _translated(name, key):
            out = await client.get_object(Bucket=name, Key=key)
        info = BlobInfo(
            key=key,
            size=out["ContentLength"],
            content_type=out.get("ContentType", "application/octet-stream"),
            etag=_strip_etag(out.get("ETag", "")),
            last_modified=out["LastModified"],
        )
        return _S3BlobStream(out["Body"], info, name)

    async def head(self, bucket: str, key: str) -> BlobInfo:
        name = self._bucket(bucket)
        validate_key(key)
        client = await self._get_client()
        return await self._head(client, name, key)

    @staticmethod
    async def _head(client: S3Client, name: str, key: str) -> BlobInfo:
        with _translated(name, key):
            out = await client.head_object(Bucket=name, Key=key, ChecksumMode="ENABLED")
        return BlobInfo(
            key=key,
            size=out["ContentLength"],
            content_type=out.get("ContentType", "application/octet-stream"),
            etag=_strip_etag(out.get("ETag", "")),
            last_modified=out["LastModified"],
            sha256=_sha256_hex(out.get("ChecksumSHA256"), out.get("ChecksumType")),
        )

    async def copy(
        self,
        bucket: str,
        key: str,
        dest_bucket: str,
        dest_key: str,
        *,
        if_match: str | None = None,
    ) -> BlobInfo:
        name = self._bucket(bucket)
        dest_name = self._bucket(dest_bucket)
        validate_key(key)
        validate_key(dest_key)
        client = await self._get_client()
        for _ in range(COPY_ATTEMPTS):
            source = await self._head(client, name, key)
            if if_match is not None and source.etag != if_match:
                raise _changed(key, if_match, source.etag)
            if (name, key) == (dest_name, dest_key):
                return source  # an object is its own copy (see the module)
            if source.size > MAX_COPY_SIZE:
                raise ValidationFailed(
                    f"The blob is larger than {MAX_COPY_SIZE} bytes, the most one copy takes.",
                    code="too_large_to_copy",
                    details={"key": key, "size": source.size, "max_size": MAX_COPY_SIZE},
                )
            try:
                out = await client.copy_object(
                    Bucket=dest_name,
                    Key=dest_key,
                    CopySource={"Bucket": name, "Key": key},
                    CopySourceIfMatch=f'"{source.etag}"',
                    MetadataDirective="COPY",
                    ChecksumAlgorithm="SHA256",
                )
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise translate_error(exc, bucket=name, key=key) from exc
                if if_match is not None:  # replaced since the HEAD
                    raise _changed(key, if_match, None) from exc
                continue  # replaced since the HEAD: copy the new version
            except BotoCoreError as exc:
                raise translate_error(exc, bucket=name, key=key) from exc
            result = out.get("CopyObjectResult", {})
            reported = _sha256_hex(result.get("ChecksumSHA256"), result.get("ChecksumType"))
            return BlobInfo(
                key=dest_key,
                size=source.size,
                content_type=source.content_type,
                etag=_strip_etag(result.get("ETag", source.etag)),
                last_modified=result.get("LastModified", datetime.now(UTC)),
                sha256=reported or source.sha256,
            )
        raise Unavailable(
            f"The blob was replaced during each of {COPY_ATTEMPTS} attempts to copy it.",
            details={"bucket": name, "key": key},
        )

    async def delete(self, bucket: str, key: str) -> None:
        name = self._bucket(bucket)
        validate_key(key)
        client = await self._get_client()
        with _translated(name, key):
            await client.delete_object(Bucket=name, Key=key)

    async def list(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cursor: str | None = None,
        limit: int = 1000,
        metadata: bool = True,
    ) -> BlobPage:
        name = self._bucket(bucket)
        validate_prefix(prefix)
        validate_cursor(cursor)
        validate_limit(limit)
        client = await self._get_client()
        params: dict[str, Any] = {"Bucket": name, "MaxKeys": limit}
        if prefix:
            params["Prefix"] = prefix
        if cursor is not None:
            params["StartAfter"] = cursor
        with _translated(name):
            out = await client.list_objects_v2(**params)
        contents = out.get("Contents", [])
        listed = [str(entry["Key"]) for entry in contents]
        more = bool(out.get("IsTruncated")) and bool(listed)
        if not metadata:  # what the listing itself says
            brief = [
                BlobInfo(
                    key=str(entry["Key"]),
                    size=int(entry.get("Size", 0)),
                    content_type="",
                    etag=_strip_etag(str(entry.get("ETag", ""))),
                    last_modified=entry["LastModified"],
                )
                for entry in contents
                if _nameable(str(entry["Key"]))
            ]
            return BlobPage(items=brief, cursor=listed[-1] if more else None)
        found: dict[str, BlobInfo] = {}
        failed: builtins.list[PreworkError] = []
        limiter = anyio.CapacityLimiter(LIST_HEAD_CONCURRENCY)

        async def head_one(key: str) -> None:
            async with limiter:
                if failed:
                    return
                try:
                    found[key] = await self._head(client, name, key)
                except NotFound:
                    pass  # deleted since the listing
                except PreworkError as exc:  # raised below as itself, not in a group
                    failed.append(exc)

        async with anyio.create_task_group() as tasks:
            for key in listed:
                if _nameable(key):
                    tasks.start_soon(head_one, key)
        if failed:
            raise failed[0]
        items: builtins.list[BlobInfo] = [found[key] for key in listed if key in found]
        return BlobPage(items=items, cursor=listed[-1] if more else None)

    # -- presigning --------------------------------------------------------

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
        name = self._bucket(bucket)
        validate_key(key)
        validate_content_type(content_type)
        validate_size_range(min_size, max_size)
        validate_expires_in(expires_in)
        sha256 = validate_sha256(checksum_sha256)
        client = await self._get_client()
        expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        fields: dict[str, Any] = {"Content-Type": content_type}
        conditions: builtins.list[Any] = [
            {"Content-Type": content_type},
            ["content-length-range", min_size, max_size],
        ]
        if sha256 is not None:
            checksum = {
                "x-amz-checksum-algorithm": "SHA256",
                "x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
            }
            fields.update(checksum)
            conditions += [{field: value} for field, value in checksum.items()]
        with _translated(name, key):
            # botocore adds the exact ``key`` and ``bucket`` conditions itself
            form = await client.generate_presigned_post(
                Bucket=name,
                Key=key,
                Fields=fields,
                Conditions=conditions,
                ExpiresIn=expires_in,
            )
        return PresignedUpload(
            url=str(form["url"]),
            fields={str(k): str(v) for k, v in form["fields"].items()},
            expires_at=expires_at,
        )

    async def presign_download(
        self,
        bucket: str,
        key: str,
        *,
        expires_in: int = 900,
        filename: str | None = None,
    ) -> str:
        name = self._bucket(bucket)
        validate_key(key)
        validate_expires_in(expires_in)
        params: dict[str, Any] = {"Bucket": name, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        client = await self._get_client()
        with _translated(name, key):
            return await client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
