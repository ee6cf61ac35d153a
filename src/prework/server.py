"""The HTTP/1.1 protocol ``prework serve`` runs: uvicorn's, with deadlines on the client.

uvicorn bounds none of what a client sends: a connection that never sends a byte
is held until it closes, its keep-alive timer is cancelled by every byte that
arrives (a header trickled a byte every few seconds holds the connection
forever), nothing bounds the time to receive a whole request, httptools buffers a
request head of any size, and ``limit_concurrency`` counts the connection asking
(so N allows N-1), sheds the requests of *every* connection once over and still
holds the extra connections. :func:`protocol_class` subclasses either of
uvicorn's HTTP/1.1 protocols (``httptools`` or ``h11``, chosen explicitly) so that
a connection is always under exactly one deadline while the server waits on the
client:

* **idle** (no request in progress, none begun): closed after ``keep_alive``
  seconds, silently; this holds before the first request too.
* **head** (the first byte of a request has arrived, its head has not ended):
  the whole request line and headers within ``header_timeout`` seconds of that
  first byte, however the bytes are spread (the deadline is not reset by
  later bytes), and at most ``max_header_bytes`` of them; else ``408
  request_timeout`` or ``431 headers_too_large`` and the connection is closed.
* **body** (the head is in, the body is not): in every window of
  ``body_timeout`` seconds from the end of the head, at least
  ``body_min_rate * body_timeout`` bytes of it (a stalled body is cut after one
  window, a large upload at a steady rate is not), unless the server itself has
  stopped reading (the app is not consuming the body); else ``408
  request_timeout`` (when no response has begun) and the connection is closed;
  the app reading the body sees the client disconnect.

While the app works on a request, no deadline runs (that time is the
server's). An answer the app begins before its request's body is in (a 413 from
the ``Content-Length``, a 404, a 401: the body was not wanted) ends the
connection: the answer carries ``Connection: close``, and once it is written the
server shuts its side and drops what the client still sends, so that the client
reads the answer instead of a reset (closing a socket with unread bytes makes the
kernel send one, and a client still sending, as most do before they read, loses
the answer to it); the drop lasts while bytes keep coming: until the client
closes, is silent for a second, or 30 seconds have passed. Nothing of that body
is parsed or handed to the app. A connection is never reused after a body it did
not read; a connection upgraded to a WebSocket leaves them (uvicorn's WebSocket
protocol owns it from then on). A pipelined request's deadlines start when the request before it is
answered. At most ``max_connections`` connections are served at once: one
accepted past that is answered ``503 unavailable`` (with ``Retry-After``) at
once, without reading its request, and closed.

Every answer written here is the JSON error envelope of :mod:`prework.http.errors`
with ``Connection: close``, and ends the connection the same way.

The app is handed requests through :func:`prework.app.refusing_declared_too_large`:
a ``Content-Length`` past the limit of the route it goes to is answered there,
the app's 413 without the app's middleware and routing (a storm of oversized
bodies is paid per request).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import h11
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from prework.app import refusing_declared_too_large
from prework.config import Settings

__all__ = ["READ_SLACK_BYTES", "ConnectionLimits", "HttpParser", "protocol_class"]

log = structlog.get_logger("prework.server")
_debug = logging.getLogger("prework.server")

HttpParser = Literal["httptools", "h11"]

# a connection we answered early (408, 431, 503, or an answer before its body) is shut
# on our side at once, and what the client still sends is dropped until it closes, or
# sends nothing for _LINGER_IDLE_SECONDS, or _LINGER_MAX_SECONDS have passed: closing
# with bytes unread sends a reset, and a client still sending its body (most read only
# after sending) loses the answer to it; a client that keeps sending keeps the drop going
_LINGER_IDLE_SECONDS: Final = 1.0
_LINGER_MAX_SECONDS: Final = 30.0
# the most one read of a socket hands a protocol (asyncio's and uvloop's buffer):
# a head may pass the header limit by up to this before it is counted
READ_SLACK_BYTES: Final = 256 * 1024


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What a client may take of a connection; see the module docstring."""

    header_timeout: float
    body_timeout: float
    body_min_rate: int
    keep_alive: float
    max_header_bytes: int
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            body_min_rate=settings.body_min_bytes_per_second,
            keep_alive=settings.keep_alive_seconds,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
        )


