"""Engine URLs -> adapter specs, and the secret key."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from prework.bootstrap import (
    BLOB_SIGNING_PURPOSE,
    SECRET_KEY_FILE,
    BlobsSpec,
    ConfigError,
    StoreSpec,
    derive_key,
    ensure_secret_key_file,
    open_blobs,
    open_pubsub,
    open_store,
    parse_blobs_url,
    parse_pubsub_url,
    parse_store_url,
    previous_secret_keys,
    resolve_secret_key,
)
from prework.config import Settings


def settings(tmp_path: Path, **values: object) -> Settings:
    values.setdefault("data_dir", tmp_path)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_aws_region_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


# --------------------------------------------------------------------------- store URLs
@pytest.mark.parametrize(
    ("url", "spec"),
    [
        ("memory://", StoreSpec(kind="memory")),
        ("sqlite:///var/prework.db", StoreSpec(kind="sqlite", path=Path("var/prework.db"))),
        ("sqlite:///prework.db", StoreSpec(kind="sqlite", path=Path("prework.db"))),
        ("sqlite:////srv/p/data.db", StoreSpec(kind="sqlite", path=Path("/srv/p/data.db"))),
        ("sqlite:///a%20b/x.db", StoreSpec(kind="sqlite", path=Path("a b/x.db"))),
        ("SQLITE:///x.db", StoreSpec(kind="sqlite", path=Path("x.db"))),
        (
            "dynamodb://",
            StoreSpec(kind="dynamodb", endpoint=None, region="us-east-1", prefix="pre-work-"),
        ),
        (
            "dynamodb://?endpoint=http://127.0.0.1:8001/&region=eu-west-1&prefix=dev-",
            StoreSpec(
                kind="dynamodb", endpoint="http://127.0.0.1:8001", region="eu-west-1", prefix="dev-"
            ),
        ),
    ],
)
def test_store_urls(url: str, spec: StoreSpec) -> None:
    assert parse_store_url(url) == spec


def test_store_prefix_defaults_to_the_table_prefix_setting() -> None:
    assert parse_store_url("dynamodb://", default_prefix="stage-").prefix == "stage-"


def test_region_falls_back_to_the_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert parse_store_url("dynamodb://").region == "ap-south-1"
    assert parse_blobs_url("s3://").region == "ap-south-1"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert parse_store_url("dynamodb://").region == "eu-north-1"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://localhost/db", "unsupported engine 'postgres'"),
        ("", "unsupported engine ''"),
        ("var/prework.db", "unsupported engine ''"),
        ("sqlite://", "a path is required"),
        ("sqlite:///", "a path is required"),
        ("sqlite:///x.db?mode=ro", "unknown parameter(s) mode"),
        ("memory://somewhere", "takes no host or path"),
        ("dynamodb://my-table", "takes no host or path"),
        ("dynamodb://?endpoint=localhost:8001", "endpoint must be an http(s) URL"),
        ("dynamodb://?region=", "needs exactly one value"),
        ("dynamodb://?region=a&region=b", "needs exactly one value"),
        ("dynamodb://?regoin=us-east-1", "unknown parameter(s) regoin"),
        ("dynamodb://?&&", "malformed query string"),
    ],
)
def test_bad_store_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_store_url(url)
    assert message in str(caught.value)
    assert "PREWORK_STORE" in str(caught.value)
    assert isinstance(caught.value, ValueError)


# --------------------------------------------------------------------------- blob URLs
@pytest.mark.parametrize(
    ("url", "spec"),
    [
        ("file://var/blobs", BlobsSpec(kind="file", root=Path("var/blobs"))),
        ("file://blobs", BlobsSpec(kind="file", root=Path("blobs"))),
        ("file:///srv/blobs", BlobsSpec(kind="file", root=Path("/srv/blobs"))),
        ("s3://", BlobsSpec(kind="s3", endpoint=None, region="us-east-1", path_style=False)),
        (
            "s3://?endpoint=http://127.0.0.1:8333&region=us-east-1",
            BlobsSpec(kind="s3", endpoint="http://127.0.0.1:8333", path_style=True),
        ),
        (
            "s3://?endpoint=https://minio.example:9000&path_style=false",
            BlobsSpec(kind="s3", endpoint="https://minio.example:9000", path_style=False),
        ),
        (
            "s3://?region=eu-west-1&path_style=TRUE",
            BlobsSpec(kind="s3", region="eu-west-1", path_style=True),
        ),
    ],
)
def test_blob_urls(url: str, spec: BlobsSpec) -> None:
    assert parse_blobs_url(url) == spec


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket", "unsupported engine 'gs'"),
        ("file://", "a path is required"),
        ("s3://pre-work-media-uploads", "bucket names come from PREWORK_BUCKET_"),
        ("s3://?path_style=maybe", "path_style must be true or false"),
        ("s3://?endpoint=ftp://x", "endpoint must be an http(s) URL"),
        ("s3://?bucket=x", "unknown parameter(s) bucket"),
    ],
)
def test_bad_blob_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_blobs_url(url)
    assert message in str(caught.value)
    assert "PREWORK_BLOBS" in str(caught.value)


# --------------------------------------------------------------------------- adapters
def test_open_picks_the_embedded_adapters(tmp_path: Path) -> None:
    from prework.blobs.local import LocalBlobStore
    from prework.store.memory import MemoryStore
    from prework.store.sqlite import SqliteStore

    s = settings(tmp_path, store=f"sqlite:///{tmp_path}/p.db", blobs=f"file://{tmp_path}/b")
    assert isinstance(open_store(s), SqliteStore)
    assert isinstance(open_blobs(s), LocalBlobStore)
    assert isinstance(open_store(settings(tmp_path, store="memory://")), MemoryStore)
    assert not (tmp_path / "p.db").exists()  # opening is cheap: nothing touched yet


def test_open_rejects_a_bad_url_before_importing_anything(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_store(settings(tmp_path, store="mysql://x"))
    with pytest.raises(ConfigError):
        open_blobs(settings(tmp_path, blobs="ftp://x"))


# --------------------------------------------------------------------------- secrets
def test_secret_key_from_the_environment_wins(tmp_path: Path) -> None:
    s = settings(tmp_path, secret_key="from-env-0123456789abcdef")
    assert resolve_secret_key(s) == b"from-env-0123456789abcdef"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_short_secret_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too short"):
        resolve_secret_key(settings(tmp_path, secret_key="short"))


def test_embedded_engines_generate_a_private_key_file_once(tmp_path: Path) -> None:
    s = settings(tmp_path / "data")
    first = resolve_secret_key(s)
    path = tmp_path / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 43  # 32 random bytes, URL-safe base64
    assert resolve_secret_key(s) == first
    assert resolve_secret_key(settings(tmp_path / "other")) != first
    assert [p.name for p in path.parent.iterdir()] == [SECRET_KEY_FILE]  # no temp files left


def test_concurrent_creators_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / SECRET_KEY_FILE
    results: list[tuple[bytes, bool]] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(ensure_secret_key_file(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({key for key, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert os.listdir(tmp_path) == [SECRET_KEY_FILE]


def test_aws_engines_require_the_secret_key(tmp_path: Path) -> None:
    for values in (
        {"store": "dynamodb://"},
        {"blobs": "s3://"},
    ):
        with pytest.raises(ConfigError, match="PREWORK_SECRET_KEY is required"):
            resolve_secret_key(settings(tmp_path, **values))
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_derived_keys_differ_by_purpose_and_are_stable() -> None:
    master = b"m" * 32
    blob = derive_key(master, BLOB_SIGNING_PURPOSE)
    jwt = derive_key(master, "jwt")
    assert len(blob) == 32
    assert blob != jwt
    assert blob != master
    assert derive_key(master, BLOB_SIGNING_PURPOSE) == blob
    assert derive_key(b"n" * 32, BLOB_SIGNING_PURPOSE) != blob
    assert derive_key(master, "jwt", length=16) == jwt[:16]
    with pytest.raises(ValueError, match="purpose"):
        derive_key(master, "")


def test_previous_secret_keys_are_kept_in_order(tmp_path: Path) -> None:
    s = settings(tmp_path, previous_secret_keys=["older-key-0123456789", "oldest-key-0123456789"])
    assert previous_secret_keys(s) == [b"older-key-0123456789", b"oldest-key-0123456789"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost:6379", "unsupported engine 'redis'"),
        ("memory://host", "takes no host or path"),
        ("memory://?size=3", "unknown parameter"),
        ("", "unsupported engine"),
    ],
)
def test_bad_pubsub_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="PREWORK_PUBSUB") as caught:
        parse_pubsub_url(url)
    assert message in str(caught.value)


def test_the_event_bus_defaults_to_the_in_process_one(tmp_path: Path) -> None:
    from prework.pubsub.memory import MemoryPubSub

    assert parse_pubsub_url("memory://") == "memory"
    assert isinstance(open_pubsub(settings(tmp_path)), MemoryPubSub)
    with pytest.raises(ConfigError):
        open_pubsub(settings(tmp_path, pubsub="kafka://x"))
