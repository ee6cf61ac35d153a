"""Real-time sync against ShareDB: ``/api/sync/ws`` vs ShareDB 7.0.0, the same load.

The servers, one at a time on free loopback ports:

* ``prework serve`` on the embedded default (SQLite, file blobs, a temporary data
  folder), seeded before it starts through the services (as
  bench/bench_assignments.py does): an organization, a crew of ``CREW`` workers in
  a team, a published template of ``ITEMS`` text answers (``max_length``
  10,000), and ``2 + DOCS`` of the team's assignments, started (in progress, the
  crew fixed). Every crew member logs in over HTTP; client ``i`` connects as member
  ``i % CREW`` (each connection is its own ShareDB client), ``?access_token=``;
* ShareDB 7.0.0 on its in-memory backend (``new ShareDB()``), ``ws`` 8.18.3 and
  ``@teamwork/websocket-json-stream`` 2.0.0 (bench/sync/sharedb_server.js; the
  pinned project :data:`BENCH_SHAREDB`, installed on first use into the engines
  cache by prework.testing.engines.node_packages), with the same documents (the
  same ids) created before it listens, with the content Prework's start gives them;
* the Python floor (bench/sync/floor_server.py, ``--servers floor``): ShareDB's wire
  protocol on Prework's stack (uvicorn, websockets-sansio, uvloop, httptools,
  orjson) doing the least a server can (ack and forward; no authentication,
  storage, checks or transform), with the same documents: what the stack costs,
  apart from what Prework adds.

The load (bench/sync/load.js, ``--generators`` node processes, clients dealt
round-robin): the real ``sharedb/lib/client`` over ``ws`` (offering per-message
compression, as browsers do), each client subscribed to its document and typing
into its own text answer (a letter appended, then deleted, one op each;
``load.js`` says how). Scenarios: 10 clients on one document, 100 on one document,
100 on 100 documents (one each); modes: ``rate`` (each client submits
``--rate`` ops/s, 10 by default, from a random offset) and ``saturate`` (each
submits its next op as soon as the previous one is acknowledged).

Printed per run (``rounds`` times: each round runs every scenario and mode on
Prework, then on ShareDB, then on the floor, one server at a time): committed ops/s (acknowledged
within the run's window, over its length) and offered ops/s (submitted within it),
p50/p99 of the propagation latency (``prop``: submit, by the author's clock, to
the op's arrival at each other client on the document; CLOCK_MONOTONIC, one clock
for every process) and of the ack latency (submit to ack; a client alone on its
document has no one to propagate to), ``miss``: arrivals that never came (by the
end of the drain, 30 s after the run), ``refus``: ops the server refused, the
server's CPU (``srv``, share of a core), the generators' (``gen1`` the busiest
process, ``gens`` all of them) and ``other``: cores busy on the machine with
neither (other users' work, on a shared machine). Flags: ``OVER`` (at a rate, the
server committed under 90% of what was offered: it cannot keep up), ``GEN`` (a
generator process near a full core: it may be the bottleneck), ``LATE`` (the
generators' submits slipped past their schedule, p99 > 20 ms). Then Prework's
figures as ratios of ShareDB's of the same round (and the floor's to ShareDB's,
Prework's to the floor's), and the memory of idle clients:
the server's RSS before and after ``--idle-clients`` (1,000) authenticated,
subscribed clients that then do nothing (a fresh server each time, warmed up by a
few clients first): Prework with per-message compression on and off (its default:
off), ShareDB as it ships (``ws``'s default: off), the floor.

Goals (issue #12, ok/MISS): saturation throughput >= 1.0x ShareDB's for 10 clients
on one document and for 100 clients on 100 documents; p99 propagation at 10 ops/s
per client no worse than ShareDB's and under 200 ms (10 and 100 clients on one
document); memory per idle client <= ShareDB's (with Prework's default
compression setting); each on the median over the rounds. A benchmark, not a
test: the figures depend on the machine and its load (2 cores here, shared: the
load average is printed; ratios compare runs minutes apart). ``--profile FILE``
also records the Prework server with py-spy (``--gil``: the samples that hold the
GIL) during one more saturation run of ``--profile-scenario`` and prints where the
time goes, in ms of GIL per op. Run: ``python
bench/bench_sync.py [--quick] [--duration S] [--rounds N] [--generators N]
[--deflate on|off] [--profile FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench_assignments import CTX, PASSWORD, login, prework_env
from bench_http import Server, free_port
from prework.bootstrap import build_services, open_blobs, open_store
from prework.checklists.workflow import Assignee
from prework.config import Settings
from prework.core.principal import Principal, RequestContext, Role
from prework.pubsub.memory import MemoryPubSub
from prework.teams.models import NewMember
from prework.testing.engines.node_packages import (
    LOCKFILES,
    SHAREDB,
    WS,
    NpmPackage,
    ensure_npm_package,
    node_executable,
)

# the reference server's project: ShareDB 7.0.0 with ws and the WebSocket stream beside
# it (the load generators use its sharedb/lib/client and ws too), pinned by a lockfile
WEBSOCKET_JSON_STREAM = NpmPackage(
    "@teamwork/websocket-json-stream",
    "2.0.0",
    integrity=(
        "sha512-"
        "SCEM44hjNyxYwrtyJrjlHmeTd9RJlZr04BAMbHSBhdW0M2IXv0SC+4XeuRXPiY7U7pJ0W8TSUwVP/28MV/ds0w=="
    ),
)
BENCH_SHAREDB = NpmPackage(
    SHAREDB.name,
    SHAREDB.version,
    integrity=SHAREDB.integrity,
    lockfile=LOCKFILES
    / "bench-sharedb-7.0.0+ws-8.18.3+websocket-json-stream-2.0.0.package-lock.json",
    companions=(WS, WEBSOCKET_JSON_STREAM),
)
HERE = Path(__file__).resolve().parent
LOAD_JS = HERE / "sync" / "load.js"
SHAREDB_JS = HERE / "sync" / "sharedb_server.js"
FLOOR_PY = HERE / "sync" / "floor_server.py"
FLOOR = "python floor"
COLLECTION = "assignments"
INITIAL: dict[str, Any] = {"answers": {}, "signoffs": {}}  # a started assignment's document
CREW = 20
ITEMS = 100
DOCS = 100
MAX_LENGTH = 40  # letters typed into an answer before deleting them again
GOAL_THROUGHPUT = 1.0
GOAL_P99_MS = 200.0
OVER_SHARE = 0.9  # at a rate, committing less than this share of the offered ops
LATE_MS = 20.0  # a rate generator's p99 lateness past this is flagged
GEN_BUSY = 0.9  # a generator process past this share of a core may be the bottleneck
WARM_CLIENTS = 20
PROFILE_HZ = 200


# --------------------------------------------------------------------------- the world
@dataclass
class World:
    """What both servers hold: the documents (assignment ids), and Prework's crew."""

    one10: str
    one100: str
    many: list[str]
    emails: list[str]

    def docs(self) -> list[str]:
        return [self.one10, self.one100, *self.many]


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: tuple[tuple[str, str], ...]  # (doc id, item id) of each client
    shared: bool  # clients share a document: propagation is measured


