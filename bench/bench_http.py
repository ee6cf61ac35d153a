"""The request path against the framework: ``prework serve`` vs a bare FastAPI app.

Starts, on free loopback ports,

* the floor: a bare FastAPI app (``GET /hello`` -> a small JSON object) under
  uvicorn with the settings ``prework serve`` uses (no access log of uvicorn's,
  no server header, uvicorn's automatic choice of loop and HTTP parser);
* ``prework serve`` on the embedded default (SQLite, file blobs, a generated
  secret key in a temporary data folder), with one registered owner;
* optionally (``--baseline-src DIR``) a second ``prework serve`` running the
  code in ``DIR`` (another checkout's ``src``), for a before/after in one run,

and drives them with ``wrk`` (``make bench`` installs it) at 1, 16 and 64
connections, one route after another, each route's run right after a run of
the floor at the same load, so every ratio compares runs seconds apart. Routes:
``GET /healthz``, ``GET /api/auth/me``, ``GET /api/users``,
``GET /api/orgs/current``, ``GET /api/audit`` (bearer) and the write
``PATCH /api/profiles/me`` without ``If-Match`` (every request another
display name, all on one profile).

For ``/api/audit`` (a page of 50 events, 22 KB) the floor app also serves
``GET /page``, the page floor: 50 stored events of the same shape read from its
own SQLite file and rendered with orjson, with nothing in between (no auth, no
checks, no models). Its row shows what the bare framework reaches for such a page
(as a fraction of ``/hello``), next to Prework's.

With ``--rounds N`` each row is run N times (the floor, then each server, each
round) and every figure is the median over the rounds, the ratios the medians of
each round's ratio: on a shared machine one run's neighbour can move a figure by a
third. Printed per row: req/s, p50, p99, the server's CPU time per request (from
``/proc``: steadier than req/s on a shared machine), req/s as a fraction of
the floor's and p99 as a multiple of the floor's, and for the write the share
of 2xx answers. Goals (checked, printed as ok/MISS): ``/healthz`` >= 0.8x the
floor's req/s; authenticated reads >= 0.5x and p99 <= 2x the floor's at 16
and 64 connections; at 1 connection their p50 <= 3x the floor's; the write
succeeds for >= 99% of requests at 16 connections. A benchmark, not a test:
the figures depend on the machine and its load. Run: ``python
bench/bench_http.py [--quick] [--duration S] [--rounds N] [--baseline-src DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
CONNECTIONS = (1, 16, 64)
AUDIT = "/api/audit"
READS = ("/api/auth/me", "/api/users", "/api/orgs/current", AUDIT)
WRITE = "/api/profiles/me"
ROUTES = ("/healthz", *READS, WRITE)
GOAL_HEALTHZ = 0.8
GOAL_READ = 0.5
GOAL_READ_P99 = 2.0
GOAL_SINGLE_P50 = 3.0
GOAL_WRITE_OK = 0.99

FLOOR_APP = textwrap.dedent(
    """
    import sqlite3
    import sys
    import uuid

    import orjson
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI()

    # the page floor: 50 events of the shape Prework stores, read and rendered with
    # nothing in between (no auth, no checks, no models)
    db = sqlite3.connect("page-floor.db", check_same_thread=False)
    db.execute("CREATE TABLE IF NOT EXISTS events (pk TEXT, sk TEXT, data BLOB, "
               "PRIMARY KEY (pk, sk)) WITHOUT ROWID")
    ORG, USER = uuid.uuid4().hex, uuid.uuid4().hex
    SHOWN = ("id", "at", "action", "outcome", "actor_type", "actor_id", "target_type",
             "target_id", "changes", "details", "request_id", "client_ip", "user_agent")
    for n in range(60):
        event_id, at = uuid.uuid4().hex, f"2026-12-02T15:48:{n:02d}.564183Z"
        sk = f"{at}#{event_id}"
        event = {
            "pk": f"ORG#{ORG}", "sk": sk, "id": event_id, "org_id": ORG, "at": at,
            "action": "profile.updated", "outcome": "success", "actor_type": "user",
            "actor_id": USER, "target_type": "profile", "target_id": USER,
            "changes": {"display_name": {"old": f"B{n}", "new": f"B{n + 1}"}}, "details": {},
            "request_id": uuid.uuid4().hex, "client_ip": "127.0.0.1",
            "user_agent": "wrk", "gsi1pk": f"ORG#{ORG}#ACTOR#{USER}", "gsi1sk": sk,
            "gsi2pk": f"ORG#{ORG}#TARGET#profile#{USER}", "gsi2sk": sk,
            "gsi3pk": f"ORG#{ORG}#ACTION#profile.updated", "gsi3sk": sk,
        }
        db.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?)",
                   (f"ORG#{ORG}", sk, orjson.dumps(event)))
    db.commit()


    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}


    @app.get("/page")
    async def page() -> Response:
        rows = db.execute("SELECT data FROM events WHERE pk = ? ORDER BY sk DESC LIMIT 50",
                          (f"ORG#{ORG}",)).fetchall()
        items = orjson.loads(b"[" + b",".join(row[0] for row in rows) + b"]")
        shown = [{name: item.get(name) for name in SHOWN} for item in items]
        body = orjson.dumps({"items": shown, "next_cursor": None})
        return Response(body, media_type="application/json")


    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        server_header=False,
    )
    """
)

READ_LUA = textwrap.dedent(
    """
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
    """
)

WRITE_LUA = textwrap.dedent(
    """
    wrk.method = "PATCH"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
    wrk.headers["Content-Type"] = "application/json"
    local n = 0
    request = function()
      n = n + 1
      local body = '{"display_name":"Bench ' .. n .. "-" .. math.random(1000000000) .. '"}'
      return wrk.format(nil, nil, nil, body)
    end
    """
)


def end_process(proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Ask ``proc`` to stop (SIGTERM); kill it if it has not within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    token: str = ""

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(name: str, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> Server:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*args, str(port)] if name == "floor" else [*args, "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )
    server = Server(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 30
    path = "/hello" if name == "floor" else "/healthz"
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(server.base + path, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{name} did not answer in 30 s")
        time.sleep(0.1)


def start_prework(name: str, data: Path, src: Path | None) -> Server:
    data.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")},
        "PREWORK_DATA_DIR": str(data),
        "PREWORK_STORE": f"sqlite:///{data / 'prework.db'}",
        "PREWORK_BLOBS": f"file://{data / 'blobs'}",
    }
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    server = start(
        name,
        [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1"],
        env,
        data / "server.log",
        data,
    )
    r = httpx.post(
        server.base + "/api/auth/register",
        json={
            "organization_name": "Bench",
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "display_name": "Bench",
        },
        timeout=30,
    )
    if r.status_code != 201:
        raise SystemExit(f"register failed on {name}: {r.status_code} {r.text}")
    server.token = r.json()["access_token"]
    # a full page of events for /api/audit, whichever routes run
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for n in range(60):
            r = client.patch(
                "/api/profiles/me",
                json={"display_name": f"Bench {n}"},
                headers={"Authorization": f"Bearer {server.token}"},
            )
            if r.status_code != 200:
                raise SystemExit(f"profile update failed on {name}: {r.status_code} {r.text}")
    return server


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)([a-z]+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


@dataclass
class Result:
    rps: float
    p50: float
    p99: float
    cpu_us: float
    ok_share: float


def wrk(server: Server, path: str, conns: int, duration: float, script: Path) -> Result:
    threads = min(2, conns)
    env = {**os.environ, "BENCH_TOKEN": server.token}
    cpu0 = server.cpu_seconds()
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            server.base + path,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu = server.cpu_seconds() - cpu0
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (int(errors.group(1)) if errors else 0)
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        p50=_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99=_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        cpu_us=cpu / max(total, 1) * 1e6,
        ok_share=1 - failed / max(total, 1),
    )


async def _point_reads(inline: bool, root: Path, n: int) -> list[float]:
    """Seconds per SqliteStore.get of one small item, one call after another."""
    from prework.store.sqlite import SqliteStore

    store = SqliteStore(root / f"reads-{inline}.db", inline_reads=inline)
    await store.init()
    key = {"pk": "ORG#bench", "sk": "USER#bench"}
    await store.put("users", {**key, "email": "bench@example.com", "role": "owner", "n": 1})
    try:
        for _ in range(200):
            await store.get("users", key)
        times = []
        for _ in range(n):
            started = time.perf_counter()
            await store.get("users", key)
            times.append(time.perf_counter() - started)
        return sorted(times)
    finally:
        await store.close()


def point_reads(root: Path, n: int = 5000) -> None:
    """The figures behind running SQLite point reads inline (docs/architecture.md)."""
    for inline in (True, False):
        times = asyncio.run(_point_reads(inline, root, n))
        where = "inline on the loop" if inline else "hop to a reader thread"
        print(
            f"SqliteStore.get, {where:<22}: p50 {times[n // 2] * 1e6:6.1f} us, "
            f"p99 {times[int(n * 0.99)] * 1e6:6.1f} us, max {times[-1] * 1e6:7.1f} us"
        )


def verdict(path: str, conns: int, r: Result, ratio: float, p99x: float, p50x: float) -> str:
    checks: list[bool] = []
    if path == "/healthz" and conns > 1:
        checks.append(ratio >= GOAL_HEALTHZ)
    elif path in READS and conns > 1:
        checks += [ratio >= GOAL_READ, p99x <= GOAL_READ_P99]
    elif path in READS:
        checks.append(p50x <= GOAL_SINGLE_P50)
    if path == WRITE and conns == 16:
        checks.append(r.ok_share >= GOAL_WRITE_OK)
    if not checks:
        return ""
    return "ok" if all(checks) else "MISS"


def median_result(results: list[Result]) -> Result:
    """Each figure's median over the rounds."""
    return Result(
        rps=statistics.median(r.rps for r in results),
        p50=statistics.median(r.p50 for r in results),
        p99=statistics.median(r.p99 for r in results),
        cpu_us=statistics.median(r.cpu_us for r in results),
        ok_share=min(r.ok_share for r in results),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 s runs")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src, served too")
    parser.add_argument("--connections", type=int, nargs="*", default=list(CONNECTIONS))
    parser.add_argument("--routes", nargs="*", default=list(ROUTES))
    parser.add_argument("--no-reads", action="store_true", help="skip the SQLite read figures")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each row; the medians are printed"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (make bench installs the Debian package wrk)")
    duration = 2.0 if args.quick else args.duration

    with tempfile.TemporaryDirectory(prefix="prework-bench-http-") as tmp:
        root = Path(tmp)
        (root / "floor.py").write_text(FLOOR_APP)
        (root / "read.lua").write_text(READ_LUA)
        (root / "write.lua").write_text(WRITE_LUA)
        servers: list[Server] = []
        try:
            floor = start("floor", [sys.executable, str(root / "floor.py")], dict(os.environ),
                          root / "floor.log", root)  # fmt: skip
            servers.append(floor)
            candidates = [start_prework("prework", root / "prework", None)]
            if args.baseline_src is not None:
                candidates.append(start_prework("baseline", root / "baseline", args.baseline_src))
            servers += candidates
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"CPUs: {os.cpu_count()}, load average: {load}, {duration:g} s a run")
            if not args.no_reads:
                point_reads(root)
            # warm-up: every route once at the heaviest load
            for server in candidates:
                for path in args.routes:
                    script = root / ("write.lua" if path == WRITE else "read.lua")
                    wrk(server, path, max(args.connections), 1, script)
            wrk(floor, "/hello", max(args.connections), 1, root / "read.lua")

            header = (
                f"{'route':<22} {'server':<10} {'conns':>5} {'req/s':>8} {'p50 ms':>8} "
                f"{'p99 ms':>8} {'CPU us/req':>10} {'x floor':>8} {'p99 x':>6} {'2xx':>7}"
            )
            print(header)
            print("-" * len(header))
            for conns in args.connections:
                for path in args.routes:
                    script = root / ("write.lua" if path == WRITE else "read.lua")
                    # each round: the floor, then each server, seconds apart
                    rounds: list[list[Result]] = []
                    for _ in range(args.rounds):
                        base = wrk(floor, "/hello", conns, duration, root / "read.lua")
                        row = [base, *(wrk(s, path, conns, duration, script) for s in candidates)]
                        if path == AUDIT:
                            row.append(wrk(floor, "/page", conns, duration, root / "read.lua"))
                        rounds.append(row)
                    names = ["floor", *(s.name for s in candidates)]
                    if path == AUDIT:
                        names.append("page floor")
                    for i, name in enumerate(names):
                        r = median_result([row[i] for row in rounds])
                        ratio = statistics.median(row[i].rps / row[0].rps for row in rounds)
                        p99x = statistics.median(row[i].p99 / row[0].p99 for row in rounds)
                        p50x = statistics.median(row[i].p50 / row[0].p50 for row in rounds)
                        floor_row = name in ("floor", "page floor")
                        shown = {"floor": "/hello", "page floor": "/page"}.get(name, path)
                        mark = "" if floor_row else verdict(path, conns, r, ratio, p99x, p50x)
                        print(
                            f"{shown:<22} {name:<10} {conns:>5} {r.rps:>8.0f} {r.p50:>8.2f} "
                            f"{r.p99:>8.2f} {r.cpu_us:>10.0f} {ratio:>8.2f} "
                            f"{p99x:>6.2f} {r.ok_share:>7.1%} {mark}",
                            flush=True,
                        )
                print()
        finally:
            for server in servers:
                end_process(server.proc, 20)


if __name__ == "__main__":
    main()
