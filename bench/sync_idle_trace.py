"""Where an idle sync WebSocket client's memory goes: tracemalloc in the server.

Serves the app in this process (uvicorn with ``prework serve``'s protocol classes,
websockets-sansio, no compression) on the bench_sync world (SQLite in a temporary
folder), opens ``--clients`` authenticated sockets from a child process (each
subscribed to a document, then idle), and prints the traced growth per client,
then the allocation sites, grouped by the innermost Prework frame (or the library
frame when no Prework frame is on the stack), largest first. tracemalloc sees
Python's allocations only; ``bench/bench_sync.py`` measures RSS.
Run: ``python bench/sync_idle_trace.py [--clients 300] [--top 30]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvloop

from bench_assignments import PASSWORD, prework_env
from bench_sync import seed
from prework.app import create_app
from prework.config import Settings
from prework.server import ConnectionLimits, protocol_class
from prework.testing.serving import serving

WARM = 20


async def _clients(urls: list[str], docs: list[str], count: int) -> None:
    """The child: ``count`` subscribed sockets, held until stdin closes."""
    from websockets.asyncio.client import connect

    held = []
    for i in range(count):
        ws = await connect(urls[i % len(urls)], compression=None)
        await ws.send(orjson.dumps({"a": "hs", "protocol": 1, "protocolMinor": 2}).decode())
        await ws.recv()  # init
        await ws.recv()  # hs
        await ws.send(
            orjson.dumps({"a": "s", "c": "assignments", "d": docs[i % len(docs)]}).decode()
        )
        await ws.recv()
        held.append(ws)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _site(trace: tracemalloc.Traceback) -> str:
    frames = list(trace)
    ours = [f for f in frames if "/prework/" in f.filename and "/site-packages/" not in f.filename]
    frame = ours[-1] if ours else frames[-1]
    name = frame.filename.split("/src/")[-1].split("site-packages/")[-1]
    return f"{name}:{frame.lineno}"


async def _trace(tmp: str, clients: int, top: int) -> None:
    data = Path(tmp) / "data"
    env = prework_env(data)
    settings = Settings(
        _env_file=None, data_dir=data, store=env["PREWORK_STORE"], blobs=env["PREWORK_BLOBS"],
        log_level="warning",
    )  # fmt: skip
    world = await seed(settings)
    limits = ConnectionLimits.from_settings(settings)
    async with serving(
        create_app(settings), http=protocol_class(settings.http_parser, limits),
        ws="websockets-sansio", ws_per_message_deflate=False, log_config=None,
        access_log=False, lifespan="on",
    ) as port:  # fmt: skip
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            tokens = []
            for email in world.emails:
                r = await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
                tokens.append(r.json()["access_token"])
        urls = [f"ws://127.0.0.1:{port}/api/sync/ws?access_token={t}" for t in tokens]

        async def spawn(count: int) -> Any:
            child = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--child", json.dumps(urls), json.dumps(world.many),
                str(count), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            )  # fmt: skip
            assert child.stdout is not None
            line = await child.stdout.readline()
            if not line.startswith(b"ready"):
                raise SystemExit(f"the clients did not connect: {line!r}")
            return child

        warm = await spawn(WARM)  # first-use allocations (caches, pools) out of the way
        warm.stdin.close()
        await warm.wait()
        await asyncio.sleep(1)
        gc.collect()
        tracemalloc.start(40)
        before = tracemalloc.take_snapshot()
        child = await spawn(clients)
        await asyncio.sleep(1)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = after.compare_to(before, "traceback")
        sites: collections.Counter[str] = collections.Counter()
        for stat in stats:
            sites[_site(stat.traceback)] += stat.size_diff
        total = sum(s.size_diff for s in stats)
        per_client = total / clients / 1024
        print(f"{clients} idle subscribed clients: traced growth {per_client:.1f} KiB a client")
        print("bytes a client  site (innermost Prework frame, else the library's)")
        for site, size in sites.most_common(top):
            print(f"{size / clients:>14.0f}  {site}")
        child.stdin.close()
        await child.wait()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        asyncio.run(_clients(json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prework-idle-trace-") as tmp:
        env = prework_env(Path(tmp) / "data")
        subprocess.run(
            [sys.executable, "-m", "prework", "init"], env=env, cwd=tmp, check=True,
            capture_output=True,
        )  # fmt: skip
        uvloop.run(_trace(tmp, args.clients, args.top))


if __name__ == "__main__":
    main()
