"""Schemathesis over the whole OpenAPI document of a real ``prework serve``.

Every operation the app serves is walked (routes added later included: the
document is the route list), with positive and negative data, every check,
a fixed seed and a bounded number of examples, signed in as an owner (it logs
in again whenever its token stops working: the walk logs itself out too). It
must find no 5xx, no answer outside its operation's schema and no
undocumented status. What the schema cannot express is said in
``schemathesis/schemathesis.toml``. The same run over the app with a planted
bug (``schemathesis/planted.py``) must fail.
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

from tests.api.schemathesis.planted import PLANTED_PATH

ROOT = Path(__file__).parents[2]
CONFIG = Path(__file__).parent / "schemathesis" / "schemathesis.toml"
SEED = "20261201"
MAX_EXAMPLES = "12"  # per operation, for the fuzzing and stateful phases
WORKERS = "1"
EMAIL = "fuzz-owner@example.com"
SEED_TEMPLATE = {
    "name": "Fuzzed checklist",
    "definition": {
        "sections": [
            {
                "id": "s",
                "title": "Checks",
                "items": [
                    {"id": "a", "type": "yes_no_na", "label": "Isolated", "required": True},
                    {"id": "b", "type": "number", "label": "O2", "min": 0, "max": 100},
                    {"id": "c", "type": "text", "label": "Notes"},
                ],
            }
        ]
    },
}
PASSWORD = "correct horse battery staple fuzz"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, command: list[str]) -> Iterator[str]:
    """``command`` (a uvicorn server of the app, on SQLite and file blobs in
    ``tmp_path``, ``{port}`` in it filled in) with the fuzz owner registered; its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
    env.update(
        PREWORK_DATA_DIR=str(tmp_path / "var"),
        PREWORK_PASSWORD_HASH_TIME_COST="1",
        PREWORK_PASSWORD_HASH_MEMORY_KIB="1024",
        PREWORK_REGISTER_MAX_PER_ADDRESS="100000",
        PREWORK_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
        # the run learns the owner's email from answers and tries wrong passwords with it
        PREWORK_LOGIN_MAX_FAILURES_PER_ACCOUNT="100000",
        PREWORK_LOG_LEVEL="warning",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]),
    )
    proc = subprocess.Popen(
        [arg.format(port=port) for arg in command],
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
            assert proc.poll() is None, "the server exited"
            time.sleep(0.1)
        else:
            pytest.fail("the server did not become ready")
        r = httpx.post(
            f"{base}/api/auth/register",
            json={
                "organization_name": "Fuzz Ltd",
                "email": EMAIL,
                "password": PASSWORD,
                "display_name": "Fuzz Owner",
            },
        )
        assert r.status_code == 201, r.text
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _an_assignment(base: str) -> str:
    """A started assignment of the fuzzing owner (a published template, the owner as
    the assignee), so that the routes under ``/api/assignments/{assignment_id}`` reach
    their rules instead of a 404."""
    token = httpx.post(
        f"{base}/api/auth/login", json={"email": EMAIL, "password": PASSWORD}
    ).json()["access_token"]
    me = httpx.get(f"{base}/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    headers = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{base}/api/templates", headers=headers, json=SEED_TEMPLATE)
    assert r.status_code == 201, r.text
    template_id = r.json()["id"]
    r = httpx.post(f"{base}/api/templates/{template_id}/publish", headers=headers)
    assert r.status_code == 200, r.text
    r = httpx.post(
        f"{base}/api/assignments",
        headers=headers,
        json={
            "template_id": template_id,
            "assignee": {"type": "user", "id": me["user"]["id"]},
            "job_ref": "FUZZ-1",
            "planned_start": "2030-01-01T08:00:00Z",
            "due_at": "2030-01-01T07:00:00Z",
        },
    )
    assert r.status_code == 201, r.text
    assignment_id: str = r.json()["id"]
    r = httpx.post(f"{base}/api/assignments/{assignment_id}/start", headers=headers)
    assert r.status_code == 200, r.text
    return assignment_id


def _schemathesis(
    base: str, tmp_path: Path, *options: str, timeout: float, assignment_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The run over ``base``'s whole document, as ``make test`` runs it (``options`` added)."""
    config = tmp_path / "schemathesis.toml"
    seeded = (
        "\n[[operations]]\n"
        'include-path-regex = "^/api/assignments/\\\\{assignment_id\\\\}"\n'
        f'parameters = {{ assignment_id = "{assignment_id}" }}\n'
        if assignment_id is not None
        else ""
    )
    config.write_text(
        CONFIG.read_text()
        + seeded
        + "\n[auth.dynamic.openapi.bearer]\n"
        + 'path = "/api/auth/login"\n'
        + f'payload = {{ email = "{EMAIL}", password = "{PASSWORD}" }}\n'
        + 'extract_selector = "/access_token"\n'
        # the run logs itself out (POST /api/auth/logout): a 401 then means "log in again"
        + "retry_on = [401]\n"
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            WORKERS,
            "--no-color",
            *options,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``prework serve``; its base URL."""
    yield from _serve(tmp_path, [sys.executable, "-m", "prework", "serve", "--port", "{port}"])


@pytest.fixture
def served_with_a_bug(tmp_path: Path) -> Iterator[str]:
    """The app with a planted 5xx route (``schemathesis/planted.py``); its base URL."""
    yield from _serve(
        tmp_path,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tests.api.schemathesis.planted:create_app",
            "--port",
            "{port}",
            "--log-level",
            "warning",
        ],
    )


@pytest.mark.timeout(330)
def test_schemathesis_finds_nothing_over_the_whole_api(served: str, tmp_path: Path) -> None:
    run = _schemathesis(served, tmp_path, timeout=280, assignment_id=_an_assignment(served))
    report = run.stdout[-20000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    assert "Tested: " in run.stdout, report


@pytest.mark.timeout(120)
def test_the_same_run_fails_on_a_planted_5xx(served_with_a_bug: str, tmp_path: Path) -> None:
    # the same command, config and checks, over the planted route only (to be quick)
    run = _schemathesis(served_with_a_bug, tmp_path, "--include-path", PLANTED_PATH, timeout=90)
    report = run.stdout[-8000:] + run.stderr[-2000:]
    assert run.returncode == 1, report
    assert "Server error" in run.stdout, report
    assert f"POST {PLANTED_PATH}" in run.stdout, report
