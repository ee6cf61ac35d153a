"""ShareDB's client wire protocol on ``/api/sync/ws``, so that the unmodified
``sharedb`` client library edits answers documents.

One :class:`Agent` per WebSocket. Documents are collection ``assignments``, id the
assignment's id; their json0 content and versions are those of
:mod:`prework.checklists.editing` (ShareDB's ``v`` of an operation is the version it
applies to, as this project's ``version`` of a log entry minus one).

Authentication: the access token in the query string (``?access_token=``: browsers
cannot set headers on a WebSocket) or, before anything else, a first message
``{"a": "auth", "token": "..."}`` (an app sends it on the raw socket before handing
it to ShareDB's ``Connection``). It is never logged. It is checked again every
``recheck_seconds``; the socket closes with :data:`CLOSE_TOKEN_ENDED` (4001) once
the session is gone (logged out, revoked, expired, the member deactivated).

Supported: the handshake (``hs``, and the legacy ``init``), ``f`` (fetch: the snapshot,
or the operations since a version), ``s``/``u`` (subscribe, with catch-up from a
version, and unsubscribe), ``op`` (edits; documents are made with their assignment,
so ``create``/``del`` are refused), ``pp``, and channel presence (``ps``, ``pu``,
``p``, ``pr``) with the channel an assignment id, and, opted into with ``{"a":
"x-events"}``, the other areas' events about the subscribed assignments or the caller
(``{"a": "x-event", "event": ...}``: sign-offs, submissions, reviews, clearance).
Queries and bulk requests answer ``ERR_MESSAGEBADLY_FORMED``. A subscription joins a
sync session (audited), an unsubscription or the socket's end leaves it; presence is
cleared on leaving, disconnecting or a dead connection (the server's WebSocket pings
close it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
import structlog

from prework.core.ids import new_id
from prework.core.principal import Authenticator, Principal, RequestContext
from prework.errors import Forbidden, NotFound, PreworkError, Unauthenticated
from prework.pubsub.base import PubSub, Subscription, SubscriptionLagged, org_topic
from prework.sync._wire import (
    AUTH_TIMEOUT_SECONDS,
    BADLY_FORMED,
    CLOSE_BAD_MESSAGE,
    CLOSE_NO_TOKEN,
    CLOSE_TOKEN_ENDED,
    COLLECTION,
    MAX_PRESENCE_BYTES,
    REJECTED,
    SRC,
    Channel,
    Doc,
    Refused,
    Socket,
    SocketClosed,
    error_of,
    init_message,
    logged,
    op_message,
    presence_topic,
)
from prework.sync.oplog import LoggedOp, doc_topic
from prework.sync.service import SyncService

__all__ = [
    "CLOSE_BAD_MESSAGE",
    "CLOSE_NO_TOKEN",
    "CLOSE_TOKEN_ENDED",
    "COLLECTION",
    "Agent",
    "Socket",
    "SocketClosed",
]

log = structlog.get_logger("prework.sync.ws")


class Agent:
    # slots, and the set of allowed channels made on first use: an idle socket holds
    # one of these for its whole life (bench/sync_idle_trace.py lists what it costs)
    __slots__ = (
        "_events",
        "_principal",
        "_recheck_task",
        "_recheck_timer",
        "_send_lock",
        "_token",
        "allowed_channels",
        "authenticator",
        "channels",
        "ctx",
        "docs",
        "presences",
        "pubsub",
        "read_only",
        "recheck_seconds",
        "service",
        "sessions",
        "src",
        "ws",
    )

    def __init__(
        self,
        websocket: Socket,
        *,
        service: SyncService,
        authenticator: Authenticator,
        pubsub: PubSub,
        ctx: RequestContext,
        recheck_seconds: float,
    ) -> None:
        self.ws = websocket
        self.service = service
        self.authenticator = authenticator
        self.pubsub = pubsub
        self.ctx = ctx
        self.recheck_seconds = recheck_seconds
        self.src = new_id()
        self.docs: dict[str, Doc] = {}
        self.sessions: dict[str, str] = {}  # doc id -> session of an unsubscribed edit
        self.read_only: dict[str, bool] = {}  # doc id -> its joined session is read-only
        self.channels: dict[str, Channel] = {}
        self.allowed_channels: set[str] | None = None  # assignment ids, once one is
        self.presences: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, id) -> last
        self._events: Channel | None = None
        self._send_lock = asyncio.Lock()
        self._principal: Principal | None = None
        self._token = ""
        self._recheck_timer: asyncio.TimerHandle | None = None
        self._recheck_task: asyncio.Task[None] | None = None

    @property
    def principal(self) -> Principal:
        assert self._principal is not None
        return self._principal

    # ------------------------------------------------------------------ the socket
    async def send(self, message: Mapping[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(orjson.dumps(message).decode())

    async def run(self) -> None:
        await self.ws.accept()
        try:
            if not await self._authenticate():
                return
            await self.send(init_message(self.src, "init"))
            self._arm_recheck()
            try:
                await self._serve()
            finally:
                self._stop_recheck()
        except SocketClosed:
            pass
        finally:
            await self._cleanup()

    async def _authenticate(self) -> bool:
        token = self.ws.query_params.get("access_token")
        if token is None:
            try:
                first = await asyncio.wait_for(self.ws.receive_text(), AUTH_TIMEOUT_SECONDS)
                message = orjson.loads(first)
            except (TimeoutError, orjson.JSONDecodeError, KeyError):
                await self.ws.close(CLOSE_NO_TOKEN, "send the access token first")
                return False
            if not isinstance(message, dict) or message.get("a") != "auth":
                await self.ws.close(CLOSE_NO_TOKEN, "send the access token first")
                return False
            token = message.get("token")
        if not isinstance(token, str) or not token or len(token) > 4096:
            await self.ws.close(CLOSE_NO_TOKEN, "an access token is required")
            return False
        try:
            self._principal = await self.authenticator.authenticate(token)
        except PreworkError:
            await self.ws.close(CLOSE_NO_TOKEN, "the access token is not valid")
            return False
        self._token = token
        return True

    # a timer, not a task sleeping: an idle socket holds a timer handle (about 100
    # bytes) instead of a task and its frames; the check itself runs as a task
    def _arm_recheck(self) -> None:
        loop = asyncio.get_running_loop()
        self._recheck_timer = loop.call_later(self.recheck_seconds, self._start_recheck)

    def _start_recheck(self) -> None:
        self._recheck_timer = None
        self._recheck_task = asyncio.create_task(self._recheck(), name="sync-ws-recheck")

    def _stop_recheck(self) -> None:
        if self._recheck_timer is not None:
            self._recheck_timer.cancel()
            self._recheck_timer = None
        if self._recheck_task is not None:
            self._recheck_task.cancel()
            self._recheck_task = None

    async def _recheck(self) -> None:
        """Close the socket once the token's session has ended; keep the sync
        sessions of the subscribed documents, and end a subscription the caller may
        no longer have (removed from the crew, the assignment gone). Then arm the
        next check (not after closing)."""
        try:
            again = await self._recheck_once()
        except SocketClosed:  # the socket's end stops the rechecks (run's finally)
            return
        if again:
            self._recheck_task = None
            self._arm_recheck()

    async def _recheck_once(self) -> bool:
        """False once the socket is closed."""
        try:
            principal = await self.authenticator.authenticate(self._token)
        except Unauthenticated:
            log.info("sync_socket_closed", reason="session ended")
            await self._close(CLOSE_TOKEN_ENDED, "the session ended")
            return False
        except PreworkError:  # the store is unavailable: try again later
            return True
        self._principal = principal
        for doc_id, doc in list(self.docs.items()):
            try:
                await self.service.keep(
                    principal=principal,
                    ctx=self.ctx,
                    assignment_id=doc_id,
                    session_id=doc.session_id,
                )
            except (Forbidden, NotFound) as exc:
                await self._unsubscribe(doc_id)
                code, text = error_of(exc)
                await self.send(
                    {
                        "a": "u",
                        "c": COLLECTION,
                        "d": doc_id,
                        "error": {"code": code, "message": text},
                    }
                )
            except PreworkError:
                continue
        return True

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, SocketClosed):
            await self.ws.close(code, reason)

    async def _serve(self) -> None:
        while True:
            try:
                message = orjson.loads(await self.ws.receive_text())
            except (orjson.JSONDecodeError, KeyError):  # KeyError: a binary frame
                await self._close(CLOSE_BAD_MESSAGE, "messages are JSON objects")
                return
            if not isinstance(message, dict):
                await self._close(CLOSE_BAD_MESSAGE, "messages are JSON objects")
                return
            try:
                reply = await self._handle(message)
            except Refused as exc:
                await self.send({**message, "error": {"code": exc.code, "message": exc.message}})
                continue
            except PreworkError as exc:
                code, text = error_of(exc)
                await self.send({**message, "error": {"code": code, "message": text}})
                continue
            if reply is not None:
                await self.send(reply)

    # ------------------------------------------------------------------ requests
    async def _handle(self, m: dict[str, Any]) -> dict[str, Any] | None:
        action = m.get("a")
        if action == "hs":
            src = m.get("id")
            if isinstance(src, str) and SRC.fullmatch(src):
                self.src = src
            return init_message(self.src, "hs")
        if action == "pp":
            return {"a": "pp"}
        if action in ("f", "s", "u", "op"):
            doc_id = self._doc_id(m)
            if action == "f":
                return await self._fetch(m, doc_id)
            if action == "s":
                return await self._subscribe(m, doc_id)
            if action == "u":
                await self._unsubscribe(doc_id)
                return {"a": "u", "c": COLLECTION, "d": doc_id}
            return await self._submit(m, doc_id)
        if action == "ps":
            return await self._presence_subscribe(m)
        if action == "pu":
            channel = self._channel_of(m)
            await self._presence_unsubscribe(channel)
            return {"a": "pu", "ch": channel, "seq": m.get("seq")}
        if action == "p":
            return await self._presence(m)
        if action == "x-events":
            await self._watch_events()
            return {"a": "x-events", "on": True}
        if action == "pr":
            channel = self._channel_of(m)
            await self._check_channel(channel)
            await self._publish_presence(channel, {"ch": channel, "r": True, "src": self.src})
            return None
        raise Refused(BADLY_FORMED, f"Not supported here: {action!r}.")

    def _doc_id(self, m: Mapping[str, Any]) -> str:
        if m.get("c") != COLLECTION:
            raise Refused("ERR_DOC_DOES_NOT_EXIST", f"The collection is {COLLECTION!r}.")
        doc_id = m.get("d")
        if not isinstance(doc_id, str) or not 0 < len(doc_id) <= 64:
            raise Refused(BADLY_FORMED, "Invalid id")
        version = m.get("v")
        if version is not None and (type(version) is not int or version < 0):
            raise Refused(BADLY_FORMED, "Invalid version")
        return doc_id

    async def _ops_since(self, doc_id: str, version: int) -> list[LoggedOp]:
        """What made the versions after ShareDB version ``version`` (ours: the same
        number), none if the client is ahead."""
        session = self._session_for(doc_id)
        if session is None:
            opened = await self.service.documents.open_document(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id
            )
            if version >= opened.version:
                return []
            ops, _ = await self.service.documents.ops_since(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id, since=max(version, 1)
            )
            return ops
        ops, _ = await self.service.operations(
            principal=self.principal,
            ctx=self.ctx,
            assignment_id=doc_id,
            session_id=session,
            since=max(version, 1),
        )
        return ops

    def _session_for(self, doc_id: str) -> str | None:
        doc = self.docs.get(doc_id)
        return doc.session_id if doc is not None else self.sessions.get(doc_id)

    async def _fetch(self, m: dict[str, Any], doc_id: str) -> dict[str, Any]:
        version = m.get("v")
        if version is None:
            opened = await self.service.documents.open_document(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id
            )
            return {
                "a": "f",
                "c": COLLECTION,
                "d": doc_id,
                "data": {"v": opened.version, "data": opened.content},
            }
        for o in await self._ops_since(doc_id, int(version)):
            await self.send(op_message(doc_id, o))
        return {"a": "f", "c": COLLECTION, "d": doc_id}

    async def _subscribe(self, m: dict[str, Any], doc_id: str) -> dict[str, Any]:
        if doc_id in self.docs:
            await self._unsubscribe(doc_id)
        org = self.principal.org_id
        bus = await self.pubsub.subscribe([doc_topic(org, doc_id)])  # before reading
        try:
            joined = await self.service.join(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id, client_id=self.src
            )
        except BaseException:
            await bus.close()
            raise
        doc = Doc(session_id=joined.session_id, version=joined.version, bus=bus)
        self.read_only[doc_id] = joined.read_only
        self.docs[doc_id] = doc
        self.sessions.pop(doc_id, None)
        version = m.get("v")
        async with doc.lock:
            doc.task = asyncio.create_task(self._forward(doc_id, doc), name="sync-ws-doc")
            if version is None:
                return {
                    "a": "s",
                    "c": COLLECTION,
                    "d": doc_id,
                    "data": {"v": joined.version, "data": joined.content},
                }
            if int(version) < joined.version:
                doc.version = int(version)
                try:
                    await self._catch_up(doc_id, doc, 2**53)
                except PreworkError:  # behind the history kept: no subscription
                    await self._unsubscribe(doc_id)
                    raise
        return {"a": "s", "c": COLLECTION, "d": doc_id}

    async def _forward(self, doc_id: str, doc: Doc) -> None:
        """The document's committed operations, in version order, to the client
        (missing ones read from the log). Its own were acknowledged, and the version
        moved past them, before the forwarder sees them."""
        while True:
            try:
                async for message in doc.bus:
                    event = message.event
                    version = int(event.get("version") or 0)
                    async with doc.lock:
                        if version <= doc.version:
                            continue
                        if version == doc.version + 1 and event.get("op") is not None:
                            # (this socket's own are acknowledged, under the lock, first)
                            await self.send(op_message(doc_id, logged(event)))
                            doc.version = version
                            continue
                        await self._catch_up(doc_id, doc, version)
                return
            except SubscriptionLagged:
                continue
            except PreworkError:
                log.exception("sync_forward_failed", doc_id=doc_id)
                return

    async def _catch_up(self, doc_id: str, doc: Doc, upto: int) -> None:
        """Send what made ``doc.version + 1`` .. ``upto`` (under ``doc.lock``)."""
        for o in await self._ops_since(doc_id, doc.version):
            if o.version > upto:
                break
            # its own too: one committed but not acknowledged (a socket that dropped
            # before its ack) is the ack the client waits for
            await self.send(op_message(doc_id, o))
            doc.version = o.version

    async def _unsubscribe(self, doc_id: str) -> None:
        doc = self.docs.pop(doc_id, None)
        if doc is None:
            return
        if doc.task is not None:
            doc.task.cancel()
        await doc.bus.close()
        await self._leave(doc_id, doc.session_id)

    async def _leave(self, doc_id: str, session_id: str) -> None:
        with contextlib.suppress(PreworkError):  # expired or left meanwhile
            await self.service.leave(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id, session_id=session_id
            )

    async def _submit(self, m: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
        if "create" in m or "del" in m:
            raise Refused(REJECTED, "Documents are made and ended with their assignment.")
        if "op" not in m:
            raise Refused(BADLY_FORMED, "Invalid op message")
        version, seq = m.get("v"), m.get("seq")
        if type(version) is not int or type(seq) is not int or seq < 0:
            raise Refused(BADLY_FORMED, "An op names its version (v) and sequence number (seq).")
        src = m.get("src") or self.src
        if src != self.src:
            raise Refused(BADLY_FORMED, "An op's src is this connection's id.")
        doc = self.docs.get(doc_id)
        session = self._session_for(doc_id)
        if session is None:
            joined = await self.service.join(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id, client_id=self.src
            )
            session = self.sessions[doc_id] = joined.session_id
            self.read_only[doc_id] = joined.read_only
        ack = {"a": "op", "c": COLLECTION, "d": doc_id, "src": src, "seq": seq}
        if doc is None:
            committed = await self._commit(doc_id, session, m["op"], version, seq)
            for o in committed.history:
                await self.send(op_message(doc_id, o))
            return {**ack, "v": committed.version - 1}
        async with doc.lock:  # what the forwarder sends waits: the ack comes in order
            committed = await self._commit(doc_id, session, m["op"], version, seq)
            for o in committed.history:  # what it was transformed over, first
                if o.version == doc.version + 1:
                    await self.send(op_message(doc_id, o))
                    doc.version = o.version
            if doc.version < committed.version - 1:  # (a gap the history did not fill)
                await self._catch_up(doc_id, doc, committed.version - 1)
            doc.version = max(doc.version, committed.version)
            await self.send({**ack, "v": committed.version - 1})
        return None

    async def _commit(self, doc_id: str, session: str, op: object, version: int, seq: int) -> Any:
        """Commit through the document's service directly: the session is this
        socket's own (kept by the token check), whether it is read-only known since
        it was joined."""
        if self.read_only.get(doc_id, True):
            opened = await self.service.documents.open_document(
                principal=self.principal, ctx=self.ctx, assignment_id=doc_id
            )
            self.read_only[doc_id] = not opened.writable  # started since it was joined
        if self.read_only[doc_id]:
            await self.service.documents.deny(
                self.principal,
                self.ctx,
                doc_id,
                Forbidden("This session is read-only.", code="read_only"),
            )
        return await self.service.documents.commit_op(
            principal=self.principal,
            ctx=self.ctx,
            assignment_id=doc_id,
            op=op,
            base_version=max(version, 1),
            src=self.src,
            seq=seq,
        )

    # ------------------------------------------------------------------ other areas
    async def _watch_events(self) -> None:
        """From now on, the organization's events about the assignments this socket
        subscribes to, or about the caller, as ``{"a": "x-event", "event": ...}``
        (opt-in: an unmodified ShareDB client would log unknown messages)."""
        if self._events is not None:
            return
        bus = await self.pubsub.subscribe([org_topic(self.principal.org_id)])
        self._events = Channel(bus, asyncio.create_task(self._forward_events(bus)))

    def _concerns(self, event: Mapping[str, Any]) -> bool:
        if event.get("assignment_id") in self.docs:
            return True
        user = self.principal.user_id
        return event.get("user_id") == user or user in (event.get("user_ids") or ())

    async def _forward_events(self, bus: Subscription) -> None:
        while True:
            try:
                async for message in bus:
                    if self._concerns(message.event):
                        await self.send({"a": "x-event", "event": message.event})
                return
            except SubscriptionLagged:
                await self.send({"a": "x-event", "event": {"type": "events.lagged"}})

    # ------------------------------------------------------------------ presence
    def _channel_of(self, m: Mapping[str, Any]) -> str:
        channel = m.get("ch")
        if not isinstance(channel, str) or not 0 < len(channel) <= 64 or not channel.isalnum():
            raise Refused(BADLY_FORMED, "Invalid presence channel: an assignment id.")
        return channel

    async def _check_channel(self, channel: str) -> None:
        """A channel is an assignment the caller may join."""
        if self.allowed_channels is not None and channel in self.allowed_channels:
            return
        await self.service.documents.open_document(
            principal=self.principal, ctx=self.ctx, assignment_id=channel
        )
        allowed = self.allowed_channels  # read again: made meanwhile, it is kept
        if allowed is None:
            allowed = self.allowed_channels = set()
        allowed.add(channel)

    async def _publish_presence(self, channel: str, event: dict[str, Any]) -> None:
        await self.pubsub.publish(presence_topic(self.principal.org_id, channel), event)

    async def _presence_subscribe(self, m: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_of(m)
        await self._check_channel(channel)
        if channel not in self.channels:
            bus = await self.pubsub.subscribe([presence_topic(self.principal.org_id, channel)])
            task = asyncio.create_task(self._forward_presence(bus), name="sync-ws-presence")
            self.channels[channel] = Channel(bus, task)
            await self._publish_presence(channel, {"ch": channel, "r": True, "src": self.src})
        return {"a": "ps", "ch": channel, "seq": m.get("seq")}

    async def _presence_unsubscribe(self, channel: str) -> None:
        found = self.channels.pop(channel, None)
        if found is not None:
            found.task.cancel()
            await found.bus.close()

    async def _forward_presence(self, bus: Subscription) -> None:
        while True:
            try:
                async for message in bus:
                    event = message.event
                    if event.get("src") == self.src:
                        continue
                    if event.get("r"):
                        await self.send({"a": "pr", "ch": event.get("ch")})
                    else:
                        await self.send(event)
                return
            except SubscriptionLagged:
                continue

    async def _presence(self, m: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_of(m)
        await self._check_channel(channel)
        presence_id, version = m.get("id"), m.get("pv")
        if not isinstance(presence_id, str) or not 0 < len(presence_id) <= 64:
            raise Refused(BADLY_FORMED, "Invalid presence ID")
        if type(version) is not int or version < 0:
            raise Refused(BADLY_FORMED, "Invalid presence version")
        value = m.get("p")
        if len(orjson.dumps(value)) > MAX_PRESENCE_BYTES:
            raise Refused(BADLY_FORMED, f"A presence is at most {MAX_PRESENCE_BYTES} bytes.")
        event = {
            "a": "p",
            "ch": channel,
            "src": self.src,
            "id": presence_id,
            "p": value,
            "pv": version,
            "c": m.get("c"),
            "d": m.get("d"),
            "v": m.get("v"),
            "t": m.get("t"),
        }
        if value is None:
            self.presences.pop((channel, presence_id), None)
        else:
            self.presences[(channel, presence_id)] = event
        await self._publish_presence(channel, event)
        return event

    # ------------------------------------------------------------------ the end
    async def _cleanup(self) -> None:
        for (channel, _), event in list(self.presences.items()):
            with contextlib.suppress(PreworkError):
                await self._publish_presence(
                    channel, {**event, "p": None, "pv": int(event["pv"]) + 1}
                )
        self.presences.clear()
        for channel in list(self.channels):
            await self._presence_unsubscribe(channel)
        if self._events is not None:
            self._events.task.cancel()
            await self._events.bus.close()
        if self._principal is None:
            return
        for doc_id in list(self.docs):
            await self._unsubscribe(doc_id)
        for doc_id, session in list(self.sessions.items()):
            await self._leave(doc_id, session)
        self.sessions.clear()
