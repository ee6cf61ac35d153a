"""Run an engine as a child process that cannot outlive the test session.

The parts every engine shares (see :mod:`prework.testing.engines.dynamodb_local`
and :mod:`prework.testing.engines.seaweedfs`): free loopback ports, a child in
its own process group with its log in a file, readiness polling, and a
lifecycle that stops the engine once, as a context manager.

**No leftovers.** Each engine runs in its own process group, stopped by
:meth:`Engine.stop` (or at interpreter exit). In case this process dies without
stopping it (SIGKILL, an unhandled SIGTERM, ``os._exit``, a crashed test
session), every engine has a small watchdog process holding a pipe from this
one: when the pipe closes without a "stopped" message, the watchdog stops the
engine's process group and removes its temporary files.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "LOOPBACK",
    "Engine",
    "EngineStartError",
    "Process",
    "botocore_client",
    "clean_env",
    "free_ports",
    "poll",
    "port_free",
]

LOOPBACK = "127.0.0.1"
DEFAULT_START_TIMEOUT = 60.0
_LOG_TAIL_LINES = 40
_STOP_GRACE_SECONDS = 10.0


class EngineStartError(RuntimeError):
    """An engine could not be fetched, started or reached."""


# --------------------------------------------------------------------------- ports
def free_ports(count: int, *, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports free on ``host`` right now (``""``: on every interface)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            family = socket.AF_INET6 if host == "" and socket.has_ipv6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind((host or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0))  # noqa: S104
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


# --------------------------------------------------------------------------- processes
# The watchdog of one engine (run with ``python -I -c``; argv: the engine's
# process group, the grace period, then paths to remove). It blocks reading
# its stdin, a pipe whose only writer is the process that started the engine:
# "stopped" means the engine was stopped properly; end of file without it
# means that process died, so the watchdog stops the group and cleans up.
_WATCHDOG = """
import os, shutil, signal, sys, time
for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
    signal.signal(sig, signal.SIG_IGN)
pgid, grace, paths = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
if sys.stdin.buffer.read() == b"stopped":
    sys.exit(0)
def signal_group(sig):
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
if signal_group(signal.SIGTERM):
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and signal_group(0):
        time.sleep(0.1)
    signal_group(signal.SIGKILL)
for path in paths:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass
"""


class Process:
    """A child process in its own session and process group, logging to a file,
    watched by a watchdog that stops it if this process dies first.

    ``leftovers``: files the engine may leave outside ``workdir``, removed by
    the watchdog (``workdir`` itself always is). ``pipes``: the child's stdin
    and stdout are pipes to this process (``popen.stdin``, ``popen.stdout``,
    binary) and only its stderr goes to the log (a worker that answers
    requests); else stdin is ``/dev/null`` and both outputs go to the log.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: dict[str, str],
        leftovers: Sequence[Path] = (),
        pipes: bool = False,
    ):
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        try:
            self.popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                list(argv),
                cwd=workdir,
                env=env,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else self._log,
                stderr=self._log if pipes else subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise EngineStartError(f"could not run {argv[0]}: {exc}") from exc
        try:
            self._watchdog = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [
                    sys.executable,
                    "-I",
                    "-c",
                    _WATCHDOG,
                    str(self.popen.pid),
                    str(_STOP_GRACE_SECONDS),
                    str(workdir),
                    *map(str, leftovers),
                ],
                stdin=subprocess.PIPE,  # our end is close-on-exec: no other child holds it
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C to the test run's group does not reach it
            )
        except OSError as exc:
            self._kill_group()
            self._log.close()
            raise EngineStartError(f"could not start the watchdog of {name}: {exc}") from exc

    @property
    def exited(self) -> bool:
        return self.popen.poll() is not None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def failure(self, message: str) -> EngineStartError:
        status = f" (exit status {self.popen.returncode})" if self.exited else ""
        return EngineStartError(
            f"{self.name} {message}{status}; last lines of {self.log_path.name}:\n{self.log_tail()}"
        )

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=_STOP_GRACE_SECONDS)

    def stop(self) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after a grace period."""
        try:
            if not self.exited:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGTERM)
                try:
                    self.popen.wait(timeout=_STOP_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    self._kill_group()
            # stragglers left in the group after the leader exited
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        finally:
            for pipe in (self.popen.stdin, self.popen.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            self._log.close()
            self._release_watchdog()

    def _release_watchdog(self) -> None:
        """Tell the watchdog the engine is stopped (only after it is)."""
        stdin = self._watchdog.stdin
        assert stdin is not None
        with contextlib.suppress(OSError):  # the watchdog may be gone already
            stdin.write(b"stopped")
        with contextlib.suppress(OSError):
            stdin.close()
        try:
            self._watchdog.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._watchdog.kill()
            self._watchdog.wait()


_live: set[Engine] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for engine in leftovers:
        engine.stop()


class Engine:
    """Common lifecycle of a started engine: stop once, usable as a context manager."""

    def __init__(self, process: Process, *, cleanup: Callable[[], None] | None = None):
        self._process = process
        self._cleanup = cleanup
        self._stopped = False
        with _live_lock:
            _live.add(self)

    @property
    def pid(self) -> int:
        return self._process.popen.pid

    @property
    def running(self) -> bool:
        return not self._stopped and not self._process.exited

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return self._process.log_tail(lines)

    def stop(self) -> None:
        """Stop the engine and remove its temporary directory. Idempotent."""
        with _live_lock:
            if self._stopped:
                return
            self._stopped = True
            _live.discard(self)
        try:
            self._process.stop()
        finally:
            if self._cleanup is not None:
                self._cleanup()
            shutil.rmtree(self._process.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def clean_env() -> dict[str, str]:
    """The environment minus AWS settings (weed turns AWS_* keys into an extra identity)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def poll(
    probe: Callable[[], None],
    *,
    what: str,
    timeout: float,
    process: Process | None,
) -> None:
    """Call ``probe`` until it returns, the process exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    delay = 0.05
    while True:
        try:
            probe()
            return
        except Exception as exc:  # any failure means "not ready yet"
            last = exc
        if process is not None and process.exited:
            raise process.failure(f"exited before {what} answered (last error: {last})")
        if time.monotonic() >= deadline:
            if process is not None:
                raise process.failure(f"did not answer within {timeout:.0f}s (last error: {last})")
            raise EngineStartError(f"{what} did not answer within {timeout:.0f}s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def botocore_client(service: str, endpoint: str, **kwargs: Any) -> Any:
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 1},
        **kwargs.pop("config", {}),
    )
    return botocore.session.get_session().create_client(
        service, endpoint_url=endpoint, config=config, **kwargs
    )