def scenarios(world: World) -> list[Scenario]:
    return [
        Scenario("10 on 1 doc", tuple((world.one10, f"t{i:02d}") for i in range(10)), True),
        Scenario("100 on 1 doc", tuple((world.one100, f"t{i:02d}") for i in range(100)), True),
        Scenario("100 on 100 docs", tuple((d, "t00") for d in world.many), False),
    ]


def template_definition() -> dict[str, Any]:
    items = [
        {"id": f"t{i:02d}", "type": "text", "label": f"Note {i}", "max_length": 10_000}
        for i in range(ITEMS)
    ]
    return {"sections": [{"id": "notes", "title": "Notes", "items": items}]}


async def seed(settings: Settings) -> World:
    """The organization, its crew, the template and the started assignments."""
    store = open_store(settings)
    bus = MemoryPubSub()
    services = build_services(settings, store, bus, open_blobs(settings))
    identity = services.identity
    try:
        owner = await identity.registration.register(
            ctx=CTX,
            organization_name="Bench Sync",
            email="owner@example.com",
            password=PASSWORD,
            display_name="Owner",
        )
        org_id = owner.organization.id
        boss = Principal(
            user_id=owner.user.id,
            org_id=org_id,
            role=Role.OWNER,
            session_id=owner.tokens.session_id,
            email=owner.user.email,
        )
        crew: list[Principal] = []
        for n in range(CREW):
            invited = await identity.invitations.invite(
                principal=boss, ctx=CTX, email=f"crew{n:02d}@example.com", role=Role.WORKER
            )
            accepted = await identity.invitations.accept(  # sign-ups are throttled by address
                ctx=RequestContext(
                    request_id="bench", client_ip=f"10.0.0.{n + 1}", user_agent="bench"
                ),
                token=invited.token,
                password=PASSWORD,
                display_name=f"Crew {n}",
            )
            crew.append(
                Principal(
                    user_id=accepted.user.id,
                    org_id=org_id,
                    role=Role.WORKER,
                    session_id=accepted.tokens.session_id,
                    email=accepted.user.email,
                )
            )
        team = await services.teams.teams.create(
            principal=boss, ctx=CTX, name="Crew", members=[NewMember(p.user_id) for p in crew]
        )
        templates = services.checklists.templates
        draft = await templates.create(
            principal=boss,
            ctx=CTX,
            name="Shift notes",
            description=None,
            definition=template_definition(),
        )
        await templates.publish(principal=boss, ctx=CTX, template_id=draft.id)
        assignments = services.checklists.assignments
        now = datetime.now(UTC)
        ids: list[str] = []
        for n in range(2 + DOCS):
            made = await assignments.create(
                principal=boss,
                ctx=CTX,
                template_id=draft.id,
                template_version=None,
                assignee=Assignee("team", team.id),
                title=None,
                job_ref=f"SYNC-{n:03d}",
                location=None,
                coordinates=None,
                planned_start=now,
                due_at=now + timedelta(days=7),
            )
            await assignments.start(
                principal=crew[0], ctx=CTX, assignment_id=made.id, expected_version=None
            )
            ids.append(made.id)
        return World(ids[0], ids[1], ids[2:], [p.email for p in crew])
    finally:
        identity.close()
        await store.close()
        await bus.close()


