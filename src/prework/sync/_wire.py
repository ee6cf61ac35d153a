"""The wire of the ShareDB protocol agent (:mod:`prework.sync.sharedb`): its
constants, the socket it needs, its errors and its per-document state."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from prework.errors import PreworkError
from prework.pubsub.base import Subscription
from prework.sync.oplog import LoggedOp

__all__ = [
    "AUTH_TIMEOUT_SECONDS",
    "BADLY_FORMED",
    "CLOSE_BAD_MESSAGE",
    "CLOSE_NO_TOKEN",
    "CLOSE_TOKEN_ENDED",
    "COLLECTION",
    "JSON0_URI",
    "MAX_PRESENCE_BYTES",
    "PROTOCOL_MAJOR",
    "PROTOCOL_MINOR",
    "REJECTED",
    "SRC",
    "Channel",
    "Doc",
    "Refused",
    "Socket",
    "SocketClosed",
    "error_of",
    "init_message",
    "logged",
    "op_message",
    "presence_topic",
]

COLLECTION: Final = "assignments"
JSON0_URI: Final = "http://sharejs.org/types/JSONv0"
PROTOCOL_MAJOR: Final = 1
PROTOCOL_MINOR: Final = 2
CLOSE_TOKEN_ENDED: Final = 4001  # the session behind the token ended
CLOSE_NO_TOKEN: Final = 4002  # no valid access token at the start
CLOSE_BAD_MESSAGE: Final = 4400  # a message that is not a JSON object
AUTH_TIMEOUT_SECONDS: Final = 10.0
MAX_PRESENCE_BYTES: Final = 4096
SRC: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)  # as the HTTP client_id

BADLY_FORMED: Final = "ERR_MESSAGE_BADLY_FORMED"
REJECTED: Final = "ERR_OP_SUBMIT_REJECTED"


class SocketClosed(Exception):
    """The peer went away (the web shell's disconnect, translated)."""


class Socket(Protocol):
    """What the agent needs of a WebSocket (the route adapts Starlette's)."""

    @property
    def query_params(self) -> Mapping[str, str]: ...

    async def accept(self) -> None: ...

    async def receive_text(self) -> str:
        """The next text message; SocketClosed once the peer is gone; KeyError for a
        binary one."""
        ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


def presence_topic(org_id: str, channel: str) -> str:
    return f"presence:{org_id}:{channel}"


class Refused(Exception):
    """A request answered with a ShareDB error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Doc:
    """A document this socket is subscribed to."""

    session_id: str
    version: int  # the last version the client was sent (or acknowledged)
    bus: Subscription
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None


@dataclass
class Channel:
    bus: Subscription
    task: asyncio.Task[None]


def error_of(exc: PreworkError) -> tuple[str, str]:
    """The ShareDB error of one of ours: our stable code (``invalid_op``,
    ``read_only``, ...) as its code, so that the client rolls the op back *and*
    hands the error to the op's callback (``ERR_OP_SUBMIT_REJECTED`` would roll back
    in silence); the message starts with the code too."""
    return exc.code, f"{exc.code}: {exc.message}"


def logged(event: Mapping[str, Any]) -> LoggedOp:
    return LoggedOp(
        version=int(event["version"]),
        op=list(event["op"]),
        src=str(event["src"]),
        seq=event.get("seq"),
        by=event.get("by"),
        at=str(event.get("at")),
        kind=str(event.get("kind")),
    )


def op_message(doc_id: str, o: LoggedOp) -> dict[str, Any]:
    """ShareDB's message of a committed operation (its ``v``: the version it applies to)."""
    return {
        "a": "op",
        "c": COLLECTION,
        "d": doc_id,
        "v": o.version - 1,
        "src": o.src,
        "seq": o.seq if o.seq is not None else 0,
        "op": o.op,
    }


def init_message(src: str, action: str) -> dict[str, Any]:
    """The legacy ``init`` and the ``hs`` answer: the protocol, the client's id, json0."""
    return {
        "a": action,
        "protocol": PROTOCOL_MAJOR,
        "protocolMinor": PROTOCOL_MINOR,
        "id": src,
        "type": JSON0_URI,
    }
