"""`prework init` + `prework serve` as a deployment runs them: a real uvicorn
process on a free loopback port, driven over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

PRESET = {
    # cheap hashing: this tier checks wiring, the bench measures the real cost
    "PREWORK_PASSWORD_HASH_TIME_COST": "1",
    "PREWORK_PASSWORD_HASH_MEMORY_KIB": "1024",
    "PREWORK_LOG_LEVEL": "warning",
}
PRESET_KEYS = ("PREWORK_STORE", "PREWORK_BLOBS", "PREWORK_SECRET_KEY", "PREWORK_TRUSTED_PROXIES")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PRESET_KEYS}
    env.update(PRESET)
    env.update(extra)
    return env


async def _run(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run `prework ARGS` to completion; its exit code and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "prework",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.fixture
def serve(tmp_path: Path) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    @asynccontextmanager
    async def start(*args: str, **extra: str) -> AsyncIterator[httpx.AsyncClient]:
        env = _env(extra)
        code, err = await _run("init", cwd=tmp_path, env=env)
        assert code == 0, err
        port = _free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "prework",
            "serve",
            "--port",
            str(port),
            *args,
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(200):  # up to ~20 s on a loaded machine
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert proc.returncode is None, "prework serve exited"
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail("prework serve did not become ready")
                yield client
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=15)

    return start


async def _register_from(client: httpx.AsyncClient, forwarded_for: str) -> str:
    """Register an org through a 'proxy' header; the client address its audit saw."""
    r = await client.post(
        "/api/auth/register",
        headers={"X-Forwarded-For": forwarded_for},
        json={
            "organization_name": "Acme",
            "email": "olive@acme.example.com",
            "password": "correct horse battery staple",
            "display_name": "Olive",
        },
    )
    assert r.status_code == 201, r.text
    token = r.json()["access_token"]
    audit = await client.get(
        "/api/audit",
        headers={"Authorization": f"Bearer {token}"},
        params={"action": "user.created"},
    )
    assert audit.status_code == 200, audit.text
    (event,) = audit.json()["items"]
    return str(event["client_ip"])


async def test_init_then_serve_answers_on_the_embedded_engines(
    serve: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]], tmp_path: Path
) -> None:
    async with serve() as client:
        r = await client.get("/readyz")
        assert r.json() == {"status": "ready", "checks": {"store": "ok", "blobs": "ok"}}
        assert r.headers["X-Request-ID"]
    key = tmp_path / "var" / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600


async def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    serve: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]], tmp_path: Path
) -> None:
    async with serve() as client:
        assert await _register_from(client, "203.0.113.9") == "127.0.0.1"


async def test_a_trusted_proxy_supplies_the_client_address(
    serve: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    async with serve(PREWORK_TRUSTED_PROXIES="127.0.0.1") as client:
        assert await _register_from(client, "203.0.113.9") == "203.0.113.9"


async def test_serve_refuses_aws_engines_without_a_secret_key(tmp_path: Path) -> None:
    env = _env(
        {
            "PREWORK_STORE": "dynamodb://?endpoint=http://127.0.0.1:9&region=us-east-1",
            "PREWORK_BLOBS": "s3://?endpoint=http://127.0.0.1:9&region=us-east-1",
        }
    )
    code, err = await _run("serve", "--port", str(_free_port()), cwd=tmp_path, env=env)
    assert code != 0
    assert "PREWORK_SECRET_KEY" in err


async def _ws_extensions(client: httpx.AsyncClient) -> str | None:
    """The extensions the server accepted for a WebSocket whose client offers
    per-message compression (as browsers do); the socket closes unauthenticated."""
    url = str(client.base_url).replace("http://", "ws://") + "/api/sync/ws"
    async with connect(url, compression="deflate") as ws:
        assert ws.response is not None
        extensions: str | None = ws.response.headers.get("Sec-WebSocket-Extensions")
        return extensions


async def test_websocket_compression_is_off_unless_the_setting_or_the_flag_turns_it_on(
    serve: Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    async with serve() as client:
        assert await _ws_extensions(client) is None
    async with serve(PREWORK_WS_PER_MESSAGE_DEFLATE="true") as client:
        assert (await _ws_extensions(client) or "").startswith("permessage-deflate")
    async with serve("--no-ws-per-message-deflate", PREWORK_WS_PER_MESSAGE_DEFLATE="true") as c:
        assert await _ws_extensions(c) is None
    async with serve("--ws-per-message-deflate") as client:
        assert (await _ws_extensions(client) or "").startswith("permessage-deflate")
