"""The operation log of co-edited documents, in the ``sessions`` table (the seed's
real-time collaboration state), and the document topics of the event bus.

Every version of a document past its first is made by one logged operation:
``ORG#<org>#DOC#<doc id>`` / ``OP#<version, 12 digits>`` holds the json0
operation that turned version - 1 into version, who made it (user, client id
and sequence number), when, and what kind of change it was. It is written in
the transaction that writes the version, conditioned on not existing, so two
app nodes can never commit two operations at one version. Entries expire after
:data:`RETENTION_SECONDS`; a client whose base version is older than what is
kept gets ``stale_version`` and joins again (the document item itself is the
snapshot: joining never replays history).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from prework.core.clock import iso
from prework.errors import LimitExceeded, PreworkError, StaleVersion, ValidationFailed
from prework.pubsub.base import PubSub
from prework.store.base import Item, ItemNotExists, Key, Put, Store
from prework.sync.json0 import Op

__all__ = [
    "MAX_CATCH_UP",
    "RETENTION_SECONDS",
    "SERVER_SOURCE",
    "SESSIONS",
    "LoggedOp",
    "OpKind",
    "RecentOps",
    "doc_topic",
    "entry_put",
    "logged_since",
    "publish_ops",
]

SESSIONS: Final = "sessions"
RETENTION_SECONDS: Final = 30 * 86_400
# operations one catch-up answers at most (a client further behind reads again)
MAX_CATCH_UP: Final = 1_000
# the client id of operations the server makes (REST saves, sign-offs, fix-ups)
SERVER_SOURCE: Final = "server"
_DIGITS: Final = 12


class OpKind:
    EDIT = "edit"  # a sync client's operation
    SAVE = "save"  # a REST save of answers
    SIGNOFF = "signoff"
    SIGNOFFS_CLEARED = "signoffs_cleared"  # an answer changed after sign-offs
    SUBMIT = "submit"  # answers of hidden items cleared at submission
    REVIEW = "review"  # a rejection clears the sign-offs
    CREW = "crew"  # a crew amendment clears the sign-offs


@dataclass(frozen=True, slots=True)
class LoggedOp:
    version: int  # the version this operation made (it applies to version - 1)
    op: Op
    src: str
    seq: int | None
    by: str | None
    at: str
    kind: str


def _pk(org_id: str, doc_id: str) -> str:
    return f"ORG#{org_id}#DOC#{doc_id}"


def _sk(version: int) -> str:
    return f"OP#{version:0{_DIGITS}d}"


def entry_key(org_id: str, doc_id: str, version: int) -> Key:
    return {"pk": _pk(org_id, doc_id), "sk": _sk(version)}


def entry_put(
    org_id: str,
    doc_id: str,
    *,
    version: int,
    op: Op,
    kind: str,
    by: str | None,
    now: float,
    src: str = SERVER_SOURCE,
    seq: int | None = None,
) -> tuple[Put, LoggedOp]:
    """The log entry of ``version`` (it must not exist yet), for the transaction
    that writes that version, and the operation as logged (to publish after it)."""
    at = iso(now)
    item: Item = {
        **entry_key(org_id, doc_id, version),
        "type": "doc_op",
        "org_id": org_id,
        "doc_id": doc_id,
        "version": version,
        "op": op,
        "src": src,
        "seq": seq,
        "by": by,
        "at": at,
        "kind": kind,
        "expires_at": int(now) + RETENTION_SECONDS,
    }
    put = Put(SESSIONS, item, condition=ItemNotExists())
    return put, LoggedOp(version, op, src, seq, by, at, kind)


def _logged(item: Mapping[str, Any]) -> LoggedOp:
    return LoggedOp(
        version=int(item["version"]),
        op=list(item["op"]),
        src=str(item["src"]),
        seq=None if item.get("seq") is None else int(item["seq"]),
        by=item.get("by"),
        at=str(item["at"]),
        kind=str(item["kind"]),
    )


class RecentOps:
    """The latest operations of the documents this node committed to or read the log
    of, kept in memory (a client a few versions behind, the common case, is rebased
    without reading the log). An entry is immutable once written and unique per
    version, so what is kept is exact; only an unbroken run is kept per document, and
    a run that does not cover what is asked is not used."""

    def __init__(self, *, per_doc: int = 256, docs: int = 1024) -> None:
        self._per_doc = per_doc
        self._max_docs = docs
        self._runs: OrderedDict[tuple[str, str], deque[LoggedOp]] = OrderedDict()

    def add(self, org_id: str, doc_id: str, ops: Sequence[LoggedOp]) -> None:
        """Operations just committed or read, in version order."""
        if not ops:
            return
        key = (org_id, doc_id)
        run = self._runs.get(key)
        if run is None or (run and run[-1].version + 1 != ops[0].version):
            if run is not None and run and run[-1].version >= ops[-1].version:
                return  # already kept (a read of what this node wrote)
            run = self._runs[key] = deque(maxlen=self._per_doc)
        run.extend(ops)
        self._runs.move_to_end(key)
        while len(self._runs) > self._max_docs:
            self._runs.popitem(last=False)

    def since(self, org_id: str, doc_id: str, base: int, upto: int) -> list[LoggedOp] | None:
        """Versions ``base + 1`` .. ``upto``, if kept whole; else None."""
        run = self._runs.get((org_id, doc_id))
        if not run or run[0].version > base + 1 or run[-1].version < upto:
            return None
        start = base + 1 - run[0].version
        return [run[i] for i in range(start, start + upto - base)]


async def logged_since(
    store: Store,
    org_id: str,
    doc_id: str,
    base: int,
    upto: int,
    recent: RecentOps | None = None,
) -> list[LoggedOp]:
    """The operations that made versions ``base + 1`` .. ``upto``, in order (from
    ``recent`` when it holds them); ``stale_version`` if the log no longer holds all
    of them (or ``base`` is further behind than one catch-up answers)."""
    if base < 1 or base > upto:
        raise ValidationFailed(
            f"Version {base} is not a version of this document (it is at {upto}).",
            code="invalid_version",
            details={"current_version": upto, "expected_version": base},
        )
    if base == upto:
        return []
    if upto - base > MAX_CATCH_UP:
        raise _too_far(base, upto)
    if recent is not None:
        kept = recent.since(org_id, doc_id, base, upto)
        if kept is not None:
            return kept
    page = await store.query(
        SESSIONS,
        pk=_pk(org_id, doc_id),
        sk_gte=_sk(base + 1),
        sk_lte=_sk(upto),
        limit=upto - base,
    )
    ops = [_logged(item) for item in page.items]
    if [o.version for o in ops] != list(range(base + 1, upto + 1)):
        raise _too_far(base, upto)
    if recent is not None:
        recent.add(org_id, doc_id, ops)
    return ops


def _too_far(base: int, upto: int) -> StaleVersion:
    return StaleVersion(
        f"Version {base} is older than the history kept; join again (the document is at {upto}).",
        code="stale_version",
        details={"current_version": upto, "expected_version": base},
    )


def doc_topic(org_id: str, doc_id: str) -> str:
    """The bus topic of one document's committed operations."""
    return f"doc:{org_id}:{doc_id}"


async def publish_ops(
    pubsub: PubSub, org_id: str, doc_id: str, ops: Sequence[LoggedOp], log: Any
) -> None:
    """Each committed operation on the document's topic, after the commit (a lost
    notice is logged: subscribers catch up from the log). An operation too big for
    the bus goes without its ``op``: subscribers read it from the log."""
    for o in ops:
        event: dict[str, Any] = {
            "type": "doc.op",
            "org_id": org_id,
            "doc_id": doc_id,
            "version": o.version,
            "op": o.op,
            "src": o.src,
            "seq": o.seq,
            "by": o.by,
            "at": o.at,
            "kind": o.kind,
        }
        try:
            try:
                await pubsub.publish(doc_topic(org_id, doc_id), event)
            except LimitExceeded:
                await pubsub.publish(doc_topic(org_id, doc_id), {**event, "op": None})
        except PreworkError:
            log.exception("publish_failed", event_type="doc.op", version=o.version)
