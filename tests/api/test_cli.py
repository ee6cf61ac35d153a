"""The ``prework`` command, run as a real process in a scratch directory."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

import prework
from prework.cli import app

# cheap hashing (the server hashes a dummy password at startup): this file checks
# the command, tests/unit/identity/test_passwords.py the production cost
CHEAP_HASHING = {"PREWORK_PASSWORD_HASH_TIME_COST": "1", "PREWORK_PASSWORD_HASH_MEMORY_KIB": "1024"}


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
    env.update(CHEAP_HASHING)
    env.update(values)
    return env


def _prework(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prework", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"prework {prework.__version__}"


def test_init_creates_everything_once_and_is_idempotent(tmp_path: Path) -> None:
    env = _env()  # the defaults: sqlite:///var/prework.db, file://var/blobs, data dir var
    first = _prework("init", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "data dir var: created" in first.stdout
    assert "secret key var/secret.key: generated" in first.stdout
    assert "10 tables ready" in first.stdout

    var = tmp_path / "var"
    key = (var / "secret.key").read_bytes()
    assert (var / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (var / "prework.db").is_file()
    assert _modes(var) == {"var": 0o700, "prework.db": 0o600, "secret.key": 0o600}
    with sqlite3.connect(var / "prework.db") as db:
        tables_before = sorted(db.execute("select name from sqlite_master").fetchall())
    blob_dirs = sorted(p.name for p in (var / "blobs").iterdir())
    assert blob_dirs == sorted(
        ["pre-work-media-uploads", "pre-work-thumbnails", "pre-work-documents"]
    )

    second = _prework("init", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "data dir var: exists" in second.stdout
    assert "secret key var/secret.key: exists" in second.stdout
    assert (var / "secret.key").read_bytes() == key
    with sqlite3.connect(var / "prework.db") as db:
        assert sorted(db.execute("select name from sqlite_master").fetchall()) == tables_before
    assert sorted(p.name for p in (var / "blobs").iterdir()) == blob_dirs


def _modes(var: Path) -> dict[str, int]:
    """The permission bits of the data directory and its private files that exist."""
    names = ("prework.db", "prework.db-wal", "prework.db-shm", "secret.key")
    modes = {"var": var.stat().st_mode & 0o777}
    modes.update({n: (var / n).stat().st_mode & 0o777 for n in names if (var / n).exists()})
    return modes


def test_init_tightens_a_data_dir_an_older_release_left_readable(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    with sqlite3.connect(var / "prework.db") as db:
        db.execute("PRAGMA journal_mode = WAL")
    (var / "prework.db").chmod(0o644)
    result = _prework("init", cwd=tmp_path, env=_env())
    assert result.returncode == 0, result.stderr
    assert "data dir var: tightened to 0700" in result.stdout
    assert _modes(var) == {"var": 0o700, "prework.db": 0o600, "secret.key": 0o600}


def test_init_on_aws_engines_without_a_secret_key_fails_clearly(tmp_path: Path) -> None:
    env = _env(PREWORK_STORE="dynamodb://?endpoint=http://127.0.0.1:9", PREWORK_BLOBS="s3://")
    result = _prework("init", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "PREWORK_SECRET_KEY is required" in result.stderr
    assert not (tmp_path / "var").exists()


def test_bad_engine_url_is_a_clear_error(tmp_path: Path) -> None:
    result = _prework("init", cwd=tmp_path, env=_env(PREWORK_STORE="postgres://db"))
    assert result.returncode == 1
    assert "PREWORK_STORE='postgres://db': unsupported engine 'postgres'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_a_secret_on_aws_engines(tmp_path: Path) -> None:
    result = _prework("serve", cwd=tmp_path, env=_env(PREWORK_STORE="dynamodb://"))
    assert result.returncode == 2
    assert "PREWORK_SECRET_KEY is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_checks_the_previous_secret_keys_before_starting(tmp_path: Path) -> None:
    env = _env(PREWORK_PREVIOUS_SECRET_KEYS='["too-short"]', PREWORK_PORT="1")
    result = _prework("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "PREWORK_PREVIOUS_SECRET_KEYS is too short" in result.stderr
    assert "Traceback" not in result.stderr
    assert "too-short" not in result.stderr


def test_invalid_settings_are_reported_without_their_values(tmp_path: Path) -> None:
    secret = "98765432109876543210987"
    env = _env(PREWORK_PREVIOUS_SECRET_KEYS=f"[{secret}]", PREWORK_PORT="eighty")
    result = _prework("init", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "PREWORK_PREVIOUS_SECRET_KEYS" in result.stderr
    assert "PREWORK_PORT" in result.stderr
    assert secret not in result.stderr
    assert "eighty" not in result.stderr
    assert "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_serve_answers_and_logs_json(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(PREWORK_PORT=str(port), PREWORK_LOG_JSON="true")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prework", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"http://127.0.0.1:{port}/readyz", headers={"X-Request-ID": "serve-1"}
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, "server exited"
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert response.status_code == 200  # init ran at startup (embedded engines)
        # the embedded start made them private: the database is open, so -wal and -shm exist
        assert _modes(tmp_path / "var") == {
            "var": 0o700,
            "prework.db": 0o600,
            "prework.db-wal": 0o600,
            "prework.db-shm": 0o600,
            "secret.key": 0o600,
        }
        assert response.headers["X-Request-ID"] == "serve-1"
        assert "server" not in response.headers
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(lines) == len(output.splitlines()), output  # every line is JSON
    access = [e for e in lines if e.get("event") == "request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "serve-1"
    assert access[0]["status"] == 200
    assert access[0]["logger"] == "prework.access"
    assert not any(e.get("logger") == "uvicorn.access" for e in lines)
