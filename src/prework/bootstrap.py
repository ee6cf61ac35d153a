"""The composition root: engine URLs -> Store / BlobStore, settings -> every area's services.

Engines are named by URL (see :mod:`prework.config`)::

    PREWORK_STORE  memory://
                   sqlite:///var/prework.db        (relative to the working directory)
                   sqlite:////srv/prework/data.db  (absolute)
                   dynamodb://?region=eu-west-1&prefix=pre-work-
                   dynamodb://?endpoint=http://127.0.0.1:8001&region=us-east-1
    PREWORK_PUBSUB memory://                       (in-process: one node)
    PREWORK_BLOBS  file://var/blobs                (relative)
                   file:///srv/prework/blobs       (absolute)
                   s3://?region=eu-west-1
                   s3://?endpoint=http://127.0.0.1:8333&region=us-east-1&path_style=true

Adapters are imported lazily, so the AWS SDK is loaded only when an AWS engine
is chosen. A bad URL raises :class:`ConfigError` (a ``ValueError``) whose
message says what is wrong and what would be right.

:func:`build_services` builds every area's services from the settings and the
store (:class:`Services`, put on ``app.state.services`` at startup); it is the
only place that turns settings into service policies (hash parameters, token
lifetimes, throttling limits).

Secrets: :func:`resolve_secret_key` gives the server's master secret; every
use (blob URL signing, JWTs, ...) derives its own key from it with
:func:`derive_key` and a purpose label, so one leaked derived key does not
give away the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from prework.audit.service import AuditService
from prework.blobs.base import BlobStore
from prework.blobs.cdn import CdnSigner
from prework.checklists.assignments import AssignmentService
from prework.checklists.editing import DocEditing
from prework.checklists.reviews import ReviewService
from prework.checklists.services import Checklists
from prework.checklists.templates import TemplateService
from prework.config import Settings
from prework.core.clock import Clock, system_clock
from prework.identity.invitations import InvitationService
from prework.identity.orgs import OrgService
from prework.identity.passwords import HashParams, Passwords
from prework.identity.profiles import ProfileService
from prework.identity.ratelimit import Limit, RateLimiter
from prework.identity.registration import RegistrationService
from prework.identity.services import Identity
from prework.identity.sessions import LoginLimits, SessionService
from prework.identity.tokens import ACCESS_TOKEN_PURPOSE, KeyRing, TokenService
from prework.identity.users import RosterListener, UserService
from prework.media.gc import Collector
from prework.media.models import MediaPolicy, Purpose
from prework.media.service import MediaService
from prework.pubsub.base import PubSub
from prework.store.base import Store
from prework.sync.service import SyncService
from prework.teams.service import TeamService
from prework.teams.services import Teams

__all__ = [
    "BLOB_SIGNING_PURPOSE",
    "MIN_SECRET_KEY_LENGTH",
    "SECRET_KEY_FILE",
    "BlobsSpec",
    "ConfigError",
    "Services",
    "StoreSpec",
    "build_identity",
    "build_services",
    "cdn_signer",
    "derive_key",
    "engine_summary",
    "ensure_private_dir",
    "ensure_secret_key_file",
    "hash_params",
    "media_policy",
    "open_blobs",
    "open_pubsub",
    "open_store",
    "parse_blobs_url",
    "parse_pubsub_url",
    "parse_store_url",
    "previous_secret_keys",
    "resolve_secret_key",
]

SECRET_KEY_FILE = "secret.key"  # noqa: S105 (a file name)
MIN_SECRET_KEY_LENGTH = 16
BLOB_SIGNING_PURPOSE = "blob-url-signing"
DEFAULT_REGION = "us-east-1"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """The configuration cannot work (bad engine URL, missing secret, ...)."""


# --------------------------------------------------------------------------- URL parsing
@dataclass(frozen=True, slots=True)
class StoreSpec:
    kind: Literal["memory", "sqlite", "dynamodb"]
    path: Path | None = None  # sqlite
    endpoint: str | None = None  # dynamodb
    region: str = DEFAULT_REGION
    prefix: str = ""

    @property
    def embedded(self) -> bool:
        return self.kind != "dynamodb"


@dataclass(frozen=True, slots=True)
class BlobsSpec:
    kind: Literal["file", "s3"]
    root: Path | None = None  # file
    endpoint: str | None = None  # s3
    region: str = DEFAULT_REGION
    path_style: bool = False

    @property
    def embedded(self) -> bool:
        return self.kind == "file"


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def _query(url: str, setting: str, query: str, allowed: set[str]) -> dict[str, str]:
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigError(f"{setting}={url!r}: malformed query string ({exc})") from None
    unknown = sorted(set(parsed) - allowed)
    if unknown:
        raise ConfigError(
            f"{setting}={url!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    out: dict[str, str] = {}
    for name, values in parsed.items():
        if len(values) != 1 or not values[0]:
            raise ConfigError(f"{setting}={url!r}: parameter {name!r} needs exactly one value")
        out[name] = values[0]
    return out


def _endpoint(url: str, setting: str, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{setting}={url!r}: endpoint must be an http(s) URL such as "
            f"http://127.0.0.1:8001, got {value!r}"
        )
    return value.rstrip("/")


def _no_host(url: str, setting: str, netloc: str, path: str, hint: str) -> None:
    if netloc or path.strip("/"):
        raise ConfigError(f"{setting}={url!r}: takes no host or path ({hint})")


def _local_path(url: str, setting: str, netloc: str, path: str, *, absolute_slashes: int) -> Path:
    """``netloc`` + ``path`` as a filesystem path.

    ``absolute_slashes``: how many slashes after ``scheme:`` mark an absolute
    path (sqlite: 4, as SQLAlchemy; file: 3, as RFC 8089). Fewer: relative.
    """
    raw = unquote(netloc + path) if netloc else unquote(path)
    if not netloc:
        # path starts with "/" for "scheme:///x"; with "//" for "scheme:////x"
        strip = absolute_slashes - 3  # slashes that belong to the URL syntax
        raw = raw[strip:] if strip and raw.startswith("/") else raw
    if not raw or raw in ("/", "."):
        raise ConfigError(f"{setting}={url!r}: a path is required")
    if "\x00" in raw:
        raise ConfigError(f"{setting}={url!r}: the path contains a NUL byte")
    return Path(raw)


def parse_store_url(url: str, *, default_prefix: str = "pre-work-") -> StoreSpec:
    """Parse ``PREWORK_STORE``. Raises :class:`ConfigError`."""
    setting = "PREWORK_STORE"
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConfigError(f"{setting}={url!r}: not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        _no_host(url, setting, parts.netloc, parts.path, "use memory://")
        _query(url, setting, parts.query, set())
        return StoreSpec(kind="memory")
    if scheme == "sqlite":
        _query(url, setting, parts.query, set())
        path = _local_path(url, setting, parts.netloc, parts.path, absolute_slashes=4)
        return StoreSpec(kind="sqlite", path=path)
    if scheme == "dynamodb":
        hint = "use dynamodb://?endpoint=http://host:port&region=...&prefix=..."
        _no_host(url, setting, parts.netloc, parts.path, hint)
        q = _query(url, setting, parts.query, {"endpoint", "region", "prefix"})
        return StoreSpec(
            kind="dynamodb",
            endpoint=_endpoint(url, setting, q.get("endpoint")),
            region=q.get("region") or _default_region(),
            prefix=q.get("prefix", default_prefix),
        )
    raise ConfigError(
        f"{setting}={url!r}: unsupported engine {parts.scheme!r}; use sqlite:///var/prework.db, "
        "memory:// or dynamodb://?region=..."
    )


def parse_blobs_url(url: str) -> BlobsSpec:
    """Parse ``PREWORK_BLOBS``. Raises :class:`ConfigError`."""
    setting = "PREWORK_BLOBS"
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConfigError(f"{setting}={url!r}: not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        _query(url, setting, parts.query, set())
        root = _local_path(url, setting, parts.netloc, parts.path, absolute_slashes=3)
        return BlobsSpec(kind="file", root=root)
    if scheme == "s3":
        hint = "bucket names come from PREWORK_BUCKET_*; use s3://?region=..."
        _no_host(url, setting, parts.netloc, parts.path, hint)
        q = _query(url, setting, parts.query, {"endpoint", "region", "path_style"})
        endpoint = _endpoint(url, setting, q.get("endpoint"))
        path_style = endpoint is not None  # emulators want path-style; AWS virtual-host
        if "path_style" in q:
            flag = q["path_style"].lower()
            if flag not in _TRUE | _FALSE:
                raise ConfigError(f"{setting}={url!r}: path_style must be true or false")
            path_style = flag in _TRUE
        return BlobsSpec(
            kind="s3",
            endpoint=endpoint,
            region=q.get("region") or _default_region(),
            path_style=path_style,
        )
    raise ConfigError(
        f"{setting}={url!r}: unsupported engine {parts.scheme!r}; use file://var/blobs or "
        "s3://?region=..."
    )


def parse_pubsub_url(url: str) -> str:
    """Parse ``PREWORK_PUBSUB``; the engine's kind. Raises :class:`ConfigError`."""
    setting = "PREWORK_PUBSUB"
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise ConfigError(f"{setting}={url!r}: not a URL ({exc})") from None
    if parts.scheme.lower() == "memory":
        _no_host(url, setting, parts.netloc, parts.path, "use memory://")
        _query(url, setting, parts.query, set())
        return "memory"
    raise ConfigError(f"{setting}={url!r}: unsupported engine {parts.scheme!r}; use memory://")


