"""Login latency on the embedded default, and event-loop health under a login storm.

Starts a real server (``python -m prework serve``: uvicorn, SQLite, file blobs, a
secret key generated into a temporary data folder, the production password-hash
parameters) on a free loopback port, registers 32 accounts, then drives it with
httpx from this process:

* 1 client: sequential logins -> p50 / p99;
* 32 clients: concurrent logins (one account each) -> p50 / p99, while one more
  client probes ``GET /healthz`` every 10 ms -> its p99 (proves hashing does not
  block the loop).

Goals: login p50 < 40 ms at 1 client; ``/healthz`` p99 < 20 ms during the storm.
Prints a table, the hash parameters and the machine's CPU count. Request counts
are bounded (about 100 + 32 x 12 logins). Run: ``python bench/bench_login.py
[--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from prework.config import Settings
from prework.identity.passwords import HashParams

PASSWORD = "correct horse battery staple"
CLIENTS = 32
GOAL_LOGIN_P50_MS = 40.0
GOAL_HEALTHZ_P99_MS = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def start_server(data: Path, port: int, threads: int) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")},
        "PREWORK_DATA_DIR": str(data),
        "PREWORK_STORE": f"sqlite:///{data / 'prework.db'}",
        "PREWORK_BLOBS": f"file://{data / 'blobs'}",
        "PREWORK_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # the bench registers 32 accounts from one address in a few seconds
        "PREWORK_REGISTER_MAX_PER_ADDRESS": "1000",
        "PREWORK_PASSWORD_HASH_THREADS": str(threads),
    }
    log = data / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=data,
        )
    return proc, log


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{await asyncio.to_thread(tail, log)}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"the server did not answer in 30 s:\n{await asyncio.to_thread(tail, log)}")


async def timed_login(client: httpx.AsyncClient, email: str) -> float:
    started = time.perf_counter()
    r = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    elapsed = (time.perf_counter() - started) * 1000
    if r.status_code != 200:
        raise SystemExit(f"login failed: {r.status_code} {r.text}")
    return elapsed


async def run(quick: bool, threads: int) -> None:
    single_n = 40 if quick else 100
    storm_n = 6 if quick else 12
    limits = httpx.Limits(max_connections=CLIENTS + 4, max_keepalive_connections=CLIENTS + 4)
    with tempfile.TemporaryDirectory(prefix="prework-bench-") as tmp:
        data = Path(tmp)
        port = free_port()
        proc, log = start_server(data, port, threads)
        try:
            base = f"http://127.0.0.1:{port}"
            async with (
                httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client,
                httpx.AsyncClient(base_url=base, timeout=10) as prober,
            ):
                await wait_ready(client, proc, log)
                emails = [f"bench-{i}@example.com" for i in range(CLIENTS)]
                for i, email in enumerate(emails):
                    r = await client.post(
                        "/api/auth/register",
                        json={
                            "organization_name": f"Bench {i}",
                            "email": email,
                            "password": PASSWORD,
                            "display_name": f"Bench {i}",
                        },
                    )
                    if r.status_code != 201:
                        raise SystemExit(f"register failed: {r.status_code} {r.text}")
                for email in emails[:5]:  # warm up connections and code paths
                    await timed_login(client, email)

                # 1 client, one login after another
                single = [await timed_login(client, emails[i % 5]) for i in range(single_n)]

                # 32 clients at once, /healthz probed meanwhile
                storm_done = asyncio.Event()
                probes: list[float] = []

                async def probe() -> None:
                    while not storm_done.is_set():
                        started = time.perf_counter()
                        r = await prober.get("/healthz")
                        probes.append((time.perf_counter() - started) * 1000)
                        assert r.status_code == 200
                        await asyncio.sleep(0.01)

                async def storm_client(email: str) -> list[float]:
                    return [await timed_login(client, email) for _ in range(storm_n)]

                idle = []
                for _ in range(50):  # /healthz with nothing else going on
                    started = time.perf_counter()
                    await prober.get("/healthz")
                    idle.append((time.perf_counter() - started) * 1000)

                prober_task = asyncio.create_task(probe())
                started = time.perf_counter()
                storm_results = await asyncio.gather(*(storm_client(e) for e in emails))
                storm_seconds = time.perf_counter() - started
                storm_done.set()
                await prober_task
                storm = [ms for per_client in storm_results for ms in per_client]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    params = HashParams(
        time_cost=Settings.model_fields["password_hash_time_cost"].default,
        memory_kib=Settings.model_fields["password_hash_memory_kib"].default,
        parallelism=Settings.model_fields["password_hash_parallelism"].default,
    )
    cpus = os.cpu_count() or 1
    threads = threads or max(1, cpus - 1)
    print(
        f"login bench: SQLite store, uvicorn, {cpus} CPUs; argon2id t={params.time_cost}, "
        f"m={params.memory_kib} KiB ({params.memory_kib / 1024:.0f} MiB), p={params.parallelism}, "
        f"{threads} hashing thread(s)"
    )
    print()
    print(f"| {'scenario':<38} | {'n':>5} | {'p50 ms':>8} | {'p99 ms':>8} | {'goal':<16} |")
    print(f"|{'-' * 40}|{'-' * 7}|{'-' * 10}|{'-' * 10}|{'-' * 18}|")

    def row(name: str, samples: list[float], goal: str = "") -> None:
        print(
            f"| {name:<38} | {len(samples):>5} | {statistics.median(samples):>8.1f} "
            f"| {percentile(samples, 99):>8.1f} | {goal:<16} |"
        )

    row("login, 1 client", single, f"p50 < {GOAL_LOGIN_P50_MS:.0f} ms")
    row(f"login, {CLIENTS} clients", storm)
    row("/healthz, idle", idle)
    row(
        f"/healthz, during the {CLIENTS}-client storm",
        probes,
        f"p99 < {GOAL_HEALTHZ_P99_MS:.0f} ms",
    )
    print()
    print(f"storm throughput: {len(storm) / storm_seconds:.0f} logins/s")
    login_ok = statistics.median(single) < GOAL_LOGIN_P50_MS
    health_ok = percentile(probes, 99) < GOAL_HEALTHZ_P99_MS
    print(
        f"goals: login p50 {'met' if login_ok else 'MISSED'}, "
        f"/healthz p99 during storm {'met' if health_ok else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument(
        "--threads", type=int, default=0, help="hashing threads (default: the server's: CPUs - 1)"
    )
    args = parser.parse_args()
    asyncio.run(run(args.quick, args.threads))
