"""The reference json0 (npm ``ot-json0`` 1.1.0) as one long-lived node worker.

::

    with start_json0_reference() as ref:
        applied, moved = ref.run([
            Call("apply", (doc, op)),
            Call("transform", (op, other, "left")),
        ])
        applied.value        # the reference's result (JSON), or
        moved.error          # the reference's error message (value is None)
        ref.call("invert", op)   # one call: its value, or Json0ReferenceError

The package is fetched once into the engines cache by
:mod:`prework.testing.engines.node_packages` (pinned version and integrity)
and driven by ``json0_worker.js`` (beside this module) under ``node``: one
process answers every batch of a session, each batch one round trip over
stdin/stdout (newline-delimited JSON; the protocol is in the script's header).
A call may take an earlier call's result of the same batch as an argument
(``Call.refs``), so a chain such as apply(apply(doc, a), transform(b, a))
needs no extra round trip. The worker runs under the watchdog of
:mod:`prework.testing.engines.process` and ends with its input, so it outlives
no session. No node, no npm for the first fetch, a worker that does not start
or does not answer: :class:`EngineStartError`.

:meth:`Json0Reference.run` blocks; call it from sync code (or
``asyncio.to_thread``). It is not thread-safe: one batch at a time.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from prework.testing.engines.node_packages import NpmPackage, ensure_npm_package, node_executable
from prework.testing.engines.process import DEFAULT_START_TIMEOUT, Engine, EngineStartError, Process

__all__ = [
    "OT_JSON0",
    "Call",
    "Json0Reference",
    "Json0ReferenceError",
    "Outcome",
    "start_json0_reference",
]

# npm's dist.integrity of ot-json0@1.1.0 (no dependencies)
OT_JSON0: Final = NpmPackage(
    "ot-json0",
    "1.1.0",
    integrity=(
        "sha512-"
        "wf5fci7GGpMYRDnbbdIFQymvhsbFACMHtxjivQo5KgvAHlxekyfJ9aPsRr6YfFQthQkk4bmsl5yESrZwC/oMYQ=="
    ),
)

WORKER_SCRIPT: Final = Path(__file__).with_name("json0_worker.js")
DEFAULT_BATCH_TIMEOUT: Final = 60.0

Function = Literal["apply", "transform", "transformX", "compose", "invert", "normalize"]


@dataclass(frozen=True)
class Call:
    """One call of the reference: ``fn(*args)``.

    ``refs`` maps an argument's index to the index of an earlier call of the
    same batch whose result replaces that argument.
    """

    fn: Function
    args: tuple[Any, ...]
    refs: Mapping[int, int] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"f": self.fn, "a": list(self.args)}
        if self.refs:
            out["r"] = {str(k): v for k, v in self.refs.items()}
        return out


@dataclass(frozen=True)
class Outcome:
    """What one call gave: ``value`` (JSON), or ``error`` (the reference's message)."""

    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Json0ReferenceError(Exception):
    """The reference refused a call (:meth:`Json0Reference.call`); the message is its own."""


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson refuses a lone surrogate escape ("\\ud83d"), which JavaScript
        # strings may hold: the standard parser keeps it, as the reference did
        return json.loads(line)


class Json0Reference(Engine):
    """A running reference worker; ``package`` is what it loaded (``ot-json0@1.1.0``)."""

    def __init__(self, process: Process, *, package: str, node_version: str):
        super().__init__(process)
        self.package = package
        self.node_version = node_version
        self._buffer = b""
        self.batches = 0
        self.calls = 0

    def __repr__(self) -> str:
        return f"Json0Reference({self.package!r}, node={self.node_version}, pid={self.pid})"

    # ----------------------------------------------------------------- wire
    def _read_line(self, deadline: float) -> bytes:
        stdout = self._process.popen.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._process.failure("did not answer in time")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise self._process.failure("closed its output")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _write_line(self, payload: bytes) -> None:
        stdin = self._process.popen.stdin
        assert stdin is not None
        try:
            stdin.write(payload + b"\n")
            stdin.flush()
        except OSError as exc:
            raise self._process.failure(f"refused a request ({exc})") from exc

    def _hello(self, timeout: float) -> dict[str, Any]:
        hello = _loads(self._read_line(time.monotonic() + timeout))
        if not isinstance(hello, dict) or "ready" not in hello:
            raise self._process.failure(f"did not say it was ready: {hello!r}")
        return hello

    # ----------------------------------------------------------------- calls
    def run(
        self, calls: Sequence[Call], *, timeout: float = DEFAULT_BATCH_TIMEOUT
    ) -> list[Outcome]:
        """Run a batch of calls in one round trip; one :class:`Outcome` per call, in order."""
        if not self.running:
            raise EngineStartError(f"{self!r} is not running")
        self._write_line(orjson.dumps({"calls": [c.wire() for c in calls]}))
        answer = _loads(self._read_line(time.monotonic() + timeout))
        if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
            raise EngineStartError(f"the json0 worker did not answer a batch: {answer!r}")
        results: list[Any] = answer["results"]
        if len(results) != len(calls):
            raise EngineStartError(
                f"the json0 worker answered {len(results)} results to {len(calls)} calls"
            )
        self.batches += 1
        self.calls += len(calls)
        return [
            Outcome(error=str(r["error"])) if "error" in r else Outcome(value=r.get("ok"))
            for r in results
        ]

    def call(self, fn: Function, *args: Any) -> Any:
        """One call in its own round trip: its value; :class:`Json0ReferenceError` if refused."""
        (outcome,) = self.run([Call(fn, args)])
        if outcome.error is not None:
            raise Json0ReferenceError(outcome.error)
        return outcome.value


def start_json0_reference(
    *, package: NpmPackage = OT_JSON0, timeout: float = DEFAULT_START_TIMEOUT
) -> Json0Reference:
    """Fetch the package if needed and start its worker; it has said it is ready."""
    folder = ensure_npm_package(package)
    node = node_executable()
    workdir = Path(tempfile.mkdtemp(prefix="prework-json0-"))
    try:
        process = Process(
            "json0-reference",
            [node, str(WORKER_SCRIPT), str(folder)],
            workdir=workdir,
            env=dict(os.environ),
            pipes=True,
        )
    except EngineStartError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    engine = Json0Reference(process, package="?", node_version="?")
    try:
        hello = engine._hello(timeout)
    except BaseException:
        engine.stop()
        raise
    engine.package = str(hello["ready"])
    engine.node_version = str(hello.get("node", "?"))
    if engine.package != package.spec:
        engine.stop()
        raise EngineStartError(f"the json0 worker loaded {engine.package}, not {package.spec}")
    return engine