# --------------------------------------------------------------------------- adapters
def open_store(settings: Settings) -> Store:
    """The Store named by ``settings.store``. Cheap: connects on first use."""
    spec = parse_store_url(settings.store, default_prefix=settings.table_prefix)
    if spec.kind == "memory":
        from prework.store.memory import MemoryStore

        return MemoryStore()
    if spec.kind == "sqlite":
        from prework.store.sqlite import SqliteStore

        assert spec.path is not None
        return SqliteStore(spec.path)
    from prework.store.dynamodb.store import DynamoStore

    return DynamoStore(endpoint=spec.endpoint, region=spec.region, prefix=spec.prefix)


def open_blobs(settings: Settings) -> BlobStore:
    """The BlobStore named by ``settings.blobs``. Cheap: connects on first use.

    The file backend signs its URLs with a key derived from the secret key
    (:func:`resolve_secret_key`), which on embedded engines may be generated,
    and still accepts URLs signed with keys derived the same way from
    :func:`previous_secret_keys`: rotating the secret key does not break the
    upload and download URLs already handed out.
    """
    spec = parse_blobs_url(settings.blobs)
    if spec.kind == "file":
        from prework.blobs.local import LocalBlobStore

        assert spec.root is not None
        return LocalBlobStore(
            spec.root,
            bucket_names=settings.bucket_names,
            public_url=settings.public_url,
            secret=derive_key(resolve_secret_key(settings), BLOB_SIGNING_PURPOSE),
            previous_secrets=[
                derive_key(key, BLOB_SIGNING_PURPOSE) for key in previous_secret_keys(settings)
            ],
        )
    from prework.blobs.s3 import S3BlobStore

    return S3BlobStore(
        endpoint=spec.endpoint,
        region=spec.region,
        path_style=spec.path_style,
        bucket_names=settings.bucket_names,
    )


