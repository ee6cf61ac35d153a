"""Logging: structlog on top of the standard library, JSON lines by default.

:func:`configure_logging` routes both structlog loggers and plain ``logging``
loggers (uvicorn, botocore, ...) through one handler on stderr that renders
JSON (``PREWORK_LOG_JSON=true``, the default) or coloured console lines.
Values bound with ``structlog.contextvars`` (the request id) are added to
every line logged while they are bound. uvicorn's own access log is switched
off: :class:`prework.http.middleware.RequestContextMiddleware` writes one
with :func:`log_request`.

The access log is the one line written for every request, so it has a path of
its own: with JSON output, :func:`log_request` renders the same fields
structlog's chain would (the line's fields, the bound context, ``logger``,
``level``, ``timestamp``) with orjson in one step, and hands the line to a
writer thread, so no write to stderr (a pipe that may be full) happens on the
event loop; the thread writes under the handler's lock, and what is queued is
written at exit. When another structlog configuration is in force (console
output, ``structlog.testing.capture_logs``), the line goes through structlog.

Tracebacks are rendered without the values of local variables (structlog and
Rich show them by default): a frame's locals hold Authorization headers,
tokens and passwords, and none of those may ever reach a log line.
"""

from __future__ import annotations

import atexit
import collections
import datetime
import logging
import sys
import threading
import time
from typing import Any, Final, TextIO

import orjson
import structlog
import structlog.tracebacks
from structlog.typing import Processor

from prework.config import Settings

__all__ = ["ACCESS_LOGGER", "configure_logging", "log_request"]

_HANDLER_NAME: Final = "prework"
ACCESS_LOGGER: Final = "prework.access"

# loggers that are noisy at INFO and say nothing an operator needs
_QUIET: Final = ("botocore", "aiobotocore", "urllib3", "asyncio", "multipart")


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library. Safe to call again."""
    level = getattr(logging, settings.log_level.upper())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    final: list[Processor]
    if settings.log_json:
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        final = [tracebacks, structlog.processors.JSONRenderer()]
    else:
        final = [
            structlog.dev.ConsoleRenderer(
                colors=(stream or sys.stderr).isatty(),
                exception_formatter=structlog.dev.plain_traceback,
            )
        ]

    processors: list[Processor] = [
        *shared,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.UnicodeDecoder(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: structlog.testing.capture_logs() must see every logger
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    _use_sink(_AccessSink(handler, processors) if settings.log_json else None)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # uvicorn: errors through our handler, no access log of its own
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True


# --------------------------------------------------------------------------- access log
_access = structlog.get_logger(ACCESS_LOGGER)
_access_std = logging.getLogger(ACCESS_LOGGER)
_sink: _AccessSink | None = None
_UTC = datetime.UTC
_GATHER = 0.01  # seconds the writer waits for more lines once woken


_second: tuple[int, str] = (-1, "")  # the last second rendered, as ISO text without offset


def utc_timestamp(ns: int | None = None) -> str:
    """Now (or ``ns`` since the epoch) as structlog's ``TimeStamper(fmt="iso",
    utc=True)`` writes it: ``datetime.now(UTC).isoformat()`` with ``Z`` for
    ``+00:00`` (no fraction when the microseconds are 0). The date and time of a
    second are rendered once (``isoformat`` costs more than the rest of the line)."""
    global _second
    micros = (time.time_ns() if ns is None else ns) // 1000
    second, fraction = divmod(micros, 1_000_000)
    rendered, text = _second
    if second != rendered:
        text = datetime.datetime.fromtimestamp(second, _UTC).isoformat()[:-6]  # "+00:00"
        _second = (second, text)
    return f"{text}.{fraction:06d}Z" if fraction else text + "Z"


def log_request(
    *,
    request_id: str,
    method: str | None,
    path: str | None,
    status: int | None,
    duration_ms: float,
    client: str | None,
) -> None:
    """Log the access line of one request (event ``request``, logger ``prework.access``)."""
    sink = _sink
    if sink is not None and sink.in_force():
        if _access_std.isEnabledFor(logging.INFO):
            sink.emit(
                {
                    "request_id": request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "client": client,
                }
            )
        return
    _access.info(
        "request",
        request_id=request_id,
        method=method,
        path=path,
        status=status,
        duration_ms=duration_ms,
        client=client,
    )


def _use_sink(sink: _AccessSink | None) -> None:
    global _sink
    old, _sink = _sink, sink
    if old is not None:
        old.close()


class _AccessSink:
    """The JSON access line, rendered here and written by a thread of its own."""

    def __init__(self, handler: logging.StreamHandler[TextIO], processors: list[Processor]):
        self.handler = handler
        self.processors = processors  # the configuration this sink renders like
        self._lines: collections.deque[str] = collections.deque()
        self._wake = threading.Event()
        self._signalled = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.close)

    def in_force(self) -> bool:
        """Whether structlog still runs the configuration this sink stands for,
        and its handler is the only one (else those others get the line too)."""
        handlers = logging.root.handlers
        return (
            len(handlers) == 1
            and handlers[0] is self.handler
            and structlog.get_config()["processors"] is self.processors
        )

    def emit(self, fields: dict[str, Any]) -> None:
        for key, value in structlog.contextvars.get_contextvars().items():
            fields.setdefault(key, value)
        fields["event"] = "request"
        fields["logger"] = ACCESS_LOGGER
        fields["level"] = "info"
        fields["timestamp"] = utc_timestamp()
        line = orjson.dumps(fields, default=repr).decode()
        if self._closed:  # at exit, or replaced: write it here
            self._write([line])
            return
        self._lines.append(line)
        if not self._signalled:  # one wake-up per batch, not per line
            self._signalled = True
            if self._thread is None:
                self._start()
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="prework-access-log", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Write what is queued, then end the thread (at exit, or when replaced)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        atexit.unregister(self.close)
        if thread is not None:
            self._wake.set()
            thread.join(timeout=10)
        self._drain()  # lines of a racing emit, or with no thread

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if not self._closed:
                time.sleep(_GATHER)  # let a batch gather
            self._wake.clear()
            self._signalled = False  # before draining: a later line wakes us again
            self._drain()
            if self._closed:
                return

    def _drain(self) -> None:
        lines = self._lines
        batch: list[str] = []
        while True:
            try:
                batch.append(lines.popleft())
            except IndexError:
                break
        if batch:
            self._write(batch)

    def _write(self, batch: list[str]) -> None:
        handler = self.handler
        handler.acquire()
        try:
            stream = handler.stream
            stream.write("\n".join(batch) + "\n")
            stream.flush()
        except Exception:  # a closed or broken stream: as logging does, say so and go on
            handler.handleError(logging.makeLogRecord({"msg": "access log write failed"}))
        finally:
            handler.release()
