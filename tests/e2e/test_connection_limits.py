"""`prework serve`'s deadlines and connection limit, on both HTTP/1.1 parsers.

Each test starts a real `prework serve` (``PREWORK_HTTP_PARSER`` = ``httptools``
or ``h11``) with one limit short (about a second) and the others long (a minute),
drives it over raw sockets as a misbehaving client would, and checks what the
server answers and that it closes the connection within the short bound: so
the limit under test, and nothing else, is what closed it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_serve import _env, _free_port, _run

SHORT = 1.0  # the limit under test, in seconds
LONG = "60"  # every other limit
SLACK = 3.0  # how late a close may come on a loaded machine
READ_LIMIT = 1 << 20

Server = Callable[..., AbstractAsyncContextManager["Peer"]]


@pytest.fixture(params=["httptools", "h11"])
def parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(tmp_path: Path, parser: str) -> Server:
    """Start `prework serve` with these settings; yields a :class:`Peer` of it."""

    @asynccontextmanager
    async def start(**settings: str) -> AsyncIterator[Peer]:
        env = _env(
            {
                "PREWORK_HTTP_PARSER": parser,
                "PREWORK_HEADER_TIMEOUT_SECONDS": LONG,
                "PREWORK_BODY_TIMEOUT_SECONDS": LONG,
                "PREWORK_KEEP_ALIVE_SECONDS": LONG,
                **settings,
            }
        )
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
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            for _ in range(200):  # up to ~20 s on a loaded machine
                try:
                    status, _, _ = await _exchange(
                        port, b"GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                    )
                    if status == 200:
                        break
                except OSError:
                    pass
                assert proc.returncode is None, "prework serve exited"
                await asyncio.sleep(0.1)
            else:
                pytest.fail("prework serve did not become ready")
            peer = Peer(port)
            try:
                yield peer
            finally:
                for conn in peer.opened:
                    await conn.close()
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), timeout=15)

    return start


class Peer:
    """The server under test: its port, and the connections opened to it (closed at the end)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.opened: list[Conn] = []

    async def connect(self) -> Conn:
        conn = await Conn.open(self.port)
        self.opened.append(conn)
        return conn


