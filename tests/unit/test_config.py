"""Settings from PREWORK_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from prework.config import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PREWORK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_engines() -> None:
    s = Settings()
    assert s.store == "sqlite:///var/prework.db"
    assert s.blobs == "file://var/blobs"
    assert s.data_dir == Path("var")
    assert s.is_embedded
    assert s.secret_key is None
    assert s.cors_origins == []
    assert s.bucket_names == {
        "media": "pre-work-media-uploads",
        "thumbnails": "pre-work-thumbnails",
        "documents": "pre-work-documents",
    }


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREWORK_STORE", "dynamodb://?region=eu-west-1")
    monkeypatch.setenv("PREWORK_BLOBS", "s3://")
    monkeypatch.setenv("PREWORK_PUBLIC_URL", "https://prework.example/")
    monkeypatch.setenv("PREWORK_CORS_ORIGINS", '["https://app.example"]')
    monkeypatch.setenv("PREWORK_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("PREWORK_SECRET_KEY", "s3cret-0123456789abcdef")
    monkeypatch.setenv("PREWORK_LOG_JSON", "false")
    monkeypatch.setenv("PREWORK_BUCKET_MEDIA", "acme-media")
    s = Settings()
    assert not s.is_embedded
    assert s.public_url == "https://prework.example"
    assert s.cors_origins == ["https://app.example"]
    assert s.max_body_bytes == 2048
    assert s.secret_key is not None
    assert s.secret_key.get_secret_value() == "s3cret-0123456789abcdef"
    assert "s3cret" not in repr(s)
    assert s.log_json is False
    assert s.bucket_names["media"] == "acme-media"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PREWORK_PORT=9123\nPREWORK_LOG_LEVEL=debug\n")
    s = Settings()
    assert s.port == 9123
    assert s.log_level == "debug"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREWORK_LOG_LEVEL", "loud")
    with pytest.raises(ValueError, match="log_level"):
        Settings()


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    names = [f"PREWORK_{name.upper()}" for name in Settings.model_fields]
    assert [name for name in names if f"| `{name}` |" not in readme] == []


@pytest.mark.parametrize(
    ("store", "blobs", "embedded"),
    [
        ("sqlite:///var/prework.db", "file://var/blobs", True),
        ("memory://", "file:///srv/blobs", True),
        ("SQLITE:///x.db", "FILE://var/blobs", True),  # schemes as bootstrap reads them
        (" sqlite:///x.db", " file://var/blobs", True),
        ("sqlite:///x.db", "memory://", False),  # there is no memory blob engine
        ("dynamodb://", "file://var/blobs", False),
        ("sqlite:///x.db", "s3://", False),
        ("sqlitex:///x.db", "file://var/blobs", False),
        ("http://[::1", "file://var/blobs", False),  # not a URL at all
    ],
)
def test_is_embedded_follows_the_engine_schemes(store: str, blobs: str, embedded: bool) -> None:
    assert Settings(store=store, blobs=blobs).is_embedded is embedded


def test_readme_links_every_doc() -> None:
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Documentation", 1)[1].split("\n## ", 1)[0]
    docs = sorted(p.name for p in (repo / "docs").glob("*.md"))
    assert docs
    assert [name for name in docs if f"](docs/{name})" not in section] == []


def test_connection_limits_default_to_bounds_and_refuse_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Settings()
    assert (s.http_parser, s.header_timeout_seconds, s.body_timeout_seconds) == (
        "httptools",
        10.0,
        30.0,
    )
    assert (s.keep_alive_seconds, s.max_connections, s.max_header_bytes) == (5.0, 1000, 16384)
    for name, value in [
        ("PREWORK_HEADER_TIMEOUT_SECONDS", "0"),
        ("PREWORK_KEEP_ALIVE_SECONDS", "-1"),
        ("PREWORK_MAX_CONNECTIONS", "0"),
        ("PREWORK_HTTP_PARSER", "wsgi"),
    ]:
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ValueError, match=name.removeprefix("PREWORK_").lower()):
                Settings()


def test_the_data_directory_holds_the_embedded_engines_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = Settings()
    assert (default.store, default.blobs) == ("sqlite:///var/prework.db", "file://var/blobs")
    monkeypatch.setenv("PREWORK_DATA_DIR", "/srv/prework")
    moved = Settings()
    assert (moved.store, moved.blobs) == (
        "sqlite:////srv/prework/prework.db",
        "file:///srv/prework/blobs",
    )
    # an engine URL given stays as given
    monkeypatch.setenv("PREWORK_STORE", "memory://")
    assert Settings().store == "memory://"
