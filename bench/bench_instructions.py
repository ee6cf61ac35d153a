"""The request path in instructions: what one request costs each server, counted.

``bench/bench_http.py`` times the servers; on a shared machine identical runs move
by a third, more than most changes to the request path. This counts instead: the
floor app of ``bench_http.py`` (a bare FastAPI app: ``GET /hello``, and the page
floor ``GET /page``) and ``prework serve`` on the embedded default each run under
valgrind's callgrind, and for every route the server's instructions (all its
threads: the loop, the SQLite reader and writer threads, the access log's writer)
are zeroed, ``--requests`` requests are sent one after another on one keep-alive
connection, and the count is read (``callgrind_control``) and divided. Same-code
runs agree within about 1%. The kernel's share (sockets, syscalls) is not counted,
for either server.

Printed per route: instructions a request, and ``x floor``: the floor's
``/hello`` count over the route's, which is the fraction of the floor's req/s a
route could reach if the server's own CPU were the only limit (``bench_http.py``'s
``x floor`` is the measured one; its goal for authenticated reads is 0.5). The
audit page is also set against the page floor (the same 50 events read from SQLite
and rendered with orjson, nothing in between). A benchmark, not a test.
Run: ``python bench/bench_instructions.py [--requests N] [--baseline-src DIR]``
(needs valgrind: ``make bench`` installs it).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench_http import AUDIT, FLOOR_APP, PASSWORD, READS, WRITE, end_process, free_port

WARM = 20
STARTUP_SECONDS = 600.0  # an app's imports and start, at valgrind's pace
_THREAD_COUNT = re.compile(r"^\s*Th\s+\d+\s+([\d,]+)\s*$", re.MULTILINE)


@dataclass
class Counted:
    """A server under callgrind."""

    name: str
    process: subprocess.Popen[bytes]
    base: str
    token: str = ""

    def _control(self, *args: str) -> str:
        done = subprocess.run(
            ["callgrind_control", *args, str(self.process.pid)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout

    def zero(self) -> None:
        self._control("--zero")

    def instructions(self) -> int:
        """Instructions since the last :meth:`zero`, all threads."""
        out = self._control("-e", "Ir")
        counts = _THREAD_COUNT.findall(out.split("Totals:", 1)[-1])
        if not counts:
            raise SystemExit(f"no counts from callgrind_control for {self.name}:\n{out}")
        return sum(int(c.replace(",", "")) for c in counts)

    def stop(self) -> None:
        end_process(self.process, 60)


def start(name: str, argv: list[str], env: dict[str, str], cwd: Path, probe: str) -> Counted:
    port = free_port()
    log = (cwd / f"{name}.log").open("wb")
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv, str(port)],
        cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited; see {cwd / (name + '.log')}")
        try:
            if httpx.get(base + probe, timeout=10).status_code == 200:
                return Counted(name, process, base)
        except httpx.HTTPError:
            pass
        time.sleep(1)
    process.kill()
    raise SystemExit(f"{name} did not answer within {STARTUP_SECONDS:.0f} s")


def start_prework(name: str, root: Path, src: Path | None) -> Counted:
    data = root / name
    data.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")},
        "PREWORK_DATA_DIR": str(data),
        "PREWORK_STORE": f"sqlite:///{data / 'prework.db'}",
        "PREWORK_BLOBS": f"file://{data / 'blobs'}",
        # hashing is not what is counted: cheap parameters keep the start short
        "PREWORK_PASSWORD_HASH_TIME_COST": "1",
        "PREWORK_PASSWORD_HASH_MEMORY_KIB": "1024",
    }
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    argv = [sys.executable, "-m", "prework", "serve", "--host", "127.0.0.1", "--port"]
    server = start(name, argv, env, data, "/healthz")
    with httpx.Client(base_url=server.base, timeout=120) as client:
        r = client.post(
            "/api/auth/register",
            json={
                "organization_name": "Bench",
                "email": f"{name}@example.com",
                "password": PASSWORD,
                "display_name": "Bench",
            },
        )
        if r.status_code != 201:
            raise SystemExit(f"register failed on {name}: {r.status_code} {r.text}")
        server.token = r.json()["access_token"]
        for n in range(60):  # a full page of events for /api/audit
            r = client.patch(
                WRITE,
                json={"display_name": f"Bench {n}"},
                headers={"Authorization": f"Bearer {server.token}"},
            )
            if r.status_code != 200:
                raise SystemExit(f"profile update failed on {name}: {r.status_code} {r.text}")
    return server


def count(server: Counted, path: str, requests: int) -> float:
    """Instructions a request of ``path`` (a write: another display name each)."""
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    n = 0

    def one(client: httpx.Client) -> None:
        nonlocal n
        n += 1
        if path == WRITE:
            r = client.patch(path, json={"display_name": f"Bench {n}"}, headers=headers)
        else:
            r = client.get(path, headers=headers)
        if r.status_code != 200:
            raise SystemExit(f"{server.name} {path}: {r.status_code} {r.text[:200]}")

    with httpx.Client(base_url=server.base, timeout=120) as client:
        for _ in range(WARM):
            one(client)
        time.sleep(0.5)  # the access log's writer done with the warm-up's lines
        server.zero()
        for _ in range(requests):
            one(client)
        time.sleep(0.5)  # and with these
        return server.instructions() / requests


def table(rows: list[tuple[str, str, float, float | None]]) -> None:
    print(f"{'route':<22} {'server':<10} {'instructions':>13} {'x floor':>8}")
    print("-" * 56)
    for path, name, ir, ratio in rows:
        shown = "" if ratio is None else f"{ratio:.2f}"
        print(f"{path:<22} {name:<10} {ir:>13,.0f} {shown:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="counted requests a route")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src, counted too")
    parser.add_argument("--routes", nargs="*", default=["/healthz", *READS, WRITE])
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (Debian package valgrind; make bench installs it)")
    with tempfile.TemporaryDirectory(prefix="prework-instructions-") as tmp:
        root = Path(tmp)
        (root / "floor.py").write_text(FLOOR_APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
        starters: list[tuple[str, Callable[[], Counted]]] = [
            ("floor", lambda: start("floor", [sys.executable, "floor.py"], env, root, "/hello")),
            ("prework", lambda: start_prework("prework", root, None)),
        ]
        if args.baseline_src is not None:
            src = args.baseline_src.resolve()
            starters.append(("baseline", lambda: start_prework("baseline", root, src)))
        servers: list[Counted] = []
        try:
            for _, make in starters:
                servers.append(make())
            floor, *ours = servers
            hello = count(floor, "/hello", args.requests)
            page = count(floor, "/page", args.requests)
            print(
                f"instructions a request, {args.requests} counted requests a route, one at a time"
            )
            rows: list[tuple[str, str, float, float | None]] = [
                ("/hello", "floor", hello, 1.0),
                ("/page", "page floor", page, hello / page),
            ]
            for path in args.routes:
                for server in ours:
                    ir = count(server, path, args.requests)
                    rows.append((path, server.name, ir, hello / ir))
            table(rows)
            for path, name, ir, _ in rows:
                if path == AUDIT:
                    print(f"{AUDIT} ({name}): {page / ir:.2f}x the page floor's instructions")
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
