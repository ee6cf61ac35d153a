"""ShareDB's own client (npm ``sharedb`` 7.0.0, unmodified, over ``ws`` 8) in a node
worker, driven from asyncio: real ShareDB clients editing a Prework server.

::

    async with started_sharedb_node() as node:
        a = node.client("a")
        await a.connect(f"{ws_url}?access_token={token}")
        await a.subscribe(doc_id)                      # its state: v, data, pending
        await a.submit(doc_id, [{"p": ["answers", "notes"], "oi": "Valve"}], wait=True)
        await node.together(a.command("submit", doc=doc_id, ops=[...]),
                            b.command("submit", doc=doc_id, ops=[...]))
        await a.offline()                              # the socket closed, edits queue
        await a.online(url)                            # connection.bindToSocket(a new one)
        await a.settle(doc_id, v=7)                    # at version 7, nothing pending

The packages are installed once into the engines cache by
:mod:`prework.testing.engines.node_packages` (:data:`SHAREDB_WS`: one lockfile
pins both and their dependencies); ``sharedb_client.js`` (beside this module,
its header is the protocol) holds the clients, each a ``Connection`` on its own
socket, answering newline-delimited JSON commands concurrently. The worker ends
with its input, so it outlives no session. No node, no npm for the first
install, a worker that does not start: :class:`EngineStartError`; a command the
worker could not do (a wait that timed out, an unknown client):
:class:`ShareDBCommandError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import orjson

from prework.testing.engines.node_packages import (
    SHAREDB_WS,
    NpmPackage,
    ensure_npm_package,
    node_executable,
)
from prework.testing.engines.process import EngineStartError

__all__ = [
    "WORKER_SCRIPT",
    "Command",
    "ShareDBClient",
    "ShareDBCommandError",
    "ShareDBNode",
    "started_sharedb_node",
]

WORKER_SCRIPT: Final = Path(__file__).with_name("sharedb_client.js")
_START_TIMEOUT: Final = 30.0
_STOP_TIMEOUT: Final = 5.0
_LINE_LIMIT: Final = 16 << 20
_ANSWER_TIMEOUT: Final = 60.0  # past every wait of the worker's own (10 s by default)


class ShareDBCommandError(Exception):
    """The worker could not do a command; the message is its own."""


@dataclass(frozen=True)
class Command:
    """One command of the worker (see ``sharedb_client.js``), for :meth:`ShareDBNode.together`."""

    cmd: str
    args: Mapping[str, Any]

    def wire(self) -> dict[str, Any]:
        return {**self.args, "cmd": self.cmd}


def _tail(log: IO[bytes], lines: int = 40) -> str:
    """The last lines of the worker's log (its stderr)."""
    with contextlib.suppress(OSError, ValueError):
        log.flush()
        text = Path(log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
    return "(no log)"


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # a lone surrogate escape ("\\ud83d"), which a JavaScript string may hold
        return json.loads(line)


class ShareDBNode:
    """A running worker: ``package`` is what it loaded (``sharedb@7.0.0``), ``ws`` its
    WebSocket library."""

    def __init__(
        self, process: asyncio.subprocess.Process, log: IO[bytes], *, hello: Mapping[str, Any]
    ) -> None:
        self._process = process
        self._log = log
        self.package = str(hello.get("ready"))
        self.ws = str(hello.get("ws"))
        self.node_version = str(hello.get("node"))
        self._ids = itertools.count(1)
        self._names = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader = asyncio.create_task(self._read(), name="sharedb-node-reader")
        self._live: set[str] = set()

    def __repr__(self) -> str:
        return f"ShareDBNode({self.package!r}, {self.ws!r}, pid={self.pid})"

    @property
    def pid(self) -> int:
        return self._process.pid

    def _log_tail(self) -> str:
        return _tail(self._log)

    async def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        failure: Exception = EngineStartError("the ShareDB client worker closed its output")
        try:
            while line := await stdout.readline():
                message = _loads(line)
                if not isinstance(message, dict) or "id" not in message:
                    failure = EngineStartError(f"the ShareDB client worker said {message!r}")
                    break
                future = self._waiting.pop(int(message["id"]), None)
                if future is None or future.done():
                    continue
                if "error" in message:
                    future.set_exception(ShareDBCommandError(str(message["error"])))
                else:
                    future.set_result(message.get("ok"))
        except (ValueError, OSError) as exc:  # a line past the limit, a broken pipe
            failure = EngineStartError(f"reading the ShareDB client worker failed: {exc}")
        failure = EngineStartError(f"{failure}; its log:\n{self._log_tail()}")
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(failure)
        self._waiting.clear()

    async def call(self, cmd: str, **args: Any) -> Any:
        """Run one command; its result (JSON), or :class:`ShareDBCommandError`."""
        if self._reader.done():
            raise EngineStartError(f"{self!r} is not running; its log:\n{self._log_tail()}")
        stdin = self._process.stdin
        assert stdin is not None
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            stdin.write(orjson.dumps({**args, "cmd": cmd, "id": request_id}) + b"\n")
            await stdin.drain()
        except (OSError, ConnectionError) as exc:
            self._waiting.pop(request_id, None)
            raise EngineStartError(f"the ShareDB client worker refused a command: {exc}") from exc
        try:
            return await asyncio.wait_for(future, _ANSWER_TIMEOUT)
        except TimeoutError:
            self._waiting.pop(request_id, None)
            raise EngineStartError(
                f"the ShareDB client worker did not answer {cmd!r}; its log:\n{self._log_tail()}"
            ) from None

    async def together(self, *commands: Command) -> list[Any]:
        """Start the commands in one tick of the worker (ops of several clients are on
        the wire before any answer is read); their results, in order."""
        result = await self.call("together", commands=[c.wire() for c in commands])
        assert isinstance(result, list)
        return result

    def client(self, name: str) -> ShareDBClient:
        """A new client handle (its name made unique in this worker); connect it."""
        unique = f"{name}-{next(self._names)}"
        self._live.add(unique)
        return ShareDBClient(self, unique)

    async def close_clients(self) -> None:
        """Close every client made so far (between tests)."""
        for name in sorted(self._live):
            with contextlib.suppress(ShareDBCommandError):
                await self.call("close", client=name)
        self._live.clear()

    async def stop(self) -> None:
        """End the worker (its input closed; killed if it does not end)."""
        stdin = self._process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, ConnectionError):
                stdin.close()
        try:
            await asyncio.wait_for(self._process.wait(), _STOP_TIMEOUT)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