def open_pubsub(settings: Settings) -> PubSub:
    """The event bus named by ``settings.pubsub``."""
    parse_pubsub_url(settings.pubsub)
    from prework.pubsub.memory import MemoryPubSub

    return MemoryPubSub()


# --------------------------------------------------------------------------- secrets
def derive_key(secret: bytes, purpose: str, *, length: int = 32) -> bytes:
    """A key for one ``purpose`` derived from the master ``secret``.

    HKDF (RFC 5869, ``cryptography``'s implementation) with SHA-256, no salt
    and ``prework/<purpose>`` as info; ``length`` at most 32. Different purposes
    give unrelated keys; the same inputs always give the same key.
    """
    if not purpose:
        raise ValueError("a purpose label is required")
    if not 1 <= length <= hashlib.sha256().digest_size:
        raise ValueError("length must be 1..32")
    info = b"prework/" + purpose.encode()
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


def _check_secret(value: str, source: str) -> bytes:
    value = value.strip()
    if len(value) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"{source} is too short: at least {MIN_SECRET_KEY_LENGTH} characters are required "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value.encode()


def ensure_private_dir(path: Path) -> str:
    """Make the data directory ``path`` (and its parents) if absent, mode 0700:
    it holds the secret key, the SQLite database and the local blobs. An
    existing one that others may read (an older release made it 0755) is
    tightened to 0700. Says what it did: ``created``, ``exists`` or ``tightened
    to 0700``."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return "created"
    if mode & 0o077 and path.is_dir() and path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
        return "tightened to 0700"
    return "exists"


def ensure_secret_key_file(path: Path) -> tuple[bytes, bool]:
    """Read the secret key kept in ``path``, creating it first if absent.

    Returns ``(key, created)``. A new key is 32 random bytes, URL-safe base64
    encoded; the file is written whole to a temporary file with mode 0600 and
    linked into place, so a concurrent reader never sees a partial key and two
    concurrent creators agree on one key.
    """
    try:
        return _check_secret(path.read_text(encoding="ascii"), str(path)), False
    except FileNotFoundError:
        pass
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # atomic "create if absent"
            created = True
        except FileExistsError:
            created = False  # someone else won the race: use theirs
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return _check_secret(path.read_text(encoding="ascii"), str(path)), created


def resolve_secret_key(settings: Settings) -> bytes:
    """The master secret key.

    ``PREWORK_SECRET_KEY`` if set. Otherwise, on embedded engines, the key kept
    in ``<data_dir>/secret.key`` (generated on first use). On AWS engines the
    key must be given: several servers must share it.
    """
    if settings.secret_key is not None:
        return _check_secret(settings.secret_key.get_secret_value(), "PREWORK_SECRET_KEY")
    if not settings.is_embedded:
        raise ConfigError(
            "PREWORK_SECRET_KEY is required with AWS engines (every server must share it); "
            "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    key, _ = ensure_secret_key_file(settings.data_dir / SECRET_KEY_FILE)
    return key


def previous_secret_keys(settings: Settings) -> list[bytes]:
    """Earlier master keys that still verify (``PREWORK_PREVIOUS_SECRET_KEYS``)."""
    return [
        _check_secret(s.get_secret_value(), "PREWORK_PREVIOUS_SECRET_KEYS")
        for s in settings.previous_secret_keys
    ]


def engine_summary(settings: Settings) -> Mapping[str, str]:
    """A description of the configured engines without secrets (for logs)."""
    store = parse_store_url(settings.store, default_prefix=settings.table_prefix)
    blobs = parse_blobs_url(settings.blobs)
    return {
        "store": store.kind + (f":{store.path}" if store.path else ""),
        "blobs": blobs.kind + (f":{blobs.root}" if blobs.root else ""),
    }


# --------------------------------------------------------------------------- services
def hash_params(settings: Settings) -> HashParams:
    """The password hashing parameters the settings name."""
    return HashParams(
        time_cost=settings.password_hash_time_cost,
        memory_kib=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


def build_identity(
    settings: Settings,
    store: Store,
    *,
    clock: Clock = system_clock,
    rosters: RosterListener | None = None,
) -> Identity:
    """The identity services, all on one ``clock``. Raises :class:`ConfigError`
    without a usable secret key."""
    keys = KeyRing(
        derive_key(resolve_secret_key(settings), ACCESS_TOKEN_PURPOSE),
        [derive_key(old, ACCESS_TOKEN_PURPOSE) for old in previous_secret_keys(settings)],
    )
    tokens = TokenService(keys, access_ttl=settings.access_token_ttl_seconds, clock=clock)
    passwords = Passwords(hash_params(settings), threads=settings.password_hash_threads)
    limiter = RateLimiter(store, clock=clock)
    window = settings.login_window_seconds
    sessions = SessionService(
        store,
        passwords=passwords,
        tokens=tokens,
        limiter=limiter,
        login_limits=LoginLimits(
            per_account=Limit("login-account", settings.login_max_failures_per_account, window),
            per_address=Limit("login-address", settings.login_max_failures_per_address, window),
        ),
        refresh_ttl=settings.refresh_token_ttl_seconds,
        clock=clock,
    )
    registration = RegistrationService(
        store,
        passwords=passwords,
        sessions=sessions,
        limiter=limiter,
        per_address=Limit(
            "register-address", settings.register_max_per_address, settings.register_window_seconds
        ),
        clock=clock,
    )
    return Identity(
        sessions=sessions,
        registration=registration,
        invitations=InvitationService(
            store, passwords=passwords, registration=registration, clock=clock
        ),
        users=UserService(store, clock=clock, rosters=rosters),
        orgs=OrgService(store, clock=clock),
        profiles=ProfileService(store, clock=clock),
        passwords=passwords,
        tokens=tokens,
    )


@dataclass(frozen=True, slots=True)
class Services:
    """Every area's services of one app (``app.state.services``)."""

    identity: Identity
    audit: AuditService
    teams: Teams
    checklists: Checklists
    sync: SyncService
    media: MediaService
    media_gc: Collector

    @property
    def authenticator(self) -> SessionService:
        """What the web shell authenticates bearer tokens with."""
        return self.identity.sessions

    async def start(self) -> None:
        await self.identity.start()

    def close(self) -> None:
        self.media.close()
        self.identity.close()