def _answer(status: int, reason: str, code: str, message: str, *extra: str) -> bytes:
    body = json.dumps(
        {"error": {"code": code, "message": message, "details": {}}}, separators=(",", ":")
    ).encode()
    head = [
        f"HTTP/1.1 {status} {reason}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


REQUEST_TIMEOUT: Final = _answer(
    408, "Request Timeout", "request_timeout", "The request was not received in time."
)
HEADERS_TOO_LARGE: Final = _answer(
    431,
    "Request Header Fields Too Large",
    "headers_too_large",
    "The request line and headers are too large.",
)
TOO_MANY_CONNECTIONS: Final = _answer(
    503,
    "Service Unavailable",
    "unavailable",
    "The server has too many connections; try again shortly.",
    "retry-after: 1",
)


_CLOSE: Final = (b"connection", b"close")
# a held write and the next one are joined into one buffer up to this size (a copy);
# past it they go to the socket as a list (uvloop writes both with one writev)
_JOIN_BYTES: Final = 64 * 1024


class _LingeringTransport(asyncio.Transport):
    """The connection's transport as uvicorn sees it: closing it while the client is
    still sending the request's body lingers (see :meth:`_Deadlines._linger_on_close`)
    instead of closing at once; a write is held until the next one or the end of the
    loop's turn, so that uvicorn's two writes of a response (its head, then its body)
    go to the socket as one (one ``send``, one segment); everything else is the
    socket's transport."""

    def __init__(self, transport: asyncio.Transport, owner: _Deadlines) -> None:
        super().__init__()
        self._transport = transport
        self._owner = owner
        self._held: bytes | None = None

    def _release(self) -> None:
        """Write what is held (at the end of the loop's turn, or before anything that
        must follow it)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._release()
        if not self._owner._linger_on_close():
            self._transport.close()

    def is_closing(self) -> bool:
        return self._owner._draining or self._transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if len(data) <= _JOIN_BYTES:
                self._transport.write(held + data)
            else:
                self._transport.writelines((held, data))
        elif self._transport.get_write_buffer_size():
            self._transport.write(data)  # queued behind what the socket has not taken
        else:
            self._held = bytes(data)
            self._owner.loop.call_soon(self._release)

    def writelines(self, list_of_data: Any) -> None:
        self._release()
        self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._release()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held is not None else 0)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()


class _Deadlines(asyncio.Protocol):
    """The deadlines of one connection, for a uvicorn HTTP/1.1 protocol: mixed in
    first (``class P(_Deadlines, UvicornProtocol)``), so its overrides wrap the
    protocol's (``super()`` is uvicorn's).

    A subclass says what state the parser is in (:meth:`_idle`,
    :meth:`_head_buffered`, :meth:`_body_pending`); this class keeps exactly one
    timer armed for the phase the client is in.
    """

    limits: ConnectionLimits
    # uvicorn's, set by the protocol this is mixed into
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    connections: set[Any]
    timeout_keep_alive_task: asyncio.TimerHandle | None
    cycle: Any  # the request-response cycle of the request being received, if any
    app: Any
    timeout_keep_alive: int  # uvicorn's (config's int); set to the exact value

    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _head_bytes: int = 0
    _body_bytes: int = 0  # received in the current body window
    _refused: bool = False  # past max_connections: never handed to uvicorn
    _draining: bool = False  # answered by us: what the client still sends is dropped
    _handed_off: bool = False  # upgraded to a WebSocket: its protocol owns the connection
    _linger: asyncio.TimerHandle | None = None
    _linger_until: float = 0.0  # the latest the lingering close may end
    _last_dropped: float = 0.0  # when the client last sent something while draining
    _raw: asyncio.Transport  # the socket's transport (uvicorn gets a _LingeringTransport)
    _closing_wrapped: Any = None  # the cycle whose send adds Connection: close
    # uvicorn's app and what requests are handed (per protocol class: one server)
    _apps: tuple[Any, Any] | None = None

    @classmethod
    def _app_for(cls, loaded: Any) -> Any:
        apps = cls._apps
        if apps is None or apps[0] is not loaded:
            apps = cls._apps = (loaded, refusing_declared_too_large(loaded))
        return apps[1]

    def _idle(self) -> bool:
        """No request is in progress on this connection (between requests)."""
        raise NotImplementedError

    def _head_buffered(self) -> bool:
        """Part of the next request's head has been received."""
        raise NotImplementedError

    def _body_pending(self) -> bool:
        """The current request's head is in, its body is still arriving."""
        raise NotImplementedError

    def _response_started(self) -> bool:
        """The current request's response has begun (an answer can no longer be sent)."""
        return self.cycle is not None and self.cycle.response_started

    def _disconnect_app(self) -> None:
        """Tell the app working on the current request that the client is gone (as
        uvicorn does when the connection is lost): its reads end, its writes are dropped."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()

    # the protocol's own, wrapped

    def _adopt(self) -> None:
        """After uvicorn's ``__init__``: its keep-alive timer armed with the exact
        value (not config's int), and the app requests are handed."""
        self.timeout_keep_alive = self.limits.keep_alive  # type: ignore[assignment]
        self.app = self._app_for(self.app)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self._over_capacity():
            self._refuse(stream)
            return
        super().connection_made(self._wrap(stream))
        self._sync()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadlines()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            self._dropped()
            return
        was_idle = self._before_data()
        super().data_received(data)
        self._after_data(data, was_idle)
        self._close_if_body_unread()

    def _response_done(self) -> None:
        """Call after uvicorn's ``on_response_complete``."""
        self._end_if_body_unread()
        self._sync()

    # called by the protocol's overrides

    def _wrap(self, transport: asyncio.Transport) -> asyncio.Transport:
        self._raw = transport
        return _LingeringTransport(transport, self)

    def _current_cycle(self) -> Any:
        """The request-response cycle of the request being received, if any."""
        return self.cycle

    def _close_if_body_unread(self) -> None:
        """After a read: if the current request's body is still arriving and its
        response has not begun, make the response say ``Connection: close`` (an app
        answering before the body is in did not want it; the body is not read on)."""
        cycle = self._current_cycle()
        if (
            cycle is None
            or cycle is self._closing_wrapped
            or cycle.response_started
            or not self._body_pending()
        ):
            return
        self._closing_wrapped = cycle
        send = cycle.send

        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start" and self._body_pending():
                headers = list(message.get("headers") or ())
                if _CLOSE not in headers:
                    message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        # run_asgi looks ``send`` up when the task first runs, after this read
        cycle.send = send_closing

    def _linger_on_close(self) -> bool:
        """uvicorn closes the connection: if the client is still sending the request's
        body, shut our side and drop what it sends (True, see :meth:`_linger_close`)
        rather than close now, which would reset the connection and lose the answer."""
        if self._done() or not self._body_pending():
            return False
        if _debug.isEnabledFor(logging.DEBUG):  # structlog runs its chain even when filtered
            log.debug("connection.lingering", client=_peer(self._raw))
        self._cancel_deadlines()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        self._linger_close()
        return True

    def _end_if_body_unread(self) -> None:
        """A response is complete: a connection whose request body is still arriving
        is not reused (uvicorn would read that body to its end, however long)."""
        if not self._done() and self._body_pending():
            self.transport.close()  # lingers

    def _over_capacity(self) -> bool:
        return len(self.connections) >= self.limits.max_connections

    def _refuse(self, transport: asyncio.Transport) -> None:
        self._refused = True
        self.transport = self._raw = transport
        log.warning(
            "connection.refused", reason="max_connections", limit=self.limits.max_connections
        )
        self._answer_and_close(TOO_MANY_CONNECTIONS)

    def _answer_and_close(self, answer: bytes) -> None:
        """Write ``answer``, then :meth:`_linger_close`."""
        self._raw.write(answer)
        self._linger_close()

    def _linger_close(self) -> None:
        """Shut our side and drop what the client still sends (so that it reads what
        was written, not a reset) until it closes its side, or is silent for
        ``_LINGER_IDLE_SECONDS``, or ``_LINGER_MAX_SECONDS`` have passed; then close."""
        self._draining = True
        raw = self._raw
        if raw.can_write_eof():
            raw.write_eof()
        if not raw.is_reading():
            raw.resume_reading()  # drop what comes rather than leave it unread
        now = self.loop.time()
        self._last_dropped = now
        self._linger_until = now + _LINGER_MAX_SECONDS
        self._linger = self.loop.call_later(_LINGER_IDLE_SECONDS, self._linger_check)

    def _dropped(self) -> None:
        """Bytes came while draining (dropped): the client is still sending."""
        self._last_dropped = self.loop.time()

    def _linger_check(self) -> None:
        now = self.loop.time()
        quiet_at = self._last_dropped + _LINGER_IDLE_SECONDS
        if quiet_at <= now or now >= self._linger_until:
            self._linger = None
            self._raw.close()
            return
        self._linger = self.loop.call_at(min(quiet_at, self._linger_until), self._linger_check)

    def _done(self) -> bool:
        """Closing, or answered and draining: no more deadlines, no more parsing."""
        return self._draining or self._handed_off or self.transport.is_closing()

    def _hand_off(self) -> None:
        """Before uvicorn hands the connection to its WebSocket protocol: that gets the
        socket's own transport, so that nothing of this protocol (its parser, the
        request's head, the deadlines) stays alive with the socket."""
        self._handed_off = True
        self._cancel_deadlines()
        wrapper = self.transport
        if isinstance(wrapper, _LingeringTransport):
            wrapper._release()
        self.transport = self._raw

    def _before_data(self) -> bool:
        return self._idle()

    def _after_data(self, data: bytes, was_idle: bool) -> None:
        if self._done():
            return
        if self._body_pending():
            self._body_bytes += len(data)
        if self._idle() and (was_idle or self._head_buffered()):
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._fail("head", HEADERS_TOO_LARGE)
                return
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(
                    self.limits.header_timeout, self._head_timed_out
                )
        self._sync()

    def _sync(self) -> None:
        """Arm the timer of the phase the connection is in; cancel the others'."""
        if self._done():
            return
        idle = self._idle()
        if not idle:
            self._head_bytes = 0
            self._cancel_head()
        elif self._head_timer is None and self._head_buffered():
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )
        if self._body_pending():
            if self._body_timer is None:
                self._arm_body()
        elif self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if idle and self._head_timer is None and self.timeout_keep_alive_task is None:
            # idle again without uvicorn's timer (before the first request, or a
            # body that ended after its response): the keep-alive deadline
            self.timeout_keep_alive_task = self.loop.call_later(
                self.limits.keep_alive, self._keep_alive_expired
            )

    def _arm_body(self) -> None:
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(self.limits.body_timeout, self._body_window_ended)

    def _body_window_ended(self) -> None:
        self._body_timer = None
        if self._done():
            return
        wanted = self.limits.body_min_rate * self.limits.body_timeout
        if self._body_bytes >= wanted or self._reading_paused():
            # the body keeps coming (or the app is not reading it: the server's
            # time, not the client's): another window
            self._arm_body()
            return
        self._fail("body", REQUEST_TIMEOUT)

    def _reading_paused(self) -> bool:
        flow = getattr(self, "flow", None)
        return bool(flow is not None and flow.read_paused)

    def _keep_alive_expired(self) -> None:
        self.timeout_keep_alive_task = None
        if not self.transport.is_closing():
            self._raw.close()

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_deadlines(self) -> None:
        self._cancel_head()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._fail("head", REQUEST_TIMEOUT)

    def _fail(self, phase: str, answer: bytes) -> None:
        if self._done():
            return
        reason = "timeout" if answer is REQUEST_TIMEOUT else "too_large"
        log.info("connection.closed", phase=phase, reason=reason, client=_peer(self.transport))
        self._cancel_deadlines()
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None
        if phase == "head" or not self._response_started():
            self._disconnect_app()
            self._answer_and_close(answer)
        else:
            self._raw.close()


