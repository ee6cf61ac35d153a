"""Test engines outlive no session: a crashed test run leaves no engine behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CRASHING_SESSION = """
import os, signal
from prework.testing.engines.seaweedfs import start_seaweedfs

engine = start_seaweedfs()
print(engine.pid, engine._process.workdir, flush=True)
os.kill(os.getpid(), signal.{signal})  # no atexit, no finally: a crashed session
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting for its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_engine_dies_with_the_session_that_started_it(signal_name: str) -> None:
    session = subprocess.run(
        [sys.executable, "-c", CRASHING_SESSION.format(signal=signal_name)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert session.returncode == -getattr(signal, signal_name), session.stderr
    pid_text, workdir = session.stdout.split()
    pid = int(pid_text)
    try:
        deadline = time.monotonic() + 20
        while _running(pid) or Path(workdir).exists():
            assert time.monotonic() < deadline, f"engine {pid} outlived its session"
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # do not leak it from this test either