class Conn:
    """A raw client connection that reads HTTP/1.1 responses with Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=READ_LIMIT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, within: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), within)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await asyncio.wait_for(
            self.reader.readexactly(int(headers.get("content-length", "0"))), within
        )
        return int(status_line.split()[1]), headers, body

    async def closed_within(self, within: float) -> bytes:
        """Wait until the server closes; what it sent before (the test fails if it does not)."""
        return await self.trickle_until_closed([], 0.0, within)

    async def trickle_until_closed(
        self, chunks: list[bytes], interval: float, within: float
    ) -> bytes:
        """Send ``chunks`` ``interval`` apart until the server answers; read until it
        closes (``within`` seconds, else the test fails); what it sent."""
        received = bytearray()

        async def read() -> None:
            try:
                while data := await self.reader.read(65536):
                    received.extend(data)
            except ConnectionError:
                pass

        reader = asyncio.create_task(read())
        for chunk in chunks:
            await asyncio.sleep(interval)
            if received or reader.done():
                break
            try:
                await self.send(chunk)
            except ConnectionError:
                break
        await asyncio.wait_for(reader, within)
        return bytes(received)

    async def close(self) -> None:
        self.writer.close()
        with suppress(OSError):
            await self.writer.wait_closed()


async def _exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    conn = await Conn.open(port)
    try:
        await conn.send(request)
        return await conn.response()
    finally:
        await conn.close()


def _error(body: bytes) -> dict[str, Any]:
    error = json.loads(body)["error"]
    assert isinstance(error, dict)
    return error


def _split(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def test_a_header_trickled_a_byte_at_a_time_gets_408_within_the_header_timeout(
    server: Server,
) -> None:
    async with server(PREWORK_HEADER_TIMEOUT_SECONDS=str(SHORT)) as peer:
        conn = await peer.connect()
        started = time.monotonic()
        await conn.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        # a byte every 50 ms for 10 s: every byte is "activity" to uvicorn's keep-alive
        trickle = [bytes([b]) for b in b"X-Slow: " + b"a" * 200]
        raw = await conn.trickle_until_closed(trickle, 0.05, SHORT + SLACK)
        elapsed = time.monotonic() - started
        await conn.close()

    status, headers, body = _split(raw)
    assert status == 408
    assert headers["connection"] == "close"
    assert _error(body)["code"] == "request_timeout"
    assert SHORT * 0.9 <= elapsed < SHORT + SLACK


async def test_a_half_sent_body_gets_408_within_the_body_timeout(server: Server) -> None:
    async with server(PREWORK_BODY_TIMEOUT_SECONDS=str(SHORT)) as peer:
        conn = await peer.connect()
        await conn.send(
            b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"email": "olive@acme.example.com", '
        )
        started = time.monotonic()
        raw = await conn.closed_within(SHORT + SLACK)
        elapsed = time.monotonic() - started
        await conn.close()

    status, _, body = _split(raw)
    assert status == 408
    assert _error(body)["code"] == "request_timeout"
    assert SHORT * 0.9 <= elapsed < SHORT + SLACK


async def test_a_body_that_keeps_coming_at_the_minimum_rate_outlives_the_body_timeout(
    server: Server,
) -> None:
    async with server(
        PREWORK_BODY_TIMEOUT_SECONDS=str(SHORT), PREWORK_BODY_MIN_BYTES_PER_SECOND="1000"
    ) as peer:
        body = b'{"email": "olive@acme.example.com", "password": "wrong password"}'
        body = body.ljust(4000)  # four windows' worth at 1000 B/s; sent at 2000 B/s
        conn = await peer.connect()
        await conn.send(
            b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        started = time.monotonic()
        for i in range(0, len(body), 500):
            await conn.send(body[i : i + 500])
            await asyncio.sleep(0.25)
        status, _, answer = await conn.response()
        elapsed = time.monotonic() - started
        await conn.close()

    assert elapsed > SHORT  # it took more than one window, and was answered
    assert status == 401, answer


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(server: Server) -> None:
    async with server(PREWORK_KEEP_ALIVE_SECONDS=str(SHORT)) as peer:
        # idle after a request
        used = await peer.connect()
        await used.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        status, _, _ = await used.response()
        assert status == 200
        # idle from the start: never sends a byte
        silent = await peer.connect()
        started = time.monotonic()
        sent_after_response, sent_to_silent = await asyncio.gather(
            used.closed_within(SHORT + SLACK), silent.closed_within(SHORT + SLACK)
        )
        elapsed = time.monotonic() - started
        await used.close()
        await silent.close()

    assert sent_after_response == b""  # closed silently: nothing was asked
    assert sent_to_silent == b""
    assert SHORT * 0.9 <= elapsed < SHORT + SLACK


async def test_a_request_head_past_the_header_limit_gets_431(server: Server) -> None:
    async with server(PREWORK_MAX_HEADER_BYTES="4096") as peer:
        conn = await peer.connect()
        await conn.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        big = [b"X-Big: " + b"a" * 1015 + b"\r\n"] * 64  # 64 KiB of headers, 1 KiB a read
        raw = await conn.trickle_until_closed(big, 0.01, SLACK)
        await conn.close()

    status, _, body = _split(raw)
    assert status == 431
    assert _error(body)["code"] == "headers_too_large"


async def test_a_connection_past_the_limit_gets_503_and_the_others_are_still_served(
    server: Server,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    async with server(PREWORK_MAX_CONNECTIONS="3") as peer:
        held = [await peer.connect() for _ in range(3)]
        for conn in held:
            await conn.send(request)
            assert (await conn.response())[0] == 200

        extra = await peer.connect()  # the kernel accepts it; the server refuses it
        await extra.send(request)
        status, headers, body = await extra.response()
        assert status == 503
        assert headers["retry-after"] == "1"
        assert headers["connection"] == "close"
        assert _error(body)["code"] == "unavailable"
        assert await extra.closed_within(SLACK) == b""
        await extra.close()

        # the connections already open are served as before
        await held[0].send(request)
        assert (await held[0].response())[0] == 200

        # a freed place is taken by the next connection
        await held.pop().close()
        for _ in range(50):
            status, _, _ = await _exchange(peer.port, request)
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200
        for conn in held:
            await conn.close()


def _login_head(length: int) -> bytes:
    return (
        b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length
    )


@pytest.mark.parametrize(
    ("length", "max_bytes"),
    [
        pytest.param(700_000, 64 * 1024, id="past-the-route-limit"),
        pytest.param(3 << 20, 1 << 20, id="past-the-server-limit"),
    ],
)
async def test_a_client_that_sends_a_whole_refused_body_then_reads_gets_its_413(
    server: Server, length: int, max_bytes: int
) -> None:
    # as most clients do (httpx, requests): the whole body first, then the answer;
    # the server answered from the head and closes, yet the answer is not lost to a reset
    async with server() as peer:
        for i in range(3):
            conn = await peer.connect()
            await conn.send(
                _login_head(length).replace(b"\r\n\r\n", b"\r\nX-Request-ID: r%d\r\n\r\n" % i)
            )
            for _ in range(0, length, 1 << 16):
                await conn.send(b" " * min(1 << 16, length))
            status, headers, body = await conn.response()
            assert status == 413
            assert headers["connection"] == "close"
            assert headers["x-request-id"] == f"r{i}"
            assert _error(body) == {
                "code": "too_large",
                "message": f"The request body is larger than {max_bytes} bytes.",
                "details": {"max_bytes": max_bytes},
            }
            assert await conn.closed_within(SLACK) == b""
            await conn.close()


async def test_a_refused_body_is_not_read_on_and_the_connection_ends_at_once(
    server: Server,
) -> None:
    # the client stops after a part of a body the server refused: the server neither
    # waits for the rest (the body timeout is a minute here) nor reads it
    async with server() as peer:
        conn = await peer.connect()
        await conn.send(_login_head(700_000) + b"{" * 1000)
        started = time.monotonic()
        raw = await conn.closed_within(SLACK)
        elapsed = time.monotonic() - started
        await conn.close()

    status, headers, body = _split(raw)
    assert status == 413
    assert headers["connection"] == "close"
    assert _error(body)["code"] == "too_large"
    assert elapsed < SLACK


async def test_an_answer_before_the_body_ends_closes_and_a_read_body_keeps_the_connection(
    server: Server,
) -> None:
    async with server() as peer:
        conn = await peer.connect()
        small = b'{"email": "olive@acme.example.com", "password": "wrong password"}'
        for _ in range(3):  # bodies the app reads: one connection serves them all
            await conn.send(_login_head(len(small)) + small)
            status, headers, _ = await conn.response()
            assert status == 401
            assert "connection" not in headers
        # an unknown route answers without reading the body: that connection ends
        await conn.send(
            b"POST /api/nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" + b"x" * 10
        )
        status, headers, _ = await conn.response()
        assert status == 404
        assert headers["connection"] == "close"
        assert await conn.closed_within(SLACK) == b""
        await conn.close()


async def test_a_slow_sender_of_a_refused_body_gets_its_413(server: Server) -> None:
    # a client on a loaded machine (or a slow link) takes seconds to send the body it
    # declared, and reads only then (as httpx does: nothing reads the socket meanwhile;
    # a failed send is followed by reading the answer). The server answered from the
    # head at once: it must drop the body as long as it keeps coming, since closing
    # with bytes unread would send a reset, which discards the answer the client has
    # not read yet
    length = 700_000
    chunk = 1 << 15
    loop = asyncio.get_running_loop()
    async with server() as peer:
        with socket.create_connection(("127.0.0.1", peer.port)) as sock:
            sock.setblocking(False)
            await loop.sock_sendall(sock, _login_head(length))
            started = time.monotonic()
            try:
                for _ in range(0, length, chunk):
                    await loop.sock_sendall(sock, b" " * chunk)
                    await asyncio.sleep(0.12)  # about 270 KB/s: 2.6 s for the body
            except ConnectionError as exc:
                # what httpx does next (its transport closes on a failed send) loses the answer
                pytest.fail(f"reset after {time.monotonic() - started:.2f} s of sending: {exc!r}")
            sending = time.monotonic() - started
            received = bytearray()
            while data := await asyncio.wait_for(loop.sock_recv(sock, 65536), SLACK):
                received.extend(data)

    status, headers, body = _split(bytes(received))
    assert status == 413
    assert headers["connection"] == "close"
    assert _error(body)["code"] == "too_large"
    assert sending > 2.0  # longer than a drop window of a second or two