# --------------------------------------------------------------------------- servers
@dataclass
class Target:
    """A running server the generators connect to."""

    name: str
    proc: subprocess.Popen[bytes]
    url: Callable[[int], str]  # the WebSocket URL of client i

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every process, every core)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_healthy(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.proc.poll() is not None:
            raise SystemExit(f"prework serve exited:\n{server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"prework serve did not answer in {timeout:g} s")
        time.sleep(0.1)


@contextmanager
def prework_server(
    data: Path, env: dict[str, str], world: World, *, deflate: bool
) -> Iterator[Target]:
    port = free_port()
    flag = "--ws-per-message-deflate" if deflate else "--no-ws-per-message-deflate"
    args = [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with (data / "server.log").open("ab") as log:
        proc = subprocess.Popen([*args, flag], env=env, stdout=log, stderr=log, cwd=data)
    server = Server("prework", proc, f"http://127.0.0.1:{port}", data / "server.log")
    try:
        _wait_healthy(server)
        tokens = [login(server, email) for email in world.emails]
        ws = server.base.replace("http://", "ws://") + "/api/sync/ws?access_token="
        yield Target(
            "prework (deflate)" if deflate else "prework",
            server.proc,
            lambda i: ws + tokens[i % len(tokens)],
        )
    finally:
        _stop(server.proc)


@contextmanager
def _docs_server(
    root: Path, world: World, name: str, argv: list[str], env: dict[str, str] | None = None
) -> Iterator[Target]:
    """A server started as ``argv + [port, docs file]`` with the world's documents, that
    prints ``ready`` once it listens (ShareDB's, the floor)."""
    stem = name.replace(" ", "-")
    docs = root / f"{stem}-docs.json"
    docs.write_text(
        json.dumps({"collection": COLLECTION, "docs": dict.fromkeys(world.docs(), INITIAL)})
    )
    port = free_port()
    log = (root / f"{stem}.log").open("wb")
    proc = subprocess.Popen(
        [*argv, str(port), str(docs)], env=env, stdout=subprocess.PIPE, stderr=log, cwd=root
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("ready"):
            raise SystemExit(f"the {name} server did not start: {line!r}")
        yield Target(name, proc, lambda i: f"ws://127.0.0.1:{port}/?access_token=none")
    finally:
        _stop(proc)
        log.close()


@contextmanager
def sharedb_server(root: Path, node_path: Path, world: World) -> Iterator[Target]:
    env = {**os.environ, "NODE_PATH": str(node_path)}
    with _docs_server(root, world, "sharedb", [node_executable(), str(SHAREDB_JS)], env) as t:
        yield t


@contextmanager
def floor_server(root: Path, world: World) -> Iterator[Target]:
    """bench/sync/floor_server.py: the least a ShareDB server on Prework's stack does."""
    with _docs_server(root, world, FLOOR, [sys.executable, str(FLOOR_PY)]) as t:
        yield t


# --------------------------------------------------------------------------- the load
@dataclass
class Run:
    scenario: str
    mode: str
    server: str
    round: int
    seconds: float
    committed: int = 0  # acknowledged within the window
    offered: int = 0  # submitted within the window
    refused: int = 0  # of those, answered with an error
    missing: int = 0  # arrivals at other clients that never came (by the drain's end)
    arrivals: int = 0
    prop_p50: float = math.nan  # ms, submit -> seen by another client
    prop_p99: float = math.nan
    ack_p50: float = math.nan  # ms, submit -> ack
    ack_p99: float = math.nan
    errors: list[str] = field(default_factory=list)
    server_cpu: float = 0.0  # share of a core
    gen_cpu: list[float] = field(default_factory=list)  # each generator's share of a core
    lag_p99: float = 0.0  # ms a rate generator's submits were late (its p99)
    machine_cpu: float = 0.0  # cores busy on the whole machine (ours and everyone's)

    @property
    def others_cpu(self) -> float:
        """Cores busy with neither the server nor the generators (other work)."""
        return max(0.0, self.machine_cpu - self.server_cpu - sum(self.gen_cpu))

    @property
    def ops_per_s(self) -> float:
        return self.committed / self.seconds

    @property
    def gen_bound(self) -> bool:
        return max(self.gen_cpu, default=0) >= GEN_BUSY

    @property
    def over(self) -> bool:
        """At a fixed rate, the server committed well under what was offered."""
        return self.mode == "rate" and self.committed < OVER_SHARE * self.offered


def pct(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of values sorted already (nan if there are none)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Generators:
    """``count`` load.js processes with the clients dealt round-robin; started,
    subscribed, then driven with :meth:`go` (or left idle)."""

    def __init__(
        self,
        root: Path,
        node_path: Path,
        target: Target,
        clients: Sequence[tuple[str, str]],
        *,
        count: int,
        mode: str,
        rate: float,
    ) -> None:
        self.results: list[Path] = []
        self.procs: list[subprocess.Popen[str]] = []
        specs = [
            {"url": target.url(i), "doc": doc, "item": item}
            for i, (doc, item) in enumerate(clients)
        ]
        count = max(1, min(count, len(specs)))
        for g in range(count):
            config = root / f"gen-{g}.json"
            config.write_text(
                json.dumps(
                    {
                        "mode": mode,
                        "rate": rate,
                        "max_length": MAX_LENGTH,
                        "connect_at_once": 10,
                        "clients": specs[g::count],
                    }
                )
            )
            result = root / f"gen-{g}-result.json"
            result.unlink(missing_ok=True)
            self.results.append(result)
            self.procs.append(
                subprocess.Popen(
                    [node_executable(), str(LOAD_JS), str(config), str(result)],
                    env={**os.environ, "NODE_PATH": str(node_path)},
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=root,
                )
            )
        try:
            for proc in self.procs:
                self._expect(proc, "ready", timeout=180)
        except BaseException:
            self.close()
            raise

    def _expect(self, proc: subprocess.Popen[str], word: str, timeout: float) -> None:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:  # readline blocks: the generator times itself out
            line = proc.stdout.readline()
            if line.strip() == word or not line:
                break
        if line.strip() != word:
            raise SystemExit(f"a load generator failed: {line.strip() or 'it exited'}")

    def go(self, start_ns: int, end_ns: int) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start_ns} {end_ns}\n")
            proc.stdin.flush()

    def wait_done(self) -> list[dict[str, Any]]:
        for proc in self.procs:
            self._expect(proc, "done", timeout=120)
        return [json.loads(r.read_text()) for r in self.results]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.write("quit\n")
                    proc.stdin.flush()
                except BrokenPipeError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def settle(target: Target, timeout: float = 60) -> bool:
    """Wait until the server is idle (under 5% of a core for a quarter second);
    False if it was still busy after ``timeout`` (a backlog a run left)."""
    deadline = time.monotonic() + timeout
    before = target.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = target.cpu_seconds()
        if now - before < 0.0125:
            return True
        before = now
    return False


def run_load(
    root: Path,
    node_path: Path,
    target: Target,
    scenario: Scenario,
    *,
    mode: str,
    rate: float,
    seconds: float,
    generators: int,
    round_no: int = 0,
) -> Run:
    gens = Generators(
        root, node_path, target, scenario.clients, count=generators, mode=mode, rate=rate
    )
    try:
        idle = settle(target)
        start_ns = time.monotonic_ns() + 300_000_000
        end_ns = start_ns + int(seconds * 1e9)
        gens.go(start_ns, end_ns)
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        cpu0, busy0 = target.cpu_seconds(), machine_busy_seconds()
        time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9))
        cpu, busy = target.cpu_seconds() - cpu0, machine_busy_seconds() - busy0
        results = gens.wait_done()
    finally:
        gens.close()
    run = Run(scenario.name, mode, target.name, round_no, seconds, server_cpu=cpu / seconds)
    run.machine_cpu = busy / seconds
    summarize(run, results, shared=scenario.shared)
    if not idle:
        run.errors.insert(0, "the server was still busy 60 s after the previous run")
    return run


def summarize(run: Run, results: list[dict[str, Any]], *, shared: bool) -> None:
    """The generators' results as the run's figures: the n-th op another client saw on
    an answer is the n-th op its author had committed on it."""
    window_us = run.seconds * 1e6
    committed: dict[tuple[str, str], list[int]] = {}  # submit times of committed ops
    acks: list[float] = []
    lags: list[float] = []
    for result in results:
        run.errors += result["errors"]
        run.gen_cpu.append(result["cpu_us"] / window_us)
        for c in result["clients"]:
            lags += c["lag"]
            mine = committed[(c["doc"], c["item"])] = []
            for t_sent, t_ack in zip(c["sent"], c["acked"], strict=True):
                if t_ack >= 0:
                    mine.append(t_sent)
                if 0 <= t_sent < window_us:
                    run.offered += 1
                    if t_ack >= 0:
                        acks.append((t_ack - t_sent) / 1000)
                    elif t_ack == -2:
                        run.refused += 1
                if 0 <= t_ack <= window_us:
                    run.committed += 1
    latencies: list[float] = []
    on_doc: dict[str, list[tuple[str, str]]] = {}
    for key in committed:
        on_doc.setdefault(key[0], []).append(key)
    for result in results:
        for c in result["clients"]:
            others = [k for k in on_doc[c["doc"]] if k[1] != c["item"]] if shared else []
            for key in others:
                seen = c["seen"].get(key[1], [])
                for n, t_sent in enumerate(committed[key]):
                    if not 0 <= t_sent < window_us:
                        continue
                    if n < len(seen):
                        latencies.append((seen[n] - t_sent) / 1000)
                    else:
                        run.missing += 1
    latencies.sort()
    acks.sort()
    run.arrivals = len(latencies)
    run.prop_p50, run.prop_p99 = pct(latencies, 0.5), pct(latencies, 0.99)
    run.ack_p50, run.ack_p99 = pct(acks, 0.5), pct(acks, 0.99)
    run.lag_p99 = pct(sorted(lags), 0.99) / 1000 if lags else 0.0


# --------------------------------------------------------------------------- memory
@dataclass
class Memory:
    server: str
    clients: int
    before_kib: int
    after_kib: int

    @property
    def per_client_kib(self) -> float:
        return (self.after_kib - self.before_kib) / self.clients


def rss_settled(target: Target) -> int:
    settle(target)
    time.sleep(1.0)
    return target.rss_kib()


def idle_memory(
    root: Path, node_path: Path, target: Target, world: World, *, clients: int, generators: int
) -> Memory:
    spread = [(world.many[i % len(world.many)], "t00") for i in range(clients)]
    warm = Generators(root, node_path, target, spread[:WARM_CLIENTS], count=1, mode="idle", rate=0)
    warm.close()
    before = rss_settled(target)
    gens = Generators(root, node_path, target, spread, count=generators, mode="idle", rate=0)
    try:
        after = rss_settled(target)
    finally:
        gens.close()
    return Memory(target.name, clients, before, after)


# --------------------------------------------------------------------------- profile
def profile(
    root: Path,
    node_path: Path,
    target: Target,
    scenario: Scenario,
    *,
    seconds: float,
    generators: int,
    out: Path,
) -> None:
    """py-spy --gil on the Prework server during one saturation run: where the time
    that holds the GIL goes, by function (inclusive), and the raw stacks in ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    recorder = subprocess.Popen(
        [spy, "record", "--pid", str(target.proc.pid), "--rate", str(PROFILE_HZ), "--gil",
         "--format", "raw", "--output", str(out), "--duration", str(max(1, round(seconds + 4)))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    r = run_load(
        root, node_path, target, scenario,
        mode="saturate", rate=0, seconds=seconds, generators=generators,
    )  # fmt: skip
    if recorder.wait(timeout=seconds + 60) != 0 or not out.exists():
        raise SystemExit("py-spy failed (it needs ptrace: run as root or the server's user)")
    samples, inclusive, own, areas = read_stacks(out)
    per_op = 1000 / PROFILE_HZ / max(r.committed, 1)  # ms of GIL a sample is, per op
    print(
        f"py-spy --gil, {scenario.name} saturated: {r.ops_per_s:.0f} ops/s, {r.committed} ops, "
        f"{samples} samples holding the GIL = {samples * per_op:.2f} ms of GIL per op"
    )
    print("  where the samples end, by area (self; ms of GIL per op):")
    for name, count in sorted(areas.items(), key=lambda kv: -kv[1])[:14]:
        print(f"  {count / samples:>6.1%} {count * per_op:>6.3f}  {name}")
    print("  our functions and the libraries' (inclusive):")
    shown = [kv for kv in sorted(inclusive.items(), key=lambda kv: -kv[1]) if _interesting(kv[0])]
    for name, count in shown[:32]:
        print(f"  {count / samples:>6.1%} {count * per_op:>6.3f}  {name}")
    print("  where the samples end (self):")
    for name, count in sorted(own.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {count / samples:>6.1%} {count * per_op:>6.3f}  {name}")
    print(f"raw stacks: {out}")


_OUTER = re.compile(
    r"\((<frozen runpy>|threading\.py|typer/|click/|uvicorn/main\.py|uvicorn/server\.py|"
    r"uvicorn/_compat\.py|asyncio/runners\.py|asyncio/base_events\.py|asyncio/events\.py|"
    r"prework/__main__\.py|prework/cli\.py)"
)


def _interesting(frame: str) -> bool:
    return not _OUTER.search(frame)


def _area(frame: str) -> str:
    """``prework/store`` for a frame in prework/store/..., else the library's name."""
    found = re.search(r"\(([^:)]+)", frame)
    parts = (found.group(1) if found else frame).split("/")
    if parts[0] == "prework":
        return "/".join(parts[:2])
    return parts[0].removesuffix(".py")


def read_stacks(path: Path) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
    """py-spy's raw stacks: samples, inclusive and self counts by function, self by area."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    areas: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, text = line.rpartition(" ")
        count = int(text)
        samples += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        # a socket's task: the web shell's frames down to the route are the same in all
        route = next((i for i, f in enumerate(frames) if "(prework/sync/routes.py" in f), 0)
        for name in set(frames[route:]):
            inclusive[name] = inclusive.get(name, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        area = _area(frames[-1])
        areas[area] = areas.get(area, 0) + count
    return samples, inclusive, own, areas


# --------------------------------------------------------------------------- report
HEADER = (
    f"{'scenario':<16} {'mode':<9} {'server':<18} {'ops/s':>7} {'offered':>7} "
    f"{'prop p50':>8} {'prop p99':>8} {'ack p50':>8} {'ack p99':>8} {'miss':>6} {'refus':>5} "
    f"{'srv':>5} {'gen1':>5} {'gens':>5} {'other':>5}"
)


def _ms(value: float) -> str:
    return f"{'-':>8}" if math.isnan(value) else f"{value:>8.1f}"


def row(r: Run) -> str:
    flags = []
    if r.over:
        flags.append("OVER")  # could not keep up with the offered rate
    if r.gen_bound:
        flags.append("GEN")  # a generator process was near a full core
    if r.mode == "rate" and r.lag_p99 > LATE_MS:
        flags.append(f"LATE {r.lag_p99:.0f} ms")  # the generators' schedule slipped
    if r.errors:
        flags.append(f"{len(r.errors)} errors: {r.errors[0][:70]}")
    return (
        f"{r.scenario:<16} {r.mode:<9} {r.server:<18} {r.ops_per_s:>7.0f} "
        f"{r.offered / r.seconds:>7.0f} {_ms(r.prop_p50)} {_ms(r.prop_p99)} {_ms(r.ack_p50)} "
        f"{_ms(r.ack_p99)} {r.missing:>6} {r.refused:>5} {r.server_cpu:>5.0%} "
        f"{max(r.gen_cpu, default=0):>5.0%} {sum(r.gen_cpu):>5.0%} {r.others_cpu:>5.0%} "
        + " ".join(flags)
    )


def pairs(
    runs: list[Run], ours: str, against: str = "sharedb"
) -> dict[tuple[str, str], list[tuple[Run, Run]]]:
    """Each of our runs with ``against``'s of the same scenario, mode and round."""
    theirs = {(r.scenario, r.mode, r.round): r for r in runs if r.server == against}
    found: dict[tuple[str, str], list[tuple[Run, Run]]] = {}
    for r in runs:
        base = theirs.get((r.scenario, r.mode, r.round))
        if r.server == ours and base is not None:
            found.setdefault((r.scenario, r.mode), []).append((r, base))
    return found


def ratio_lines(runs: list[Run], ours: str, against: str = "sharedb") -> list[str]:
    lines = [
        f"{'scenario':<16} {'mode':<9} {'round':>5} {'ops/s x':>8} {'p99 x':>7} "
        f"{'ack p99 x':>9}   ({ours} / {against}; ops/s: higher is better, latency: lower)"
    ]
    for (scenario, mode), found in pairs(runs, ours, against).items():
        for r, base in found:
            lines.append(
                f"{scenario:<16} {mode:<9} {r.round + 1:>5} {r.ops_per_s / base.ops_per_s:>8.2f} "
                f"{r.prop_p99 / base.prop_p99:>7.2f} {r.ack_p99 / base.ack_p99:>9.2f}"
            )
    return lines


def verdicts(runs: list[Run], memory: list[Memory], ours: str, rate: float) -> list[str]:
    """The goals of issue #12, each on the median over the rounds (ok/MISS)."""
    found = pairs(runs, ours)
    found_floor = pairs(runs, FLOOR)
    lines = []
    for scenario in ("10 on 1 doc", "100 on 100 docs"):
        both = found.get((scenario, "saturate"))
        if both:
            a = statistics.median(r.ops_per_s for r, _ in both)
            b = statistics.median(base.ops_per_s for _, base in both)
            ratio = statistics.median(r.ops_per_s / base.ops_per_s for r, base in both)
            lines.append(
                f"saturation throughput, {scenario}: {a:.0f} vs ShareDB {b:.0f} ops/s, "
                f"{ratio:.2f}x (goal >= {GOAL_THROUGHPUT:.1f}x) "
                + (
                    "ok"
                    if ratio >= GOAL_THROUGHPUT and not any(r.refused for r, _ in both)
                    else "MISS"
                )
                + (" (refused ops)" if any(r.refused for r, _ in both) else "")
            )
        floor = found_floor.get((scenario, "saturate"))
        if floor:
            f = statistics.median(r.ops_per_s for r, _ in floor)
            ratio = statistics.median(r.ops_per_s / base.ops_per_s for r, base in floor)
            lines.append(
                f"  the stack's floor ({FLOOR}, no storage, checks or transform): "
                f"{f:.0f} ops/s, {ratio:.2f}x ShareDB"
            )
    for scenario in ("10 on 1 doc", "100 on 1 doc"):
        both = found.get((scenario, "rate"))
        if both:
            a = statistics.median(r.prop_p99 for r, _ in both)
            b = statistics.median(base.prop_p99 for _, base in both)
            over = any(r.over for r, _ in both) or any(base.over for _, base in both)
            ok = a <= b and a < GOAL_P99_MS and not any(r.missing or r.over for r, _ in both)
            lines.append(
                f"p99 propagation at {rate:g}"
                f" ops/s a client, {scenario}: {a:.1f} vs ShareDB {b:.1f} ms (goal <= ShareDB's "
                f"and < {GOAL_P99_MS:.0f} ms) "
                + ("ok" if ok else "MISS")
                + (" (a server could not keep up: OVER)" if over else "")
            )
    theirs = next((m for m in memory if m.server == "sharedb"), None)
    for m in memory:
        if m.server == ours and theirs is not None:
            lines.append(
                f"memory per idle client: {m.per_client_kib:.1f} vs ShareDB "
                f"{theirs.per_client_kib:.1f} KiB (goal <= ShareDB's) "
                + ("ok" if m.per_client_kib <= theirs.per_client_kib else "MISS")
            )
        if m.server == FLOOR:
            lines.append(f"  the stack's floor: {m.per_client_kib:.1f} KiB an idle client")
    return lines


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, one round, 200 idle")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every run per server")
    parser.add_argument("--rate", type=float, default=10.0, help="ops/s per client (rate mode)")
    parser.add_argument("--generators", type=int, default=4, help="load generator processes")
    parser.add_argument("--idle-clients", type=int, default=1000)
    parser.add_argument(
        "--deflate", choices=("on", "off"), default="off",
        help="Prework's per-message compression in the load runs",
    )  # fmt: skip
    parser.add_argument("--scenarios", nargs="*", help="names (default: all)")
    parser.add_argument("--modes", nargs="*", default=["rate", "saturate"])
    parser.add_argument(
        "--servers", nargs="*", default=["prework", "sharedb", "floor"],
        choices=["prework", "sharedb", "floor"],
    )  # fmt: skip
    parser.add_argument("--no-memory", action="store_true", help="skip the idle-client memory")
    parser.add_argument("--profile", type=Path, help="py-spy --gil the Prework server, stacks here")
    parser.add_argument("--profile-scenario", default="10 on 1 doc")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.duration
    rounds = 1 if args.quick else args.rounds
    idle = 200 if args.quick else args.idle_clients
    deflate = args.deflate == "on"
    node_path = ensure_npm_package(BENCH_SHAREDB).parent

    with tempfile.TemporaryDirectory(prefix="prework-bench-sync-") as tmp:
        root = Path(tmp)
        data = root / "data"
        env = {
            **prework_env(data),
            "PREWORK_ACCESS_TOKEN_TTL_SECONDS": str(24 * 3600),  # a full run outlasts 15 min
            "PREWORK_MAX_CONNECTIONS": str(max(2000, idle + 500)),
        }
        subprocess.run(
            [sys.executable, "-m", "prework", "init"],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
        )
        settings = Settings(
            _env_file=None, data_dir=data, store=env["PREWORK_STORE"], blobs=env["PREWORK_BLOBS"]
        )
        started = time.perf_counter()
        world = asyncio.run(seed(settings))
        chosen = [s for s in scenarios(world) if not args.scenarios or s.name in args.scenarios]
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"CPUs: {os.cpu_count()}, load average: {load}; seeded {CREW} crew, "
            f"{len(world.docs())} started assignments in {time.perf_counter() - started:.1f} s; "
            f"{seconds:g} s a run, {rounds} round(s), {args.generators} generators, "
            f"{args.rate:g} ops/s a client at the rate; Prework deflate {args.deflate}"
        )

        def servers() -> Iterator[Callable[[], Any]]:
            if "prework" in args.servers:
                yield lambda: prework_server(data, env, world, deflate=deflate)
            if "sharedb" in args.servers:
                yield lambda: sharedb_server(root, node_path, world)
            if "floor" in args.servers:
                yield lambda: floor_server(root, world)

        runs: list[Run] = []
        print(HEADER)
        print("-" * len(HEADER))
        for round_no in range(rounds):
            for make in servers():
                with make() as target:
                    for scenario in chosen:
                        for mode in args.modes:
                            r = run_load(
                                root, node_path, target, scenario, mode=mode, rate=args.rate,
                                seconds=seconds, generators=args.generators, round_no=round_no,
                            )  # fmt: skip
                            runs.append(r)
                            print(row(r), flush=True)
        ours = "prework (deflate)" if deflate else "prework"
        for a, b in ((ours, "sharedb"), (FLOOR, "sharedb"), (ours, FLOOR)):
            if pairs(runs, a, b):
                print()
                for line in ratio_lines(runs, a, b):
                    print(line)

        memory: list[Memory] = []
        if not args.no_memory:
            print(f"\nidle clients: server RSS before and after {idle} subscribed clients")
            makers: list[Callable[[], Any]] = []
            if "prework" in args.servers:
                makers += [
                    lambda: prework_server(data, env, world, deflate=True),
                    lambda: prework_server(data, env, world, deflate=False),
                ]
            if "sharedb" in args.servers:
                makers.append(lambda: sharedb_server(root, node_path, world))
            if "floor" in args.servers:
                makers.append(lambda: floor_server(root, world))
            for make in makers:
                with make() as target:
                    m = idle_memory(
                        root, node_path, target, world, clients=idle, generators=args.generators
                    )
                memory.append(m)
                print(
                    f"{m.server:<22} {m.before_kib / 1024:>8.1f} MiB -> "
                    f"{m.after_kib / 1024:>8.1f} MiB  {m.per_client_kib:>6.1f} KiB a client"
                )

        print("\ngoals:")
        for line in verdicts(runs, memory, ours, args.rate):
            print(f"  {line}")

        if args.profile is not None:
            scenario = next(s for s in scenarios(world) if s.name == args.profile_scenario)
            print()
            with prework_server(data, env, world, deflate=deflate) as target:
                profile(
                    root, node_path, target, scenario, seconds=seconds,
                    generators=args.generators, out=args.profile.resolve(),
                )  # fmt: skip


if __name__ == "__main__":
    main()
