"""Event-loop health while clients send hostile JSON bodies (50,000 unknown keys).

Starts a real server (``python -m prework serve``: uvicorn, SQLite, file blobs)
on a free loopback port, then, in rounds that alternate:

* baseline: one prober sends ``GET /healthz`` every 10 ms -> p50 / p99;
* hostile: the same prober while 8 clients (in a process of their own) each
  post a 50,000-key body (about 0.7 MB: under the server's 1 MiB limit, past the
  login route's 64 KiB, so refused from its ``Content-Length`` and the rest of it
  dropped while the connection closes) to ``/api/auth/login`` back to back;
* plain: the same with a body of the same size that is cheap to parse (one
  long string): what receiving that many bytes costs whatever they hold.

Goal: ``/healthz`` p99 during the hostile storm at most 2x its p99 alone, in
the same run. Prints each round, the ratios of the medians of the rounds'
p99s and the spread, the answer the hostile body got and its size. Request
counts and time are bounded (3 rounds of each, a fixed number of probes
each). Run: ``python bench/bench_hostile_bodies.py [--quick]``.
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
import orjson

CLIENTS = 8
KEYS = 50_000
GOAL_RATIO = 2.0
PROBE_INTERVAL_S = 0.010


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def start_server(data: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")},
        "PREWORK_DATA_DIR": str(data),
        "PREWORK_STORE": f"sqlite:///{data / 'prework.db'}",
        "PREWORK_BLOBS": f"file://{data / 'blobs'}",
        "PREWORK_LOG_LEVEL": "warning",
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


async def wait_ready(client: httpx.AsyncClient, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = await asyncio.to_thread(log.read_text, errors="replace")
            raise SystemExit(f"the server exited:\n{text[-2000:]}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not answer in 30 s")


async def probe(client: httpx.AsyncClient, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        r = await client.get("/healthz")
        samples.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"/healthz answered {r.status_code}")
        await asyncio.sleep(PROBE_INTERVAL_S)
    return samples


async def hostile(client: httpx.AsyncClient, body: bytes, deadline: float) -> int:
    sent = 0
    while time.monotonic() < deadline:
        await client.post(
            "/api/auth/login", content=body, headers={"content-type": "application/json"}
        )
        sent += 1
    return sent


async def send(base: str, seconds: float, kind: str) -> None:
    """The storm, in a process of its own (so that the prober's loop only probes)."""
    body = hostile_body() if kind == "hostile" else plain_body()
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for _ in range(CLIENTS)]
    try:
        deadline = time.monotonic() + seconds
        sent = await asyncio.gather(*(hostile(c, body, deadline) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    print(sum(sent), flush=True)


async def storm_round(
    base: str, prober: httpx.AsyncClient, probes: int, kind: str
) -> tuple[list[float], int]:
    seconds = probes * PROBE_INTERVAL_S * 4 + 2  # outlasts the probes
    sender = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--send",
        base,
        "--seconds",
        str(seconds),
        "--kind",
        kind,
        stdout=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(1.0)  # let the storm start
    samples = await probe(prober, probes)
    out, _ = await sender.communicate()
    return samples, int(out.decode().strip() or 0)


def plain_body() -> bytes:
    """As large as the hostile body, cheap to parse: what any big body costs."""
    return orjson.dumps({"email": "x@example.com", "password": "p" * 12, "x": "y" * 727_000})


def hostile_body() -> bytes:
    return orjson.dumps(
        {"email": "x@example.com", "password": "p" * 12, **{f"k{i}": i for i in range(KEYS)}}
    )


async def run(probes: int, rounds: int) -> None:
    body = hostile_body()
    with tempfile.TemporaryDirectory(prefix="prework-bench-") as tmp:
        data = Path(tmp)
        port = free_port()
        proc, log = start_server(data, port)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=30) as prober:
                await wait_ready(prober, proc, log)
                answer = await prober.post(
                    "/api/auth/login", content=body, headers={"content-type": "application/json"}
                )
                print(f"hostile body: {len(body):,} bytes, {KEYS:,} keys")
                print(
                    f"its answer: {answer.status_code} {answer.json()['error']['code']}, "
                    f"{len(answer.content):,} bytes"
                )
                await probe(prober, 20)  # warm-up
                p99s: dict[str, list[float]] = {"alone": [], "plain": [], "hostile": []}
                print(f"{'round':<12}{'p50 ms':>10}{'p99 ms':>10}{'bodies':>10}")
                for i in range(rounds):
                    for kind in p99s:
                        if kind == "alone":
                            samples, sent = await probe(prober, probes), 0
                        else:
                            samples, sent = await storm_round(base, prober, probes, kind)
                        p99s[kind].append(percentile(samples, 99))
                        print(
                            f"{f'{kind} {i + 1}':<12}{statistics.median(samples):>10.2f}"
                            f"{p99s[kind][-1]:>10.2f}{sent or '-':>10}"
                        )
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    for kind, values in p99s.items():
        print(f"/healthz p99, {kind}: {min(values):.2f}..{max(values):.2f} ms")
    alone = statistics.median(p99s["alone"])
    ratio = statistics.median(p99s["hostile"]) / alone
    verdict = "OK" if ratio <= GOAL_RATIO else "MISSED"
    print(f"hostile storm / alone (median p99s): {ratio:.2f}x (goal <= {GOAL_RATIO}x): {verdict}")
    plain = statistics.median(p99s["plain"]) / alone
    print(f"plain storm / alone (the same bytes, cheap to parse): {plain:.2f}x")
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer probes per round")
    parser.add_argument("--send", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="hostile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        asyncio.run(send(args.send, args.seconds, args.kind))
    else:
        asyncio.run(run(probes=100 if args.quick else 300, rounds=3))


if __name__ == "__main__":
    main()
