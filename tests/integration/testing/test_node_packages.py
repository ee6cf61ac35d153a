"""npm packages for the test engines: fetched once, checked against their pin, never half
there; the reference json0 worker outlives no session."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prework.testing.engines.json0_reference import OT_JSON0, start_json0_reference
from prework.testing.engines.node_packages import (
    SHAREDB,
    NpmPackage,
    ensure_npm_package,
    node_executable,
)
from prework.testing.engines.process import EngineStartError
from tests.integration.testing.test_engines import _running

CRASHING_SESSION = """
import os, signal
from prework.testing.engines.json0_reference import start_json0_reference

engine = start_json0_reference()
print(engine.pid, engine._process.workdir, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no finally: a crashed session
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PREWORK_ENGINES_DIR", str(tmp_path))
    return tmp_path


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith(".fetch-"))


def test_a_package_is_fetched_checked_and_unpacked_once(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = ensure_npm_package(OT_JSON0)
    assert folder == cache / "npm-ot-json0-1.1.0"
    manifest = json.loads((folder / "package.json").read_text())
    assert (manifest["name"], manifest["version"]) == ("ot-json0", "1.1.0")
    assert (folder / "lib" / "json0.js").is_file()
    assert _leftovers(cache) == []
    monkeypatch.setenv("PATH", "")  # no npm now: the cached copy is used as it is
    assert ensure_npm_package(OT_JSON0) == folder


def test_a_tarball_that_does_not_match_its_pin_is_refused_and_not_kept(cache: Path) -> None:
    forged = NpmPackage(
        "ot-json0", "1.1.0", integrity="sha512-" + base64.b64encode(bytes(64)).decode()
    )
    with pytest.raises(EngineStartError, match="does not match its pinned integrity hash"):
        ensure_npm_package(forged)
    assert not (cache / forged.folder_name()).exists()
    assert _leftovers(cache) == []


def test_a_package_with_dependencies_is_installed_as_its_lockfile_pins_them(cache: Path) -> None:
    folder = ensure_npm_package(SHAREDB)
    assert folder == cache / SHAREDB.folder_name() / "node_modules" / "sharedb"
    assert json.loads((folder / "package.json").read_text())["version"] == "7.0.0"
    assert _leftovers(cache) == []
    # its dependencies resolve: a backend starts and applies a json0 op
    script = """
const ShareDB = require(process.argv[1]);
const backend = new ShareDB();
const doc = backend.connect().get('c', 'd');
doc.create({n: 1}, (err) => {
  if (err) throw err;
  doc.submitOp([{p: ['n'], na: 2}], (err) => {
    if (err) throw err;
    console.log(JSON.stringify(doc.data));
    backend.close();
  });
});
"""
    ran = subprocess.run(
        [node_executable(), "-e", script, str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == {"n": 3}


def test_a_package_with_dependencies_and_no_lockfile_is_refused(cache: Path) -> None:
    unpinned = NpmPackage(SHAREDB.name, SHAREDB.version, integrity=SHAREDB.integrity)
    with pytest.raises(EngineStartError, match="declares dependencies: pin them with a lockfile"):
        ensure_npm_package(unpinned)
    assert not (cache / unpinned.folder_name()).exists()


def test_a_lockfile_that_does_not_pin_the_package_s_integrity_is_refused(
    cache: Path, tmp_path: Path
) -> None:
    assert SHAREDB.lockfile is not None
    lock = json.loads(SHAREDB.lockfile.read_text())
    lock["packages"]["node_modules/sharedb"]["integrity"] = OT_JSON0.integrity
    forged = tmp_path / "forged-lock.json"
    forged.write_text(json.dumps(lock))
    package = NpmPackage(SHAREDB.name, SHAREDB.version, SHAREDB.integrity, lockfile=forged)
    with pytest.raises(EngineStartError, match=r"does not pin sharedb@7\.0\.0 at its integrity"):
        ensure_npm_package(package)
    assert not (cache / package.folder_name()).exists()


def test_without_npm_a_missing_package_fails_saying_so(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EngineStartError, match="npm is not installed"):
        ensure_npm_package(OT_JSON0)


def test_without_node_the_reference_worker_fails_saying_so(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_npm_package(OT_JSON0)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(EngineStartError, match="node is not installed"):
        start_json0_reference()


def test_a_package_is_pinned_by_name_and_version() -> None:
    with pytest.raises(ValueError, match="not a pinned npm package"):
        NpmPackage("ot-json0", "^1.1.0", integrity=OT_JSON0.integrity)


def test_the_reference_worker_dies_with_the_session_that_started_it() -> None:
    session = subprocess.run(
        [sys.executable, "-c", CRASHING_SESSION],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert session.returncode == -signal.SIGKILL, session.stderr
    pid_text, workdir = session.stdout.split()
    pid = int(pid_text)
    try:
        deadline = time.monotonic() + 20
        while _running(pid) or Path(workdir).exists():
            assert time.monotonic() < deadline, f"worker {pid} outlived its session"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
