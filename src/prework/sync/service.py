"""Sync sessions over an assignment's answers document: join, apply, catch up, leave.

The seed's ``/api/sync`` actions. A session is a record in the ``sessions`` table,
``ORG#<org>#DOC#<doc id>`` / ``SESSION#<session id>`` (who, which client, read-only
or not, when it joined and was last seen), kept :data:`SESSION_TTL_SECONDS` past
its last call: a participant that stops calling drops out of the participants by
itself. Joins and leaves are audited (``sync.joined``, ``sync.left``) in the
transaction that writes or removes the record; the edits themselves are audited
as :mod:`prework.checklists.editing` says.

Who may join: the assignment's crew (before the start, its assignee and the
assignee team's members), who may edit while it is in progress, and auditors,
read-only; an operation from a read-only participant is refused (403
``read_only``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from prework.checklists.editing import Committed, DocEditing
from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.principal import Principal, RequestContext
from prework.errors import ConditionFailed, Forbidden, NotFound, TransactionCanceled
from prework.pubsub.base import PubSub
from prework.store.base import Delete, ItemExists, Put, Store
from prework.sync.json0 import Json
from prework.sync.oplog import SESSIONS, LoggedOp

__all__ = ["SESSION_TTL_SECONDS", "Joined", "Participant", "SyncService"]

SESSION_TTL_SECONDS: Final = 120
# a participant's record is refreshed by a call at most this often
_REFRESH_SECONDS: Final = 30
MAX_PARTICIPANTS: Final = 200
TARGET: Final = "assignment"


@dataclass(frozen=True, slots=True)
class Participant:
    session_id: str
    user_id: str
    client_id: str | None
    read_only: bool
    joined_at: str
    seen_at: str


@dataclass(frozen=True, slots=True)
class Joined:
    session_id: str
    assignment_id: str
    content: Json
    version: int
    read_only: bool
    participants: list[Participant]


def _pk(org_id: str, doc_id: str) -> str:
    return f"ORG#{org_id}#DOC#{doc_id}"


def _session_key(org_id: str, doc_id: str, session_id: str) -> dict[str, str]:
    return {"pk": _pk(org_id, doc_id), "sk": f"SESSION#{session_id}"}


def _participant(item: Mapping[str, Any]) -> Participant:
    return Participant(
        session_id=str(item["session_id"]),
        user_id=str(item["user_id"]),
        client_id=item.get("client_id"),
        read_only=bool(item["read_only"]),
        joined_at=str(item["joined_at"]),
        seen_at=str(item["seen_at"]),
    )


class SyncService:
    def __init__(
        self, store: Store, pubsub: PubSub, *, documents: DocEditing, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.pubsub = pubsub
        self.documents = documents
        self.clock = clock

    async def participants(self, org_id: str, doc_id: str) -> list[Participant]:
        page = await self.store.query(
            SESSIONS, pk=_pk(org_id, doc_id), sk_prefix="SESSION#", limit=MAX_PARTICIPANTS
        )
        return [_participant(i) for i in page.items]

    def _event(
        self,
        principal: Principal,
        ctx: RequestContext,
        action: str,
        doc_id: str,
        details: Mapping[str, Any],
    ) -> Put:
        return audit.event_op(
            org_id=principal.org_id,
            action=action,
            actor=Actor.of(principal),
            ctx=ctx,
            target_type=TARGET,
            target_id=doc_id,
            details=details,
            clock=self.clock,
        )

    async def join(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        client_id: str | None,
    ) -> Joined:
        """Open a session on the document: its content and version (the snapshot),
        whether the caller may edit, and who else is in it."""
        opened = await self.documents.open_document(
            principal=principal, ctx=ctx, assignment_id=assignment_id
        )
        org = principal.org_id
        session_id = new_id()
        now_ts = self.clock()
        now = iso(now_ts)
        record = {
            **_session_key(org, assignment_id, session_id),
            "type": "doc_session",
            "org_id": org,
            "doc_id": assignment_id,
            "session_id": session_id,
            "user_id": principal.user_id,
            "client_id": client_id,
            "connection": "http",
            "read_only": not opened.writable,
            "joined_at": now,
            "seen_at": now,
            "expires_at": int(now_ts) + SESSION_TTL_SECONDS,
        }
        await self.store.transact_write(
            [
                Put(SESSIONS, record),
                self._event(
                    principal,
                    ctx,
                    "sync.joined",
                    assignment_id,
                    {"session_id": session_id, "read_only": not opened.writable},
                ),
            ]
        )
        return Joined(
            session_id=session_id,
            assignment_id=assignment_id,
            content=opened.content,
            version=opened.version,
            read_only=not opened.writable,
            participants=await self.participants(org, assignment_id),
        )

    async def _session(
        self, principal: Principal, assignment_id: str, session_id: str
    ) -> dict[str, Any]:
        """The caller's own session on the document (404 ``session_not_found``
        otherwise: expired, left, someone else's)."""
        key = _session_key(principal.org_id, assignment_id, session_id)
        item = await self.store.get(SESSIONS, key)
        if item is None or item.get("user_id") != principal.user_id:
            raise NotFound(
                "No such sync session (it expired or was left): join again.",
                code="session_not_found",
            )
        return item

    async def _seen(self, session: Mapping[str, Any]) -> None:
        """After a call that succeeded: the session is kept another
        :data:`SESSION_TTL_SECONDS` (written at most every :data:`_REFRESH_SECONDS`;
        housekeeping, as a rate-limit counter is: not audited)."""
        now_ts = self.clock()
        if str(session["seen_at"]) > iso(now_ts - _REFRESH_SECONDS):
            return
        refreshed = {
            **session,
            "seen_at": iso(now_ts),
            "expires_at": int(now_ts) + SESSION_TTL_SECONDS,
        }
        try:
            await self.store.put(SESSIONS, refreshed, condition=ItemExists())
        except ConditionFailed:  # left meanwhile: stays left
            return

    async def apply(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        session_id: str,
        op: object,
        version: int,
        seq: int,
    ) -> Committed:
        """Commit ``op`` (made on ``version``) from the caller's session: the version
        it made (again, for a resubmit of a committed one)."""
        session = await self._session(principal, assignment_id, session_id)
        writable_now = False
        if session["read_only"]:  # joined read-only: still so, or started since?
            opened = await self.documents.open_document(
                principal=principal, ctx=ctx, assignment_id=assignment_id
            )
            if not opened.writable:
                await self.documents.deny(
                    principal,
                    ctx,
                    assignment_id,
                    Forbidden("This session is read-only.", code="read_only"),
                )
            writable_now = True
        src = str(session.get("client_id") or session_id)
        committed = await self.documents.commit_op(
            principal=principal,
            ctx=ctx,
            assignment_id=assignment_id,
            op=op,
            base_version=version,
            src=src,
            seq=seq,
        )
        if writable_now:  # after the commit: a refused operation changes nothing
            session = {**session, "read_only": False, "seen_at": ""}  # "": written now
        await self._seen(session)
        return committed

    async def operations(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        session_id: str,
        since: int,
    ) -> tuple[list[LoggedOp], int]:
        """The operations committed after version ``since``, and the current version."""
        session = await self._session(principal, assignment_id, session_id)
        found = await self.documents.ops_since(
            principal=principal, ctx=ctx, assignment_id=assignment_id, since=since
        )
        await self._seen(session)
        return found

    async def keep(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str, session_id: str
    ) -> None:
        """A live connection's session (a WebSocket's): still allowed, kept another
        :data:`SESSION_TTL_SECONDS`. NotFound/Forbidden once it is not."""
        session = await self._session(principal, assignment_id, session_id)
        await self.documents.open_document(
            principal=principal, ctx=ctx, assignment_id=assignment_id
        )
        await self._seen(session)

    async def leave(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        session_id: str,
    ) -> None:
        """End the caller's session (404 ``session_not_found`` if it is not theirs
        or already gone)."""
        await self._session(principal, assignment_id, session_id)
        key = _session_key(principal.org_id, assignment_id, session_id)
        try:
            await self.store.transact_write(
                [
                    Delete(SESSIONS, key, condition=ItemExists()),
                    self._event(
                        principal, ctx, "sync.left", assignment_id, {"session_id": session_id}
                    ),
                ]
            )
        except TransactionCanceled:  # left (or expired) meanwhile
            raise NotFound(
                "No such sync session (it expired or was left): join again.",
                code="session_not_found",
            ) from None
