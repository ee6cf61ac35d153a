"""An ASGI app served by a real uvicorn on a free loopback port, for as long as a
test (or a bench) needs it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

__all__ = ["free_port", "serving"]


def free_port() -> int:
    """A loopback port free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(app: Any, **config: Any) -> AsyncIterator[int]:
    """``app`` served by uvicorn (``config``: more of ``uvicorn.Config``'s options) on a
    free loopback port, yielded once the server listens; stopped on leaving (within
    ``stop_timeout`` seconds, else the stop fails)."""
    stop_timeout = float(config.pop("stop_timeout", 10))
    port = free_port()
    config.setdefault("log_level", "warning")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            if task.done():  # it failed to start: say why
                await task
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError("uvicorn did not start in 5 s")
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, stop_timeout)