def media_policy(settings: Settings) -> MediaPolicy:
    """The media limits the settings name."""
    return MediaPolicy(
        max_bytes={
            Purpose.ANSWER_PHOTO: settings.media_max_photo_bytes,
            Purpose.SIGNATURE: settings.media_max_signature_bytes,
            Purpose.DOCUMENT: settings.media_max_document_bytes,
            Purpose.AVATAR: settings.media_max_avatar_bytes,
        },
        upload_expires_seconds=settings.media_upload_expires_seconds,
        confirm_grace_seconds=settings.media_confirm_grace_seconds,
        download_expires_seconds=settings.media_download_expires_seconds,
        max_pixels=settings.media_max_pixels,
        thumbnail_concurrency=settings.media_thumbnail_concurrency,
        detached_grace_seconds=settings.media_detached_grace_seconds,
    )


def cdn_signer(settings: Settings) -> CdnSigner | None:
    """The CDN link signer the settings name, or None without a CDN. A CDN without
    a complete key pair is a :class:`ConfigError`: its links would be public."""
    if not settings.cdn_base_url:
        return None
    pem: bytes | None = None
    if settings.cdn_private_key is not None:
        pem = settings.cdn_private_key.get_secret_value().encode("ascii")
    elif settings.cdn_private_key_file is not None:
        try:
            pem = settings.cdn_private_key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"Cannot read PREWORK_CDN_PRIVATE_KEY_FILE: {exc}") from exc
    if pem is None or not settings.cdn_key_pair_id:
        raise ConfigError(
            "PREWORK_CDN_BASE_URL needs PREWORK_CDN_KEY_PAIR_ID and the key pair's private "
            "key (PREWORK_CDN_PRIVATE_KEY or PREWORK_CDN_PRIVATE_KEY_FILE): unsigned CDN "
            "links would make every organization's files public"
        )
    try:
        return CdnSigner(
            settings.cdn_base_url, key_pair_id=settings.cdn_key_pair_id, private_key_pem=pem
        )
    except ValueError as exc:
        raise ConfigError(f"The CDN settings cannot work: {exc}") from exc


