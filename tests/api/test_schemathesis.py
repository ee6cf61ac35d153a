"""Schemathesis over the whole OpenAPI document of a real ``prework serve``.

Every operation the app serves is walked (routes added later included: the
document is the route list), with positive and negative data, every check,
a fixed seed and a bounded number of examples, signed in as an owner (a
fresh token for each case: the walk logs itself out too). It must find no
5xx, no answer outside its operation's schema and no undocumented status.
What the schema cannot express is said in ``schemathesis/schemathesis.toml``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CONFIG = Path(__file__).parent / "schemathesis" / "schemathesis.toml"
SEED = "20261201"
MAX_EXAMPLES = "12"  # per operation and phase: about 30 s on the 2-core machine
EMAIL = "fuzz-owner@example.com"
PASSWORD = "correct horse battery staple fuzz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``prework serve`` on SQLite and file blobs in ``tmp_path``; its base URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
    env.update(
        PREWORK_DATA_DIR=str(tmp_path / "var"),
        PREWORK_PASSWORD_HASH_TIME_COST="1",
        PREWORK_PASSWORD_HASH_MEMORY_KIB="1024",
        PREWORK_REGISTER_MAX_PER_ADDRESS="100000",
        PREWORK_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
        PREWORK_LOG_LEVEL="warning",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "prework", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to ~30 s on a loaded machine
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "prework serve exited"
            time.sleep(0.1)
        else:
            pytest.fail("prework serve did not become ready")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.timeout(330)
def test_schemathesis_finds_nothing_over_the_whole_api(served: str, tmp_path: Path) -> None:
    r = httpx.post(
        f"{served}/api/auth/register",
        json={
            "organization_name": "Fuzz Ltd",
            "email": EMAIL,
            "password": PASSWORD,
            "display_name": "Fuzz Owner",
        },
    )
    assert r.status_code == 201, r.text
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.read_text()
        + "\n[auth.dynamic.openapi.bearer]\n"
        + 'path = "/api/auth/login"\n'
        + f'payload = {{ email = "{EMAIL}", password = "{PASSWORD}" }}\n'
        + 'extract_selector = "/access_token"\n'
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{served}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    report = run.stdout[-20000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    assert "Tested: " in run.stdout, report
