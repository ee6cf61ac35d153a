"""`prework serve` runs on uvloop and httptools (what the request-path bench measures)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_serve_uses_uvloop_and_httptools(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
    env["PREWORK_LOG_LEVEL"] = "warning"
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prework",
        "serve",
        "--port",
        str(port),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                assert proc.returncode is None, "prework serve exited"
                try:
                    response = await client.get("/healthz")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("prework serve did not answer")
        assert response.status_code == 200
        maps = await asyncio.to_thread(Path(f"/proc/{proc.pid}/maps").read_text)
        # the compiled modules are mapped: the loop is uvloop's, the parser httptools'
        assert "/uvloop/loop." in maps
        assert "/httptools/parser/parser." in maps
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