class ShareDBClient:
    """One named client of the worker: a ShareDB ``Connection`` and its documents."""

    def __init__(self, node: ShareDBNode, name: str) -> None:
        self.node = node
        self.name = name

    def __repr__(self) -> str:
        return f"ShareDBClient({self.name!r})"

    def command(self, cmd: str, **args: Any) -> Command:
        return Command(cmd, {**args, "client": self.name})

    async def _call(self, cmd: str, **args: Any) -> Any:
        return await self.node.call(cmd, client=self.name, **args)

    async def connect(self, url: str) -> str:
        """A Connection on a new socket; its id once connected."""
        return str((await self._call("connect", url=url))["id"])

    async def subscribe(self, doc: str, *, prevent_compose: bool = False) -> dict[str, Any]:
        """``doc.subscribe``; its state (``prevent_compose``: each op sent on its own)."""
        state: dict[str, Any] = await self._call(
            "subscribe", doc=doc, prevent_compose=prevent_compose
        )
        return state

    async def fetch(self, doc: str) -> dict[str, Any]:
        """``doc.fetch``: the snapshot (or the ops since its version), no subscription."""
        state: dict[str, Any] = await self._call("fetch", doc=doc)
        return state

    async def unsubscribe(self, doc: str) -> dict[str, Any]:
        state: dict[str, Any] = await self._call("unsubscribe", doc=doc)
        return state

    async def submit(
        self,
        doc: str,
        ops: Sequence[list[dict[str, Any]]],
        *,
        wait: bool = False,
        lose_ack: bool = False,
        kill: bool = False,
    ) -> dict[str, Any]:
        """``doc.submitOp`` of each op in one tick: the state right after, or (``wait``)
        once every callback ran, with ``errors`` (one per op, ``None`` for none).
        ``lose_ack``: nothing the server sends reaches the client once the next op is
        sent; ``kill``: the socket is terminated once it is written."""
        state: dict[str, Any] = await self._call(
            "submit", doc=doc, ops=list(ops), wait=wait, lose_ack=lose_ack, kill=kill
        )
        return state

    async def type(self, doc: str, item: str, edits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Keystrokes in the text answer ``item`` as the document holds it now (see the
        script's ``type``); the state right after, with ``ops``."""
        state: dict[str, Any] = await self._call("type", doc=doc, item=item, edits=list(edits))
        return state

    async def state(self, doc: str) -> dict[str, Any]:
        state: dict[str, Any] = await self._call("state", doc=doc)
        return state

    async def settle(
        self, doc: str, *, v: int | None = None, timeout_ms: int = 10_000
    ) -> dict[str, Any]:
        """Wait until the document has nothing pending (and is at version ``v``); its
        state."""
        state: dict[str, Any] = await self._call("settle", doc=doc, v=v, timeout=timeout_ms)
        return state

    async def offline(self, *, abrupt: bool = False) -> None:
        """Close the socket (``abrupt``: terminate it); the Connection is disconnected."""
        await self._call("offline", abrupt=abrupt)

    async def online(self, url: str) -> str:
        """``connection.bindToSocket(a new socket)``; the id once connected."""
        return str((await self._call("online", url=url))["id"])

    async def received(self) -> list[dict[str, Any]]:
        """The error messages the server sent since the last call."""
        messages: list[dict[str, Any]] = await self._call("received")
        return messages

    async def events(self) -> list[str]:
        """``error`` events of the Connection and its documents, and errors passed to
        its ops' callbacks, since the last call."""
        events: list[str] = await self._call("events")
        return events

    async def presence_subscribe(self, channel: str) -> None:
        await self._call("presence_subscribe", channel=channel)

    async def presence_submit(self, channel: str, presence: str, value: Any) -> None:
        await self._call("presence_submit", channel=channel, presence=presence, value=value)

    async def presence_wait(self, channel: str, presence: str, value: Any) -> Any:
        """Wait until this client sees ``value`` as that remote presence (``None``: gone)."""
        return await self._call("presence_wait", channel=channel, presence=presence, value=value)

    async def close(self) -> None:
        await self._call("close")


async def _start(package: NpmPackage, start_seconds: float) -> ShareDBNode:
    folder = await asyncio.to_thread(ensure_npm_package, package)
    node = node_executable()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by ShareDBNode.stop
        prefix="prework-sharedb-client-", suffix=".log", delete=False
    )
    try:
        process = await asyncio.create_subprocess_exec(
            node,
            str(WORKER_SCRIPT),
            str(folder.parent),  # the node_modules folder: sharedb and ws
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            env=dict(os.environ),
            limit=_LINE_LIMIT,
        )
    except OSError as exc:
        log.close()
        os.unlink(log.name)
        raise EngineStartError(f"could not run {node}: {exc}") from exc
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), start_seconds)
        hello = _loads(first) if first else None
    except (TimeoutError, ValueError) as exc:
        hello = None
        reason = str(exc) or type(exc).__name__
    else:
        reason = "it did not say it was ready"
    if not isinstance(hello, dict) or "ready" not in hello:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        tail = _tail(log)
        log.close()
        os.unlink(log.name)
        raise EngineStartError(f"the ShareDB client worker did not start ({reason}):\n{tail}")
    worker = ShareDBNode(process, log, hello=hello)
    if worker.package != package.spec:
        await worker.stop()
        raise EngineStartError(
            f"the ShareDB client worker loaded {worker.package}, not {package.spec}"
        )
    return worker


@contextlib.asynccontextmanager
async def started_sharedb_node(
    *, package: NpmPackage = SHAREDB_WS, start_seconds: float = _START_TIMEOUT
) -> AsyncIterator[ShareDBNode]:
    """A worker holding ShareDB clients (the packages installed first if needed)."""
    worker = await _start(package, start_seconds)
    try:
        yield worker
    finally:
        await worker.stop()
