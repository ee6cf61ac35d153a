"""Settings, read from ``PREWORK_*`` environment variables and an optional ``.env``.

Engines are chosen by URL:

* ``PREWORK_STORE``: ``sqlite:///var/prework.db`` (embedded default; a relative
  path is relative to the working directory, ``sqlite:////abs/path.db`` is
  absolute), ``memory://`` (tests), or
  ``dynamodb://?endpoint=http://127.0.0.1:8001&region=us-east-1&prefix=pre-work-``
  (no endpoint: AWS's own).
* ``PREWORK_BLOBS``: ``file:///var/blobs`` style paths (``file://var/blobs`` is
  relative) or ``s3://?endpoint=...&region=...&path_style=true``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
EMBEDDED_STORE_SCHEMES = frozenset({"sqlite", "memory"})
EMBEDDED_BLOB_SCHEMES = frozenset({"file"})


def _scheme(url: str) -> str:
    """The URL's scheme, lowercased, as :mod:`prework.bootstrap` reads it."""
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PREWORK_", env_file=".env", extra="ignore", frozen=True
    )

    @model_validator(mode="before")
    @classmethod
    def _engines_in_data_dir(cls, data: Any) -> Any:
        """With ``PREWORK_DATA_DIR`` given and no engine URL, the embedded engines'
        files are in that directory (``<data_dir>/prework.db``, ``<data_dir>/blobs``),
        as the secret key is: the data directory is where the data is."""
        if isinstance(data, dict) and data.get("data_dir") not in (None, ""):
            base = Path(str(data["data_dir"]))
            data = dict(data)
            data.setdefault("store", f"sqlite:///{base / 'prework.db'}")
            data.setdefault("blobs", f"file://{base / 'blobs'}")
        return data

    # where the embedded engines keep their files (and the generated secret key)
    data_dir: Path = DEFAULT_DATA_DIR
    store: str = "sqlite:///var/prework.db"
    blobs: str = "file://var/blobs"
    # the event bus between services and real-time clients (memory: one node)
    pubsub: str = "memory://"
    table_prefix: str = "pre-work-"
    bucket_media: str = "pre-work-media-uploads"
    bucket_thumbnails: str = "pre-work-thumbnails"
    bucket_documents: str = "pre-work-documents"

    # the URL clients reach this server at (for presigned URLs of the file backend)
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000

    # secrets: the current signing key, and earlier keys that still verify
    secret_key: SecretStr | None = None
    previous_secret_keys: list[SecretStr] = Field(default_factory=list)

    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    # password hashing (argon2id; defaults are OWASP's m=19 MiB, t=2, p=1) and the
    # threads that run it off the event loop (0: one less than the CPU count, >= 1)
    password_hash_time_cost: int = Field(default=2, ge=1)
    password_hash_memory_kib: int = Field(default=19 * 1024, ge=8)
    password_hash_parallelism: int = Field(default=1, ge=1)
    password_hash_threads: int = Field(default=0, ge=0)
    # brute-force throttling (fixed windows, counted in the store across nodes)
    login_max_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_address: int = Field(default=100, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    register_max_per_address: int = Field(default=20, ge=1)
    register_window_seconds: int = Field(default=3600, ge=1)
    # abandoned team creations (a crash mid-way, never retried) are removed by a
    # background sweep this often (0: never; run TeamService.sweep yourself)
    team_sweep_interval_seconds: float = Field(default=300, ge=0)
    team_abandon_after_seconds: float = Field(default=900, gt=0)
    # how often each server looks for assignments that fell due (0: never)
    overdue_check_interval_seconds: float = Field(default=60, ge=0)
    # how often a sync WebSocket checks its access token again (closed with 4001 once
    # the session has ended: logout, revocation, expiry, deactivation)
    sync_token_recheck_seconds: float = Field(default=30, gt=0)
    max_body_bytes: int = 1024 * 1024
    cors_origins: list[str] = Field(default_factory=list)
    # reverse proxies whose X-Forwarded-For/-Proto `prework serve` trusts
    # (comma-separated addresses or networks, "*" for any); empty: none, the
    # peer address is the client's
    trusted_proxies: str = ""
    # what a client may hold of `prework serve` (see prework.server): the request
    # line and headers within HEADER_TIMEOUT of their first byte and at most
    # MAX_HEADER_BYTES; the body at BODY_MIN_BYTES_PER_SECOND or more over each
    # BODY_TIMEOUT window; an idle connection for KEEP_ALIVE; MAX_CONNECTIONS at once
    http_parser: Literal["httptools", "h11"] = "httptools"
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    body_min_bytes_per_second: int = Field(default=1024, ge=1)
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)
    # WebSocket per-message compression (permessage-deflate) when the client offers it:
    # off, as ShareDB's ws server ships; on, an idle socket holds ~40 KiB more of zlib
    # state (bench/bench_sync.py measures it) to shrink messages of a few hundred bytes
    ws_per_message_deflate: bool = False

    # media uploads (see prework.media): the size limit of each purpose, how long an
    # upload form and a download link live, how long after its form expired an upload
    # may still be confirmed (then the collector takes it), how long a ready file that
    # nothing names is kept, the pixel limit of images, thumbnails made at once
    media_max_photo_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    media_max_signature_bytes: int = Field(default=2 * 1024 * 1024, ge=1)
    media_max_document_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    media_max_avatar_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    media_upload_expires_seconds: int = Field(default=600, ge=1, le=7 * 24 * 3600)
    media_confirm_grace_seconds: int = Field(default=3600, ge=0)
    media_download_expires_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)
    media_detached_grace_seconds: int = Field(default=24 * 3600, ge=0)
    media_max_pixels: int = Field(default=50_000_000, ge=1)
    media_thumbnail_concurrency: int = Field(default=2, ge=1)
    # how often each server runs the media collector (`prework gc`; 0: never)
    media_gc_interval_seconds: float = Field(default=3600, ge=0)
    # a CloudFront distribution in front of the buckets: links are signed with the key
    # pair (an unsigned CDN link would make the files public); empty: presigned links
    cdn_base_url: str = ""
    cdn_key_pair_id: str = ""
    cdn_private_key: SecretStr | None = None
    cdn_private_key_file: Path | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True
    # FastAPI's native OpenTelemetry (request spans, metrics, logs through the global
    # providers of an OpenTelemetry SDK the deployment sets up); off, FastAPI does not
    # look for the providers on every request
    opentelemetry: bool = False

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def bucket_names(self) -> dict[str, str]:
        return {
            "media": self.bucket_media,
            "thumbnails": self.bucket_thumbnails,
            "documents": self.bucket_documents,
        }

    @property
    def is_embedded(self) -> bool:
        """True when every engine is local: a ``sqlite:`` or ``memory:`` store and
        ``file:`` blobs (the only blob engine that is not AWS)."""
        return (
            _scheme(self.store) in EMBEDDED_STORE_SCHEMES
            and _scheme(self.blobs) in EMBEDDED_BLOB_SCHEMES
        )
