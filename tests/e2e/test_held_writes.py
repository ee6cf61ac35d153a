"""`prework serve`'s transport holds a write until the next one or the end of the loop's
turn (uvicorn's head and body then go out as one ``send``): what is held always goes
out, in order, on both HTTP/1.1 parsers, whether the next write comes at once, later,
or never."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from prework.server import ConnectionLimits, protocol_class
from prework.testing.serving import serving

LIMITS = ConnectionLimits(
    header_timeout=30,
    body_timeout=30,
    body_min_rate=1,
    keep_alive=30,
    max_header_bytes=16384,
    max_connections=100,
)


class App:
    """``/now``: head and body at once; ``/later``: the head, then the body once the
    test opens the gate; ``/big``: a body past the size the two are joined up to."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        body = b"x" * 200_000 if path == "/big" else b"hello"
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if path == "/later":
            await self.gate.wait()
        await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=["httptools", "h11"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[App, int]]:
    app = App()
    http = protocol_class(request.param, LIMITS)
    async with serving(app, lifespan="off", log_level="critical", http=http) as port:
        yield app, port
        app.gate.set()  # a response a failed test left waiting


async def _head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


async def test_a_head_whose_body_comes_later_is_sent_without_it(
    served: tuple[App, int],
) -> None:
    app, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n")
        head = await _head(reader)  # the body is not sent until the gate opens
        assert head.startswith(b"HTTP/1.1 200 ")
        assert not app.gate.is_set()
        app.gate.set()
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"hello"
    finally:
        writer.close()


@pytest.mark.parametrize("path", ["/now", "/big"])
async def test_responses_on_one_connection_arrive_whole_and_in_order(
    served: tuple[App, int], path: str
) -> None:
    _, port = served
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    size = 200_000 if path == "/big" else 5
    try:
        for _ in range(3):  # keep-alive: each response after the one before
            writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head = await _head(reader)
            assert f"content-length: {size}".encode() in head.lower()
            body = await asyncio.wait_for(reader.readexactly(size), 5)
            assert body == (b"x" * size if path == "/big" else b"hello")
    finally:
        writer.close()