def build_services(
    settings: Settings,
    store: Store,
    pubsub: PubSub,
    blobs: BlobStore,
    *,
    clock: Clock = system_clock,
) -> Services:
    """Every area's services over ``store``, the event bus ``pubsub`` and ``blobs``,
    on one ``clock``. Raises :class:`ConfigError` when the settings cannot work (no
    usable secret key on AWS engines, a CDN without its key pair)."""
    teams = Teams(teams=TeamService(store, pubsub, clock=clock))
    identity = build_identity(settings, store, clock=clock, rosters=teams.teams)
    checklists = build_checklists(store, pubsub, identity=identity, teams=teams, clock=clock)
    policy = media_policy(settings)
    media_deps: dict[str, Any] = {
        "answers": checklists.answers,
        "profiles": identity.profiles,
        "policy": policy,
        "clock": clock,
    }
    return Services(
        identity=identity,
        audit=AuditService(store),
        teams=teams,
        checklists=checklists,
        sync=SyncService(store, pubsub, documents=checklists.answers, clock=clock),
        media=MediaService(store, blobs, pubsub, cdn=cdn_signer(settings), **media_deps),
        media_gc=Collector(store, blobs, **media_deps),
    )


def build_checklists(
    store: Store, pubsub: PubSub, *, identity: Identity, teams: Teams, clock: Clock
) -> Checklists:
    """Templates, and the assignment, answer and review services over them (which ask
    teams for rosters and identity for certifications and the organization's time zone)."""
    templates = TemplateService(store, pubsub=pubsub, clock=clock)
    deps: dict[str, Any] = {
        "templates": templates,
        "teams": teams.teams,
        "profiles": identity.profiles,
        "orgs": identity.orgs,
        "clock": clock,
    }
    assignments = AssignmentService(store, pubsub, **deps)
    identity.profiles.watch_certifications(assignments)
    return Checklists(
        templates=templates,
        assignments=assignments,
        answers=DocEditing(store, pubsub, **deps),
        reviews=ReviewService(store, pubsub, **deps),
    )
