"""Direct uploads: what passes through the app, what it reads back, how long confirming takes.

Two parts, one after the other (every server on a free loopback port, everything in
one temporary folder removed at the end):

**SeaweedFS** (the issue's "100 concurrent 5 MB uploads through presigned POST"):
SeaweedFS (``weed mini``, as the tests start it) with buckets of this run's own,
made by ``prework init``; the app on SQLite with its blobs on SeaweedFS, served by
uvicorn with ``prework serve``'s protocol and settings in a child process of this
script (``--serve-child``), the app wrapped in two counters that change nothing it
does: an ASGI layer outside the app counting the bytes of every ``http.request``
body it receives, by path (``/api/media/*``, ``/api/blobs/*``, the rest), and a
subclass of the S3 blob store counting the bytes of every object read back (``get``)
by who reads it: a thumbnail task (``asyncio`` task ``thumbnail-<id>``, what
``MediaService._spawn`` names them) or anything else (confirm), and the bytes of
thumbnails written (``put``); ``MediaService.bytes_read`` is read too, as a check of
the total. Seeded over the HTTP API: an organization, a crew of ``CREW`` workers
(invited, accepted), a published template with a photo item, one started assignment
per worker. Then ``--uploads`` (100) clients at once, client ``i`` as worker
``i % CREW``, each: ``POST /api/media/upload-url``, the form straight to SeaweedFS,
``POST /api/media/confirm-upload``; then the bench waits for the thumbnails
(``MediaService.drain()``) and checks every record (ready, thumbnails ready); the app's
CPU time and largest ``VmRSS`` (polled every 50 ms) are taken over each case. Cases:
a ~5 MiB JPEG photo (real: 2560x1920 of noise at quality 94, so it stays ~5 MiB)
without and with ``sha256`` in the upload request (SeaweedFS verifies the body
against it and reports it on ``HEAD``), and a 5 MiB PDF document (``%PDF-1.7``
and random bytes) with and without ``sha256``.

**Embedded** (the issue's "one 1 GB upload"): ``prework serve`` on SQLite and file
blobs (``PREWORK_DATA_DIR`` a temporary folder, ``PREWORK_PUBLIC_URL`` its port,
``PREWORK_MEDIA_MAX_DOCUMENT_BYTES`` 2 GiB), seeded the same way (one worker); one
small upload and confirm first (warm-up: imports, connections); then a 1 GiB file
(``%PDF-1.7`` and random bytes, written once beside the data folder, on the same
filesystem) uploaded through the app's form route by httpx, which streams a file
part in 64 KiB reads (the file is never in the client's memory), while a thread polls
the server's ``VmRSS`` every 50 ms (and reads ``VmHWM`` before and after); then
confirmed (the file engine recorded the SHA-256 while storing the body: confirm
reads only the head; the server's ``rchar`` from ``/proc/<pid>/io`` during the
confirm shows what it read: every ``read`` call, sockets and SQLite included). The
baseline, the same file copied on the same filesystem in the same run, before and
after the upload: ``cp`` then ``sync FILE`` (the file engine fsyncs each object
before renaming it into place, so the copy is timed with its fsync too; ``cp``
alone is printed as well). Throughput: MiB/s of the upload (the whole request, as
the client sees it) and as a fraction of the faster copy's.

Goals (issue, ok/MISS): SeaweedFS: 0 bytes of files in request bodies the app
receives (only the small JSON bodies of ``/api/media/*``); embedded: RSS growth
during the 1 GiB upload < 30 MiB. Everything else is reported, not judged. A
benchmark, not a test: the figures depend on the machine and its load (the load
average is printed; the clients run in this process and share the machine's cores
with the servers). Passwords are hashed cheaply here (not what is measured); access
tokens live 2 h. Run: ``python bench/bench_media.py [--quick] [--uploads N]
[--big-mib N] [--only seaweedfs|embedded]`` (``--quick``: 10 uploads, a 100 MiB file).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import math
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench_assignments import PASSWORD, prework_env
from bench_http import Server, end_process, free_port

HERE = Path(__file__).resolve()
UPLOADS = 100
QUICK_UPLOADS = 10
CREW = 20
PHOTO_SIZE = (2560, 1920)  # of noise at PHOTO_QUALITY: ~5.1 MiB
PHOTO_QUALITY = 94
PDF_BYTES = 5 * 1024 * 1024
BIG_MIB = 1024
QUICK_BIG_MIB = 100
WARM_UPLOADS = 4
MiB = 1024 * 1024
RSS_POLL_SECONDS = 0.05
GOAL_RSS_MIB = 30.0
PDF_HEAD = b"%PDF-1.7\n"
DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "site",
            "title": "Site",
            "items": [{"id": "site_photo", "type": "photo", "label": "Photo of the site"}],
        }
    ]
}
# the bench's settings for both servers (none of it is what is measured)
BENCH_ENV = {
    "PREWORK_PASSWORD_HASH_TIME_COST": "1",
    "PREWORK_PASSWORD_HASH_MEMORY_KIB": "1024",
    "PREWORK_REGISTER_MAX_PER_ADDRESS": "10000",
    "PREWORK_ACCESS_TOKEN_TTL_SECONDS": "7200",
    "PREWORK_OVERDUE_CHECK_INTERVAL_SECONDS": "0",
    "PREWORK_MEDIA_GC_INTERVAL_SECONDS": "0",
    "PREWORK_LOG_LEVEL": "warning",
}


# =========================================================================== the app side
# (imported only in the child: the parent needs none of the app's modules)
def serve_child(port: int) -> None:
    """The app on the environment's settings, behind the counters, under uvicorn as
    ``prework serve`` runs it (its protocol class, loop and limits)."""
    import uvicorn
    from starlette.responses import JSONResponse

    from prework.app import create_app
    from prework.blobs.base import BlobInfo, BlobStream
    from prework.blobs.s3 import S3BlobStore
    from prework.bootstrap import parse_blobs_url
    from prework.config import Settings
    from prework.logging import configure_logging
    from prework.server import READ_SLACK_BYTES, ConnectionLimits, protocol_class

    reads: dict[str, int] = defaultdict(int)  # bytes read back, by reader

    def reader() -> str:
        task = asyncio.current_task()
        return (
            "thumbnails"
            if task is not None and task.get_name().startswith("thumbnail-")
            else "confirm"
        )

    class CountedStream(BlobStream):
        def __init__(self, stream: BlobStream, who: str) -> None:
            self.stream, self.who, self.info = stream, who, stream.info

        def __aiter__(self) -> AsyncIterator[bytes]:
            return self._chunks()

        async def _chunks(self) -> AsyncIterator[bytes]:
            async for chunk in self.stream:
                reads[self.who] += len(chunk)
                yield chunk

        async def close(self) -> None:
            await self.stream.close()

    class CountingS3(S3BlobStore):
        async def get(self, bucket: str, key: str) -> BlobStream:
            who = reader()
            reads[f"gets_{who}"] += 1
            return CountedStream(await super().get(bucket, key), who)

        async def put(
            self,
            bucket: str,
            key: str,
            body: bytes | AsyncIterator[bytes],
            *,
            content_type: str,
            max_size: int | None = None,
        ) -> BlobInfo:
            info = await super().put(
                bucket, key, body, content_type=content_type, max_size=max_size
            )
            reads[f"written_{bucket}"] += info.size
            return info

    settings = Settings()
    configure_logging(settings)
    spec = parse_blobs_url(settings.blobs)
    blobs = CountingS3(  # keys from the environment (botocore's chain), as prework serve
        endpoint=spec.endpoint,
        region=spec.region,
        path_style=spec.path_style,
        bucket_names=settings.bucket_names,
    )
    app = create_app(settings, blobs=blobs)

    class Counted:
        """Request-body bytes the app receives, by path; ``/__bench/*`` answers here."""

        def __init__(self) -> None:
            self.app: Any = app  # prework.server puts its refusal of large bodies in between
            self.bodies: dict[str, int] = defaultdict(int)
            self.requests: dict[str, int] = defaultdict(int)
            self.largest: dict[str, int] = defaultdict(int)
            self.read_base = 0

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                try:
                    await self.app(scope, receive, send)
                finally:
                    await blobs.close()
                return
            path: str = scope.get("path", "")
            if scope["type"] == "http" and path.startswith("/__bench/"):
                await self.bench(path)(scope, receive, send)
                return
            group = next((g for g in ("/api/media/", "/api/blobs/") if path.startswith(g)), "other")
            self.requests[group] += 1
            received = 0

            async def counted() -> Any:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    size = len(message.get("body", b""))
                    received += size
                    self.bodies[group] += size
                    self.largest[group] = max(self.largest[group], received)
                return message

            await self.app(scope, counted, send)

        def bench(self, path: str) -> Any:
            media = app.state.services.media
            if path == "/__bench/reset":
                for counts in (self.bodies, self.requests, self.largest, reads):
                    counts.clear()
                self.read_base = media.bytes_read
                return JSONResponse({})
            if path == "/__bench/drain":

                async def drained(scope: Any, receive: Any, send: Any) -> None:
                    await media.drain()
                    await JSONResponse({})(scope, receive, send)

                return drained
            return JSONResponse(
                {
                    "bodies": self.bodies,
                    "requests": self.requests,
                    "largest": self.largest,
                    "reads": reads,
                    "bytes_read": media.bytes_read - self.read_base,
                }
            )

    limits = ConnectionLimits.from_settings(settings)
    uvicorn.run(
        Counted(),
        host="127.0.0.1",
        port=port,
        http=protocol_class(settings.http_parser, limits),
        timeout_keep_alive=math.ceil(limits.keep_alive),
        h11_max_incomplete_event_size=limits.max_header_bytes + READ_SLACK_BYTES,
        log_config=None,
        access_log=False,
        server_header=False,
        loop="uvloop",
    )


# =========================================================================== servers
def launch(name: str, args: list[str], env: dict[str, str], log: Path, port: int) -> Server:
    """Start a server on ``port`` (``--port`` appended) and wait for ``/healthz``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*args, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(server.base + "/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(server)
            raise SystemExit(f"{name} did not answer in 60 s")
        time.sleep(0.1)


def stop(server: Server) -> None:
    end_process(server.proc)


def proc_status(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` figure in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field_name)


def proc_io(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


# =========================================================================== the world
@dataclass
class Worker:
    headers: dict[str, str]
    assignment_id: str


async def seed(client: httpx.AsyncClient, crew: int) -> list[Worker]:
    """Over the API: an organization, ``crew`` workers, a template with a photo item,
    one started assignment per worker."""

    async def ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
        if r.status_code != status:
            raise SystemExit(
                f"seeding: {r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
            )
        body: dict[str, Any] = r.json()
        return body

    run = uuid.uuid4().hex[:8]
    owner = await ok(
        await client.post(
            "/api/auth/register",
            json={
                "organization_name": "Bench Media",
                "email": f"owner-{run}@example.com",
                "password": PASSWORD,
                "display_name": "Owner",
            },
        )
    )
    boss = {"Authorization": f"Bearer {owner['access_token']}"}
    template = await ok(
        await client.post(
            "/api/templates", headers=boss, json={"name": "Photos", "definition": DEFINITION}
        )
    )
    await ok(await client.post(f"/api/templates/{template['id']}/publish", headers=boss), 200)
    now = datetime.now(UTC)
    workers: list[Worker] = []
    for n in range(crew):
        invited = await ok(
            await client.post(
                "/api/users/invitations",
                headers=boss,
                json={"email": f"crew{n:02d}-{run}@example.com", "role": "worker"},
            )
        )
        joined = await ok(
            await client.post(
                "/api/auth/accept-invitation",
                json={"token": invited["token"], "password": PASSWORD, "display_name": f"Crew {n}"},
            )
        )
        made = await ok(
            await client.post(
                "/api/assignments",
                headers=boss,
                json={
                    "template_id": template["id"],
                    "assignee": {"type": "user", "id": joined["user"]["id"]},
                    "job_ref": f"MEDIA-{n:03d}",
                    "planned_start": now.isoformat(),
                    "due_at": (now + timedelta(days=1)).isoformat(),
                },
            )
        )
        headers = {"Authorization": f"Bearer {joined['access_token']}"}
        await ok(await client.post(f"/api/assignments/{made['id']}/start", headers=headers), 200)
        workers.append(Worker(headers, made["id"]))
    return workers


# =========================================================================== files
def photo() -> bytes:
    """A real JPEG of ~5 MiB (noise does not compress: a photo-sized file)."""
    from PIL import Image

    width, height = PHOTO_SIZE
    noise = Image.frombytes("RGB", PHOTO_SIZE, random.Random(1).randbytes(width * height * 3))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=PHOTO_QUALITY)
    return out.getvalue()


def pdf(size: int) -> bytes:
    return PDF_HEAD + random.Random(2).randbytes(size - len(PDF_HEAD))


def big_file(path: Path, size: int) -> str:
    """Write ``size`` bytes (the PDF head, then random), fsynced; their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        out.write(PDF_HEAD)
        digest.update(PDF_HEAD)
        left = size - len(PDF_HEAD)
        while left:
            chunk = os.urandom(min(left, 8 * MiB))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


# =========================================================================== helpers
def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (of 100 values, p99 is the 99th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else float("nan")


def mib(n: float) -> str:
    return f"{n / MiB:,.1f}"


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# =========================================================================== SeaweedFS
@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    content_type: str
    purpose: str
    with_sha256: bool

    @property
    def filename(self) -> str:
        return "photo.jpg" if self.content_type == "image/jpeg" else "report.pdf"


@dataclass
class Timed:
    url: float
    upload: float
    confirm: float
    media_id: str
    worker: Worker


@dataclass
class CaseResult:
    case: Case
    timings: list[Timed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    drain: float = 0.0
    cpu: float = 0.0
    at_confirms: dict[str, Any] = field(
        default_factory=dict
    )  # counters when the last confirm answered
    after: dict[str, Any] = field(default_factory=dict)  # and once the thumbnails are made
    thumbnails_ready: int = 0
    rss_peak: int = 0  # the app's largest VmRSS during the case


async def one_upload(
    app: httpx.AsyncClient, net: httpx.AsyncClient, worker: Worker, case: Case, sha: str | None
) -> Timed:
    target: dict[str, str] = {"assignment_id": worker.assignment_id}
    if case.purpose == "answer_photo":
        target["item_id"] = "site_photo"
    ask: dict[str, Any] = {
        "filename": case.filename,
        "content_type": case.content_type,
        "size": len(case.data),
        "purpose": case.purpose,
        "target": target,
    }
    if sha is not None:
        ask["sha256"] = sha
    t0 = time.perf_counter()
    r = await app.post("/api/media/upload-url", headers=worker.headers, json=ask)
    if r.status_code != 201:
        raise RuntimeError(f"upload-url {r.status_code} {r.text[:200]}")
    granted = r.json()
    t1 = time.perf_counter()
    form = granted["upload"]
    try:
        r = await net.post(
            form["url"],
            data=form["fields"],
            files={"file": (case.filename, case.data, case.content_type)},
        )
    except httpx.TransportError as exc:  # the engine dropped the connection under load
        raise RuntimeError(f"form to the engine: {exc!r}") from exc
    if r.status_code not in (200, 201, 204):
        raise RuntimeError(f"form {r.status_code} {r.text[:200]}")
    t2 = time.perf_counter()
    media_id: str = granted["media"]["id"]
    r = await app.post(
        "/api/media/confirm-upload", headers=worker.headers, json={"media_id": media_id}
    )
    t3 = time.perf_counter()
    if r.status_code != 200 or r.json()["state"] != "ready":
        raise RuntimeError(f"confirm {r.status_code} {r.text[:200]}")
    return Timed(t1 - t0, t2 - t1, t3 - t2, media_id, worker)


async def run_case(
    server: Server, workers: list[Worker], case: Case, uploads: int, *, warm: bool = False
) -> CaseResult:
    result = CaseResult(case)
    sha = hashlib.sha256(case.data).hexdigest() if case.with_sha256 else None
    limits = httpx.Limits(max_connections=uploads + 10, max_keepalive_connections=uploads + 10)
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=300, limits=limits) as app,
        httpx.AsyncClient(timeout=300, limits=limits) as net,
    ):
        (await app.post("/__bench/reset")).raise_for_status()
        cpu0 = cpu_seconds(server.proc.pid)
        with RssPoller(server.proc.pid) as rss:  # through the thumbnails' drain
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(
                    one_upload(app, net, workers[i % len(workers)], case, sha)
                    for i in range(uploads)
                ),
                return_exceptions=True,
            )
            result.wall = time.perf_counter() - started
            result.at_confirms = (await app.get("/__bench/counters")).json()
            (await app.post("/__bench/drain")).raise_for_status()
            result.drain = time.perf_counter() - started - result.wall
        result.rss_peak = rss.peak
        result.cpu = cpu_seconds(server.proc.pid) - cpu0
        result.after = (await app.get("/__bench/counters")).json()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                result.failures.append(repr(outcome))
            else:
                result.timings.append(outcome)
        if warm:
            return result
        gate = asyncio.Semaphore(20)

        async def thumbnails(t: Timed, worker: Worker) -> bool:
            async with gate:
                r = await app.get(f"/api/media/{t.media_id}", headers=worker.headers)
            return r.status_code == 200 and r.json().get("thumbnails") == "ready"

        checks = await asyncio.gather(*(thumbnails(t, t.worker) for t in result.timings))
        result.thumbnails_ready = sum(checks)
    return result


def seaweedfs_cases() -> list[Case]:
    jpeg, document = photo(), pdf(PDF_BYTES)
    return [
        Case("JPEG", jpeg, "image/jpeg", "answer_photo", False),
        Case("JPEG + sha256", jpeg, "image/jpeg", "answer_photo", True),
        Case("PDF", document, "application/pdf", "document", False),
        Case("PDF + sha256", document, "application/pdf", "document", True),
    ]


def print_seaweedfs(results: list[CaseResult], uploads: int) -> bool:
    print(
        f"\nSeaweedFS: {uploads} concurrent uploads a case "
        "(upload-url, the form to SeaweedFS, confirm)"
    )
    head = (
        f"{'case':<14} {'size MiB':>8} {'ok':>4} {'wall s':>7} {'url p50/p99 ms':>15} "
        f"{'upload p50/p99 ms':>18} {'confirm p50/p99 ms':>19} {'drain s':>8} {'app CPU s':>9} "
        f"{'app RSS MiB':>11}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        ms = {k: [getattr(t, k) * 1e3 for t in r.timings] for k in ("url", "upload", "confirm")}
        print(
            f"{r.case.name:<14} {mib(len(r.case.data)):>8} {len(r.timings):>4} {r.wall:>7.1f} "
            + " ".join(
                f"{f'{pct(ms[k], 50):,.0f} / {pct(ms[k], 99):,.0f}':>{w}}"
                for k, w in (("url", 15), ("upload", 18), ("confirm", 19))
            )
            + f" {r.drain:>8.1f} {r.cpu:>9.1f} {mib(r.rss_peak):>11}"
        )
    print(
        "\nBytes (counted in the app process): request bodies the app received, by path; "
        "read back from storage, by reader"
    )
    head = (
        f"{'case':<14} {'bodies B':>9} {'media/* B':>10} {'largest B':>9} {'blobs/* B':>9} "
        f"{'confirm read MiB':>16} {'per file':>8} {'thumbs read MiB':>15} {'service MiB':>11} "
        f"{'thumbs put MiB':>14} {'thumbs ready':>12} {'goal':>5}"
    )
    print(head)
    print("-" * len(head))
    all_ok = True
    for r in results:
        bodies, reads = r.after["bodies"], r.after["reads"]
        total = sum(bodies.values())
        media_bytes = bodies.get("/api/media/", 0)
        files = bodies.get("/api/blobs/", 0)
        largest = r.after["largest"].get("/api/media/", 0)
        confirmed = reads.get("confirm", 0)
        n = max(1, len(r.timings))
        ready = f"{r.thumbnails_ready}/{n}" if r.case.content_type.startswith("image/") else "-"
        # goal: no file byte through the app; every request body a small JSON one
        ok = files == 0 and largest < len(r.case.data) // 100 and not r.failures
        all_ok &= ok
        print(
            f"{r.case.name:<14} {total:>9,} {media_bytes:>10,} {largest:>9,} {files:>9,} "
            f"{mib(confirmed):>16} {confirmed / n / len(r.case.data):>7.0%} "
            f"{mib(reads.get('thumbnails', 0)):>15} {mib(r.after['bytes_read']):>11} "
            f"{mib(reads.get('written_thumbnails', 0)):>14} "
            f"{ready:>12} "
            f"{'ok' if ok else 'MISS':>5}"
        )
        at = r.at_confirms["reads"]
        if at.get("thumbnails", 0) or at.get("confirm", 0) != confirmed:
            print(
                f"  (when the last confirm answered: confirm {mib(at.get('confirm', 0))} MiB, "
                f"thumbnails {mib(at.get('thumbnails', 0))} MiB read)"
            )
        for failure in r.failures[:3]:
            print(f"  failed: {failure}")
        if len(r.failures) > 3:
            print(f"  ... {len(r.failures)} failures in all")
    return all_ok


def seaweedfs_part(root: Path, uploads: int) -> bool:
    from prework.testing.engines.seaweedfs import start_seaweedfs

    cases = seaweedfs_cases()
    print(f"starting SeaweedFS (load average {load()})", flush=True)
    with start_seaweedfs() as weed:
        data = root / "s3-app"
        data.mkdir()
        run = uuid.uuid4().hex[:8]
        env = {
            **{k: v for k, v in prework_env(data).items() if not k.startswith("AWS_")},
            **BENCH_ENV,
            "PREWORK_SECRET_KEY": secrets.token_urlsafe(32),
            "PREWORK_BLOBS": f"s3://?endpoint={weed.endpoint}&region={weed.region}&path_style=true",
            "PREWORK_BUCKET_MEDIA": f"pwb-{run}-media",
            "PREWORK_BUCKET_THUMBNAILS": f"pwb-{run}-thumbnails",
            "PREWORK_BUCKET_DOCUMENTS": f"pwb-{run}-documents",
            "AWS_ACCESS_KEY_ID": weed.access_key,
            "AWS_SECRET_ACCESS_KEY": weed.secret_key,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        subprocess.run(
            [sys.executable, "-m", "prework", "init"], env=env, check=True, capture_output=True
        )
        server = launch(
            "app on SeaweedFS",
            [sys.executable, str(HERE), "--serve-child"],
            env,
            root / "s3-app.log",
            free_port(),
        )
        idle: list[int] = []  # the app's VmRSS after seeding and the warm-up
        try:

            async def go() -> list[CaseResult]:
                async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
                    workers = await seed(client, min(CREW, uploads))
                for case in (cases[0], cases[2]):  # warm-up: clients, connections, imports
                    warm = await run_case(server, workers, case, WARM_UPLOADS, warm=True)
                    if warm.failures:
                        raise SystemExit(f"warm-up failed: {warm.failures[0]}")
                idle.append(proc_status(server.proc.pid, "VmRSS"))
                results = []
                for case in cases:
                    print(f"  {case.name}: {uploads} uploads (load average {load()})", flush=True)
                    results.append(await run_case(server, workers, case, uploads))
                return results

            results = asyncio.run(go())
            hwm = proc_status(server.proc.pid, "VmHWM")
        finally:
            stop(server)
    ok = print_seaweedfs(results, uploads)
    print(
        "  per file: what confirm read back / (uploads x the file's size); the app's own counters:"
        "\n  bodies = every http.request body byte it received (media/* = upload-url and confirm"
        " JSON,\n  blobs/* = its own upload route, which S3 forms never reach); reads by the task"
        " reading\n  (thumbnail-<id> tasks, else confirm); service = MediaService.bytes_read."
        "\n  Images are read whole at confirm with or without sha256 (dimensions, EXIF, the"
        " thumbnails\n  made from that copy); a PDF whose SHA-256 the engine reports only its head."
        f"\n  app RSS: {mib(idle[0])} MiB after seeding and a warm-up of {WARM_UPLOADS} JPEGs and "
        f"{WARM_UPLOADS} PDFs; VmHWM over the whole part {mib(hwm)} MiB"
    )
    return ok


# =========================================================================== embedded
class RssPoller:
    """The largest ``VmRSS`` of a process, polled every 50 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.samples = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, proc_status(self.pid, "VmRSS"))
            self.samples += 1
            self._stop.wait(RSS_POLL_SECONDS)

    def __enter__(self) -> RssPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_copy(source: Path, target: Path) -> tuple[float, float]:
    """Seconds of ``cp`` and of ``cp`` then ``sync FILE`` (its fsync); the copy removed."""
    try:
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(target)], check=True)
        copied = time.perf_counter()
        subprocess.run(["sync", str(target)], check=True)
        return copied - started, time.perf_counter() - started
    finally:
        target.unlink(missing_ok=True)


def embedded_part(root: Path, big_mib: int) -> bool:
    data = root / "embedded"
    data.mkdir()
    port = free_port()
    env = {
        **prework_env(data),
        **BENCH_ENV,
        "PREWORK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PREWORK_MEDIA_MAX_DOCUMENT_BYTES": str(2 * 1024**3),
        "PREWORK_SECRET_KEY": secrets.token_urlsafe(32),
    }
    size = big_mib * MiB
    source = root / "big.pdf"
    print(f"\nwriting the {big_mib:,} MiB file (load average {load()})", flush=True)
    digest = big_file(source, size)
    server = launch(
        "prework serve",
        [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1"],
        env,
        root / "embedded.log",
        port,
    )
    pid = server.proc.pid
    try:

        async def seeded() -> Worker:
            async with httpx.AsyncClient(base_url=server.base, timeout=60) as client:
                return (await seed(client, 1))[0]

        worker = asyncio.run(seeded())
        with httpx.Client(base_url=server.base, timeout=httpx.Timeout(900)) as client:

            def upload(path: Path) -> tuple[str, float]:
                r = client.post(
                    "/api/media/upload-url",
                    headers=worker.headers,
                    json={
                        "filename": "big.pdf",
                        "content_type": "application/pdf",
                        "size": path.stat().st_size,
                        "purpose": "document",
                        "target": {"assignment_id": worker.assignment_id},
                    },
                )
                if r.status_code != 201:
                    raise SystemExit(f"upload-url: {r.status_code} {r.text}")
                granted = r.json()
                form = granted["upload"]
                started = time.perf_counter()
                with path.open("rb") as body:  # httpx streams it in 64 KiB reads
                    sent = client.post(
                        form["url"],
                        data=form["fields"],
                        files={"file": ("big.pdf", body, "application/pdf")},
                    )
                seconds = time.perf_counter() - started
                if sent.status_code != 204:
                    raise SystemExit(f"upload: {sent.status_code} {sent.text[:300]}")
                return str(granted["media"]["id"]), seconds

            def confirm(media_id: str) -> tuple[float, int, dict[str, Any]]:
                rchar = proc_io(pid, "rchar")
                started = time.perf_counter()
                r = client.post(
                    "/api/media/confirm-upload", headers=worker.headers, json={"media_id": media_id}
                )
                seconds = time.perf_counter() - started
                if r.status_code != 200:
                    raise SystemExit(f"confirm: {r.status_code} {r.text}")
                body: dict[str, Any] = r.json()
                return seconds, proc_io(pid, "rchar") - rchar, body

            small = root / "small.pdf"  # warm-up: the form route, confirm, their imports
            big_file(small, MiB)
            confirm(upload(small)[0])
            small.unlink()
            copies = [timed_copy(source, root / "copy.pdf")]
            print(f"  uploading (load average {load()})", flush=True)
            rss0, hwm0 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")
            cpu0, client_cpu0 = cpu_seconds(pid), time.process_time()
            rchar0, wchar0 = proc_io(pid, "rchar"), proc_io(pid, "wchar")
            with RssPoller(pid) as poll:
                media_id, seconds = upload(source)
            cpu, client_cpu = cpu_seconds(pid) - cpu0, time.process_time() - client_cpu0
            rchar, wchar = proc_io(pid, "rchar") - rchar0, proc_io(pid, "wchar") - wchar0
            rss1, hwm1 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM")
            confirm_s, confirm_read, confirmed = confirm(media_id)
            copies.append(timed_copy(source, root / "copy.pdf"))
    finally:
        stop(server)
        source.unlink(missing_ok=True)

    print(
        f"\nEmbedded: prework serve (SQLite, file blobs), one {big_mib:,} MiB upload "
        "through its form"
    )
    head = f"{'':<34} {'seconds':>8} {'MiB/s':>8} {'x cp+sync':>9}"
    print(head)
    print("-" * len(head))
    best = min(synced for _, synced in copies)
    for when, (plain, synced) in zip(("before", "after"), copies, strict=True):
        print(f"{f'cp ({when} the upload)':<34} {plain:>8.2f} {size / MiB / plain:>8.0f}")
        print(
            f"{f'cp + sync FILE ({when})':<34} {synced:>8.2f} {size / MiB / synced:>8.0f} "
            f"{best / synced:>9.2f}"
        )
    print(
        f"{'upload (httpx -> /api/blobs/upload)':<34} {seconds:>8.2f} {size / MiB / seconds:>8.0f} "
        f"{best / seconds:>9.2f}"
    )
    print(
        f"  during the upload: server CPU {cpu:.1f} s, client (this process) CPU "
        f"{client_cpu:.1f} s; the server's rchar {mib(rchar)} MiB, wchar {mib(wchar)} MiB"
    )
    growth = poll.peak - rss0
    hwm_growth = hwm1 - rss0 if hwm1 > hwm0 else None
    worst = max(growth, hwm_growth or 0)
    print(
        f"  server RSS MiB: before {mib(rss0)}, peak {mib(poll.peak)} ({poll.samples} samples "
        f"every {RSS_POLL_SECONDS * 1e3:.0f} ms), after {mib(rss1)}; "
        f"VmHWM {mib(hwm0)} -> {mib(hwm1)}"
        + ("" if hwm_growth is not None else " (unchanged: the upload's peak stayed under it)")
    )
    ok = worst < GOAL_RSS_MIB * MiB and confirmed.get("state") == "ready"
    print(
        f"  RSS growth: {mib(worst)} MiB (goal < {GOAL_RSS_MIB:.0f} MiB) "
        f"{'ok' if worst < GOAL_RSS_MIB * MiB else 'MISS'}"
    )
    sha = confirmed.get("sha256")
    print(
        f"  confirm: {confirm_s * 1e3:,.0f} ms, server read {confirm_read:,} B meanwhile (rchar: "
        f"storage, sockets, SQLite), {confirmed.get('state')}, sha256 "
        + ("matches the file" if sha == digest else f"DIFFERS: {sha}")
    )
    return ok


# =========================================================================== main
def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return f"nproc {os.cpu_count()}, {model}, load average {load()}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 uploads, a 100 MiB file")
    parser.add_argument("--uploads", type=int, help=f"concurrent uploads per case ({UPLOADS})")
    parser.add_argument("--big-mib", type=int, help=f"the embedded upload's size ({BIG_MIB} MiB)")
    parser.add_argument("--only", choices=("seaweedfs", "embedded"))
    parser.add_argument("--serve-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child:
        serve_child(args.port)
        return
    uploads = args.uploads or (QUICK_UPLOADS if args.quick else UPLOADS)
    big_mib = args.big_mib or (QUICK_BIG_MIB if args.quick else BIG_MIB)
    print(machine())
    results: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="prework-bench-media-") as tmp:
        root = Path(tmp)
        if args.only != "embedded":
            results.append(seaweedfs_part(root, uploads))
        if args.only != "seaweedfs":
            results.append(embedded_part(root, big_mib))
    print(f"\ngoals: {'ok' if all(results) else 'MISS'}")


if __name__ == "__main__":
    main()
