"""The answers document as the co-edited json0 document of real-time sync.

Its json0 content is ``{"answers": {item_id: value}, "signoffs": {user_id: {"at",
"version"}}}``: the answers' values and the sign-offs. Who gave each answer and when
(``by``/``at``) is kept next to it by the server, never edited by a client: an
answer a change touches is attributed to the change's author at its time, in the
same write. Every version of the document is made by one operation in the log
(:mod:`prework.sync.oplog`), whoever made it: a REST save is the operation from the
old answers to the new ones, a sign-off the insert of its entry, an answer change
after sign-offs is followed (same transaction, next version) by the server's
operation removing them, so a sync client sees every version.

A client's operation (:meth:`DocEditing.commit_op`) names the version it was made
on; it is transformed over the operations committed since (json0, the client's
operation on the left, as ShareDB does) and committed at the next version with the
log entry's must-not-exist condition: two nodes never commit two operations at one
version, and a lost race is transformed again on a fresh read. An operation already
in the log (the same client id and sequence number: a resubmit after a lost ack) is
acknowledged again, never applied twice. Clients edit answers only (one answer per
component); sign-offs go through ``POST .../signoff``.

Auditing: a sync edit writes ``answers.edited`` at most once per user and document
in :data:`EDIT_AUDIT_SECONDS` (in the same transaction); each single operation, with
its author, time and version, is in the log for
:data:`prework.sync.oplog.RETENTION_SECONDS`, and the answers, with who gave each
and when, are frozen in every submission. One audit item per keystroke would make
the audit log mostly typing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn

import structlog

from prework.authz.authorize import audit_denial
from prework.authz.matrix import is_allowed
from prework.checklists import work_repository as repo
from prework.checklists._work import TARGET, Raced
from prework.checklists.answering import AnswerService, _unchanged_state
from prework.checklists.answers import value_problems
from prework.checklists.documents import content_of, over_doc_limit, signoffs_cleared
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import DOC_MAX_BYTES, AssignmentState
from prework.core.clock import iso
from prework.core.principal import Principal, RequestContext, Role
from prework.core.versioned import UNVERSIONED_ATTEMPTS, keeps_changing
from prework.errors import Conflict, Forbidden, PreworkError, ValidationFailed, WriteConflict
from prework.store.base import (
    All,
    Item,
    ItemExists,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)
from prework.sync import json0
from prework.sync.json0 import InvalidOp, Json, Op
from prework.sync.oplog import (
    LoggedOp,
    OpKind,
    entry_put,
    logged_since,
)

__all__ = ["EDIT_AUDIT_SECONDS", "Committed", "DocEditing", "OpenDocument"]

log = structlog.get_logger("prework.checklists.editing")

EDIT_AUDIT_SECONDS: Final = 300
KNOWN_DOCS: Final = 256  # documents whose last commit a node remembers (DocEditing)
_ABSENT: Final = object()


@dataclass(frozen=True, slots=True)
class OpenDocument:
    assignment_id: str
    content: Json
    version: int
    writable: bool  # the caller may submit operations now
    state: AssignmentState


@dataclass(frozen=True, slots=True)
class Committed:
    version: int  # the version the client's operation made
    duplicate: bool  # it was committed before (a resubmit): acknowledged again
    ops: list[LoggedOp]  # what this commit logged (the client's, then any fix-up)
    # what it was transformed over: the versions after its base up to version - 1
    history: list[LoggedOp] = field(default_factory=list)


def _same(a: Any, b: Any) -> bool:
    if a is _ABSENT or b is _ABSENT:
        return a is b
    return json0.json_equal(a, b)


@dataclass(frozen=True, slots=True)
class _Known:
    """An assignment and its answers document as this node last committed to them."""

    item: Item
    doc: Item


class _Stale(Exception):
    """A commit on what this node knew was refused before its write: decide again on
    a fresh read (which also audits a denial)."""


class DocEditing(AnswerService):
    """The answers document as sync sees it: opened for a session, edited by json0
    operations, read as operations since a version.

    A node remembers the assignment and the document of its last commit to each of
    the :data:`KNOWN_DOCS` documents it committed to most recently, and commits the
    next operation on them without reading either (a typing client's next
    keystroke): the write's conditions hold the document's version and the
    assignment's, so a change made meanwhile (by another node, or by anything else
    on this one) fails the write, and the attempt after it reads. A refusal decided
    on what was remembered is decided again on a fresh read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()

    async def open_document(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str
    ) -> OpenDocument:
        """The document for a sync session: for the crew (before the start: the
        assignee and its team's members), who may edit it while it is in progress,
        and for auditors, read-only. Others: 403 ``not_on_crew``."""
        item = await self._readable(principal, ctx, assignment_id)
        assignment = repo.assignment_of(item)
        if principal.role is not Role.AUDITOR and not await self.may_see(principal, assignment):
            await self.deny(
                principal,
                ctx,
                assignment_id,
                Forbidden(
                    "Only the assignment's crew and auditors join its checklist.",
                    code="not_on_crew",
                ),
            )
        doc = await self._doc(principal.org_id, assignment_id)
        writable = self._may_edit(principal, item)
        return OpenDocument(
            assignment_id, content_of(doc), int(doc["version"]), writable, assignment.state
        )

    async def deny(
        self, principal: Principal, ctx: RequestContext, assignment_id: str, exc: Forbidden
    ) -> NoReturn:
        """Refuse the document to ``principal``: audited as a denial (coalesced)."""
        await audit_denial(
            self.store, principal, ctx, Action.ASSIGNMENT_WORK, exc, TARGET, assignment_id,
            clock=self.clock,
        )  # fmt: skip
        raise exc

    def _may_edit(self, principal: Principal, item: dict[str, Any]) -> bool:
        if not is_allowed(principal.role, Action.ASSIGNMENT_WORK):
            return False
        try:
            self._crew_checked(principal, item)
        except (Forbidden, Conflict):  # not on the crew, or not in progress
            return False
        return True

    async def ops_since(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str, since: int
    ) -> tuple[list[LoggedOp], int]:
        """The operations that made the versions after ``since``, and the current
        version (``stale_version`` if the log no longer holds them all)."""
        opened = await self.open_document(principal=principal, ctx=ctx, assignment_id=assignment_id)
        version = opened.version
        return await logged_since(
            self.store, principal.org_id, assignment_id, since, version, self.recent
        ), version

    async def commit_op(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        op: object,
        base_version: int,
        src: str,
        seq: int,
    ) -> Committed:
        """Commit a sync client's operation made on ``base_version`` (see the module)."""
        org = principal.org_id
        checked = json0.check_op(op)
        for component in checked:
            path = component["p"]
            if path[0] != "answers" or len(path) < 2:
                raise InvalidOp(
                    "Clients edit answers, one per component (p starts with "
                    '"answers", <item id>); sign off with POST .../signoff.',
                    details={"path": path},
                )
        key = (org, assignment_id)
        if key in self._known:
            async with self.doc_lock(org, assignment_id):  # on this node, one at a time
                # what the commit before this one left (read under the lock)
                known = self._known.get(key)
                if known is not None and self._may_work(principal, known.item):
                    definition = await self._definition(known.item)
                    try:
                        return await self._commit(
                            principal, ctx, assignment_id, checked, base_version, src, seq,
                            definition, known.item, known.doc,
                        )  # fmt: skip
                    except _Stale:  # refused on what this node knew: decide on fresh reads
                        self._known.pop(key, None)
        first = await self._workable(principal, ctx, assignment_id)
        definition = await self._definition(first)
        async with self.doc_lock(org, assignment_id):
            return await self._commit(
                principal, ctx, assignment_id, checked, base_version, src, seq, definition, first
            )

    def _may_work(self, principal: Principal, item: Item) -> bool:
        """What :meth:`_workable` decides on ``item`` (without its read): the role may
        work on assignments, the caller is on the fixed crew (so sees it) of one
        being filled in. False sends the caller through :meth:`_workable` (audited)."""
        if not is_allowed(principal.role, Action.ASSIGNMENT_WORK):
            return False
        try:
            self._crew_checked(principal, item)
        except (Forbidden, Conflict):
            return False
        return True

    def _remember(self, org: str, assignment_id: str, item: Item, doc: Item) -> None:
        key = (org, assignment_id)
        self._known[key] = _Known(item, doc)
        self._known.move_to_end(key)
        while len(self._known) > KNOWN_DOCS:
            self._known.popitem(last=False)

    async def _commit(
        self,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        checked: Op,
        base_version: int,
        src: str,
        seq: int,
        definition: Mapping[str, Any],
        read: Item | None,
        known_doc: Item | None = None,
    ) -> Committed:
        """Commit ``checked`` (see :meth:`commit_op`). ``read``: the assignment, read
        (or known) already; ``known_doc``: the answers document as this node last
        knew it. What is known may be stale: the write's conditions (the document's
        version, the assignment's) fail then; that, or a refusal before the write, on
        what was known raises :class:`_Stale` (nothing written) for
        :meth:`commit_op` to decide again from fresh reads."""
        org = principal.org_id
        for _ in range(UNVERSIONED_ATTEMPTS):
            current = read or self._crew_checked(principal, await self._item(org, assignment_id))
            read = None  # a retry reads again
            doc, known = known_doc or await self._doc(org, assignment_id), known_doc is not None
            known_doc = None
            try:
                version = int(doc["version"])
                history = await logged_since(
                    self.store, org, assignment_id, base_version, version, self.recent
                )
                for past in history:  # a resubmit: the same author, client and sequence
                    if past.src == src and past.seq == seq and past.by == principal.user_id:
                        return Committed(
                            past.version, True, [], history[: past.version - base_version - 1]
                        )
                rebased = json0.rebase(checked, [past.op for past in history])
                ops, logged, changed, written = self._plan(
                    principal, ctx, current, doc, rebased, src, seq, definition, bool(history)
                )
                # the files the changed answers name (a photo list, a signature's id):
                # ready files of this assignment, whatever the op did to them
                problems = await self.media_problems(org, assignment_id, definition, changed)
                if problems:
                    raise ValidationFailed(
                        f"{len(problems)} answer(s) name files they may not.",
                        code="invalid_answers",
                        details={"errors": [p.as_dict() for p in problems[:200]]},
                    )
            except PreworkError as exc:
                if known:
                    raise _Stale() from exc
                raise
            try:
                await self._write(ops)
            except (Raced, WriteConflict):  # another node's version landed: again
                if known:  # what this node knew was stale: the whole decision again
                    raise _Stale() from None
                continue
            self._remember(org, assignment_id, current, written)
            await self.published(org, assignment_id, logged)
            return Committed(version + 1, False, logged, history)
        raise keeps_changing("answers document")

    def _plan(
        self,
        principal: Principal,
        ctx: RequestContext,
        current: Mapping[str, Any],
        doc: Mapping[str, Any],
        op: Op,
        src: str,
        seq: int,
        definition: Mapping[str, Any],
        rebased: bool,
    ) -> tuple[list[TransactOp], list[LoggedOp], dict[str, Any], Item]:
        """The transaction committing ``op`` on ``doc`` as read, what it logs, the
        answers it changes ({item id: new value, or None if removed}), and the
        document it writes."""
        org, user = principal.org_id, principal.user_id
        version = int(doc["version"])
        content = content_of(doc)
        # checked with the client limits as sent; rebased over what landed since
        edited = json0.apply_checked(content, op, lax=rebased)
        old, new = content["answers"], edited["answers"]
        changed = sorted(
            k
            for k in old.keys() | new.keys()
            if not _same(old.get(k, _ABSENT), new.get(k, _ABSENT))
        )
        problems = value_problems(definition, {k: new.get(k) for k in changed})
        if problems:
            raise ValidationFailed(
                f"{len(problems)} answer(s) are not valid.",
                code="invalid_answers",
                details={"errors": [p.as_dict() for p in problems[:200]]},
            )
        now_ts = self.clock()
        now = iso(now_ts)
        stored_answers: dict[str, Any] = dict(doc.get("answers") or {})
        for key in changed:
            if key in new:
                stored_answers[key] = {"value": new[key], "by": user, "at": now}
            else:
                stored_answers.pop(key, None)
        signoffs = dict(doc.get("signoffs") or {})
        fix = signoffs_cleared(signoffs) if changed and signoffs else []
        final = version + 1 + (1 if fix else 0)
        marks = dict(doc.get("edit_audit") or {})
        audit_due = bool(changed) and (
            user not in marks or str(marks[user]) <= iso(now_ts - EDIT_AUDIT_SECONDS)
        )
        if audit_due:
            marks[user] = now
        fields: dict[str, Any] = {
            "answers": stored_answers,
            "signoffs": {} if fix else signoffs,
            "version": final,
            "updated_at": now,
            "updated_by": user,
            "edit_audit": marks,
        }
        written = {**doc, **fields}
        if over_doc_limit(written):
            raise ValidationFailed(
                f"The answers would be over {DOC_MAX_BYTES} bytes.",
                code="document_too_large",
                details={"max_bytes": DOC_MAX_BYTES},
            )
        assignment_id = current["id"]
        put, logged_op = entry_put(
            org,
            assignment_id,
            version=version + 1,
            op=op,
            kind=OpKind.EDIT,
            by=user,
            now=now_ts,
            src=src,
            seq=seq,
        )
        ops: list[TransactOp] = [put]
        logged = [logged_op]
        if fix:
            put, logged_op = entry_put(
                org, assignment_id, version=final, op=fix, kind=OpKind.SIGNOFFS_CLEARED,
                by=user, now=now_ts,
            )  # fmt: skip
            ops.append(put)
            logged.append(logged_op)
        ops.append(
            Update(
                repo.ASSIGNMENTS,
                repo.doc_key(org, assignment_id),
                UpdateSpec(set=fields),
                condition=All(ItemExists(), version_equals(version)),
            )
        )
        ops.append(_unchanged_state(current))
        if audit_due:
            ops.append(
                self._event(
                    principal,
                    ctx,
                    org,
                    "answers.edited",
                    assignment_id,
                    changes={"version": {"old": version, "new": final}},
                    details={
                        "items": changed[:100],
                        "item_count": len(changed),
                        "signoffs_cleared": sorted(signoffs) if fix else [],
                        "via": "sync",
                    },
                )
            )
        return ops, logged, {k: new.get(k) for k in changed}, written