def _peer(transport: asyncio.Transport) -> str | None:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else None


class _H11(_Deadlines, H11Protocol):
    """uvicorn's h11 protocol with :class:`_Deadlines`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._adopt()

    def _idle(self) -> bool:
        return self.conn.our_state is h11.IDLE and self.conn.their_state is h11.IDLE

    def _head_buffered(self) -> bool:
        return bool(self.conn.trailing_data[0])

    def _body_pending(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._response_done()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._hand_off()
        super().handle_websocket_upgrade(event)


class _HttpTools(_Deadlines, HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`_Deadlines`."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._adopt()
        self._in_head = False  # a request's first byte is parsed, its head has not ended
        self._in_body = False  # the latest request's head has ended, its body has not
        self._active: Any = None  # the cycle whose ASGI task was started last

    def _busy(self) -> bool:
        return self._active is not None and not self._active.response_complete

    def _idle(self) -> bool:
        return not self._busy() and not self._in_body

    def _head_buffered(self) -> bool:
        return self._in_head

    def _body_pending(self) -> bool:
        return self._in_body and self._active is not None and self.cycle is self._active

    def on_message_begin(self) -> None:
        self._in_head = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        self._active = cycle
        super()._start_asgi_task(cycle, app)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._response_done()

    def handle_websocket_upgrade(self) -> None:
        self._hand_off()
        super().handle_websocket_upgrade()


def protocol_class(parser: HttpParser, limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol on ``parser``, under ``limits`` (uvicorn's ``http=``)."""
    if parser == "httptools":

        class HttpToolsWithDeadlines(_HttpTools):
            pass

        HttpToolsWithDeadlines.limits = limits
        return HttpToolsWithDeadlines

    class H11WithDeadlines(_H11):
        pass

    H11WithDeadlines.limits = limits
    return H11WithDeadlines
