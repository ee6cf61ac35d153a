"""The crew's side of an assignment: the answers document, sign-offs and submission.

The answers document is one versioned item per assignment:
``{"answers": {item_id: {"value", "by", "at"}}, "signoffs": {user_id: {"at", "version"}}}``.
Saving names the document version it was based on (``If-Match``/``version``:
409 ``stale_version`` if it moved) or none (applied to the current one). Every
answer records who gave it and when; an answer change clears every sign-off
given before it (each signer vouched for the whole checklist as it was).

Submitting checks every answer against the template version at once
(:func:`prework.checklists.answers.evaluate`, in a worker thread), clears the
answers of hidden items, needs every crew member's sign-off, and writes an
immutable submission version with its failed critical items and score, the
assignment's move to ``submitted`` and the audit event in one transaction.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import anyio.to_thread
import structlog

from prework.authz.authorize import audit_denial
from prework.checklists import work_repository as repo
from prework.checklists._work import TARGET, WorkBase
from prework.checklists.answers import Evaluation, evaluate, value_problems
from prework.checklists.documents import answers_op, over_doc_limit, signoffs_cleared
from prework.checklists.permissions import ChecklistAction as Action
from prework.checklists.workflow import (
    DOC_MAX_BYTES,
    AnswersDoc,
    AssignmentState,
    Submission,
    Transition,
    check_transition,
    missing_signoffs,
)
from prework.core.clock import iso
from prework.core.ids import derived_id, new_id
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import check_version
from prework.errors import Forbidden, ValidationFailed
from prework.store.base import (
    All,
    AttrEquals,
    Check,
    Delete,
    Item,
    ItemExists,
    ItemNotExists,
    Put,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)
from prework.sync.oplog import LoggedOp, OpKind, RecentOps, entry_put, publish_ops

__all__ = ["AnswerService", "MediaUse"]

log = structlog.get_logger("prework.checklists.answers")


def _not_on_crew() -> Forbidden:
    return Forbidden("Only the assignment's crew fills it in.", code="not_on_crew")


def _unchanged_state(item: Mapping[str, Any]) -> Check:
    """The assignment is still as read (state, crew and all): part of every document write."""
    return Check(
        repo.ASSIGNMENTS,
        repo.assignment_key(item["org_id"], item["id"]),
        All(ItemExists(), version_equals(int(item["version"]))),
    )


@dataclass(frozen=True, slots=True)
class MediaUse:
    """The files an assignment keeps (see :meth:`AnswerService.media_in_use`)."""

    ids: frozenset[str]
    exists: bool
    guard: Check | None  # part of a collector's write: fails if the answers changed


# a keyed submit answers its earlier submission again for as long as the key's
# middleware keeps answers (prework.http.idempotency.RETENTION_SECONDS)
REPLAY_SECONDS: Final = 24 * 3600


class AnswerService(WorkBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent = RecentOps()
        self._doc_locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def doc_lock(self, org_id: str, assignment_id: str) -> asyncio.Lock:
        """This node's lock of one answers document: its writes take turns here, so
        they race only another node's (a lost race is planned again on a new read)."""
        key = (org_id, assignment_id)
        lock = self._doc_locks.get(key)
        if lock is None:
            lock = self._doc_locks[key] = asyncio.Lock()
        return lock

    async def published(self, org_id: str, assignment_id: str, logged: list[LoggedOp]) -> None:
        """After a commit: its operations kept for rebasing, and on the bus."""
        self.recent.add(org_id, assignment_id, logged)
        await publish_ops(self.pubsub, org_id, assignment_id, logged, log)

    async def _workable(
        self,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        item: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The assignment (``item``, if already read by :meth:`_authorized`), for a
        crew member, while it is being filled in."""
        if item is None:
            item = await self._authorized(principal, ctx, Action.ASSIGNMENT_WORK, assignment_id)
        try:
            return self._crew_checked(principal, item)
        except Forbidden as exc:  # a denial like the matrix's: audited (coalesced)
            await audit_denial(
                self.store,
                principal,
                ctx,
                Action.ASSIGNMENT_WORK,
                exc,
                TARGET,
                assignment_id,
                clock=self.clock,
            )
            raise

    def _crew_checked(self, principal: Principal, item: Item) -> Item:
        assignment = repo.assignment_of(item)
        check_transition(assignment.state, Transition.ANSWER)
        if not assignment.on_crew(principal.user_id):
            raise _not_on_crew()
        return item

    async def _definition(self, item: Mapping[str, Any]) -> Mapping[str, Any]:
        version = await self.templates.version_of(
            item["org_id"], item["template_id"], int(item["template_version"])
        )
        return version.definition

    # ------------------------------------------------------------------ files
    async def attachable(
        self,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        item_id: str | None,
        kind: str | None,
    ) -> None:
        """Whether the caller may attach a file to the assignment (a crew member,
        while it is being filled in) and, with ``item_id``, to that item, which must
        be of ``kind`` (``photo`` / ``signature``; None: any item): 404
        ``not_found``, 403 ``not_on_crew``, 409 ``invalid_transition``, 422
        ``unknown_item`` / ``wrong_item_type``."""
        item = await self._workable(principal, ctx, assignment_id)
        if item_id is None:
            return
        definition = await self._definition(item)
        for section in definition.get("sections") or ():
            for entry in section.get("items") or ():
                if str(entry.get("id")) != item_id:
                    continue
                if kind is not None and entry.get("type") != kind:
                    raise ValidationFailed(
                        f"The item {item_id!r} does not take a file of this purpose.",
                        code="wrong_item_type",
                        details={"item_id": item_id, "item_type": entry.get("type")},
                    )
                return
        raise ValidationFailed(
            f"The checklist has no item {item_id!r}.",
            code="unknown_item",
            details={"item_id": item_id},
        )

    async def readable(self, principal: Principal, ctx: RequestContext, assignment_id: str) -> None:
        """Whether the caller may read the assignment (404 ``not_found`` if not):
        who may read its files."""
        await self._readable(principal, ctx, assignment_id)

    async def media_in_use(self, org_id: str, assignment_id: str) -> MediaUse:
        """What the media collector keeps of the assignment: every media id its
        answers or any of its submissions name, whether it exists (its documents
        stay while it does), and a check that fails once its answers change."""
        found: set[str] = set()

        def take(answers: Mapping[str, Any]) -> None:
            for entry in answers.values():
                value = entry.get("value") if isinstance(entry, Mapping) else None
                for v in value if isinstance(value, list) else [value]:
                    if isinstance(v, str):
                        found.add(v)

        doc = await self.store.get(repo.ASSIGNMENTS, repo.doc_key(org_id, assignment_id))
        if doc is None:
            return MediaUse(frozenset(), exists=False, guard=None)
        take(doc.get("answers") or {})
        guard = Check(
            repo.ASSIGNMENTS,
            repo.doc_key(org_id, assignment_id),
            All(ItemExists(), version_equals(int(doc["version"]))),
        )
        cursor: str | None = None
        while True:
            page = await self.store.query(
                repo.SUBMISSIONS,
                index="gsi1",
                pk=repo.submissions_pk(org_id, assignment_id),
                limit=100,
                cursor=cursor,
            )
            for sub in page.items:
                take(sub.get("answers") or {})
            cursor = page.cursor
            if cursor is None:
                return MediaUse(frozenset(found), exists=True, guard=guard)

    # ------------------------------------------------------------------ reads
    async def get(
        self, *, principal: Principal, ctx: RequestContext, assignment_id: str
    ) -> AnswersDoc:
        await self._readable(principal, ctx, assignment_id)
        return repo.doc_of(await self._doc(principal.org_id, assignment_id))

    # ------------------------------------------------------------------ changes
    async def save(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        values: Mapping[str, Any],
        replace: bool,
        expected_version: int | None,
    ) -> AnswersDoc:
        """Save answers: ``values`` maps item ids to answers (None removes one); with
        ``replace`` the document's answers become exactly ``values``."""
        org, user = principal.org_id, principal.user_id
        item = await self._workable(principal, ctx, assignment_id)
        definition = await self._definition(item)
        problems = value_problems(definition, values) or await self.media_problems(
            org, assignment_id, definition, values
        )
        if problems:
            raise ValidationFailed(
                f"{len(problems)} answer(s) are not valid.",
                code="invalid_answers",
                details={"errors": [p.as_dict() for p in problems[:200]]},
            )

        async def attempt() -> tuple[AnswersDoc, list[str], list[str], list[LoggedOp]]:
            current = self._crew_checked(principal, await self._item(org, assignment_id))
            doc = await self._doc(org, assignment_id)
            version = check_version(doc, expected_version)
            now_ts = self.clock()
            now = iso(now_ts)
            old: dict[str, Any] = doc.get("answers") or {}
            new: dict[str, Any] = {} if replace else dict(old)
            for item_id, value in values.items():
                if value is None:
                    new.pop(item_id, None)
                elif item_id in old and old[item_id].get("value") == value:
                    new[item_id] = old[item_id]
                else:
                    new[item_id] = {"value": value, "by": user, "at": now}
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if not changed:
                return repo.doc_of(doc), [], [], []
            signoffs = doc.get("signoffs") or {}
            cleared = sorted(signoffs)
            put, logged = entry_put(
                org, assignment_id, version=version + 1,
                op=answers_op(old, new) + signoffs_cleared(signoffs), kind=OpKind.SAVE,
                by=user, now=now_ts,
            )  # fmt: skip
            stored = {
                **doc,
                "answers": new,
                "signoffs": {},
                "version": version + 1,
                "updated_at": now,
                "updated_by": user,
            }
            if over_doc_limit(stored):
                raise ValidationFailed(
                    f"The answers would be over {DOC_MAX_BYTES} bytes.",
                    code="document_too_large",
                    details={"max_bytes": DOC_MAX_BYTES},
                )
            await self._write(
                [
                    Update(
                        repo.ASSIGNMENTS,
                        repo.doc_key(org, assignment_id),
                        UpdateSpec(
                            set={
                                "answers": new,
                                "signoffs": {},
                                "version": version + 1,
                                "updated_at": now,
                                "updated_by": user,
                            }
                        ),
                        condition=All(ItemExists(), version_equals(version)),
                    ),
                    put,
                    _unchanged_state(current),
                    self._event(
                        principal,
                        ctx,
                        org,
                        "answers.saved",
                        assignment_id,
                        changes={"version": {"old": version, "new": version + 1}},
                        details={
                            "items": changed[:100],
                            "item_count": len(changed),
                            "signoffs_cleared": cleared,
                        },
                    ),
                ]
            )
            return repo.doc_of(stored), changed, cleared, [logged]

        async with self.doc_lock(org, assignment_id):
            doc, changed, cleared, logged = await self._retrying(attempt, "answers document")
        await self.published(org, assignment_id, logged)
        if changed:
            await self._announce(
                org,
                "answers.saved",
                assignment_id=assignment_id,
                version=doc.version,
                items=changed[:100],
                by=user,
                signoffs_cleared=cleared,
            )
        return doc

    async def signoff(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        expected_version: int | None,
    ) -> AnswersDoc:
        """The caller, a crew member, signs off the answers as they are (at
        ``expected_version`` of the document, if named). Signing twice is harmless."""
        org, user = principal.org_id, principal.user_id
        await self._workable(principal, ctx, assignment_id)

        async def attempt() -> tuple[AnswersDoc, list[LoggedOp]]:
            current = self._crew_checked(principal, await self._item(org, assignment_id))
            doc = await self._doc(org, assignment_id)
            version = check_version(doc, expected_version)
            signoffs = dict(doc.get("signoffs") or {})
            if user in signoffs:
                return repo.doc_of(doc), []
            now_ts = self.clock()
            now = iso(now_ts)
            signoffs[user] = {"at": now, "version": version}
            put, logged = entry_put(
                org, assignment_id, version=version + 1,
                op=[{"p": ["signoffs", user], "oi": signoffs[user]}], kind=OpKind.SIGNOFF,
                by=user, now=now_ts,
            )  # fmt: skip
            stored = {
                **doc,
                "signoffs": signoffs,
                "version": version + 1,
                "updated_at": now,
                "updated_by": user,
            }
            await self._write(
                [
                    Update(
                        repo.ASSIGNMENTS,
                        repo.doc_key(org, assignment_id),
                        UpdateSpec(
                            set={
                                "signoffs": signoffs,
                                "version": version + 1,
                                "updated_at": now,
                                "updated_by": user,
                            }
                        ),
                        condition=All(ItemExists(), version_equals(version)),
                    ),
                    put,
                    _unchanged_state(current),
                    self._event(
                        principal,
                        ctx,
                        org,
                        "assignment.signed_off",
                        assignment_id,
                        changes={"version": {"old": version, "new": version + 1}},
                        details={"signed_version": version},
                    ),
                ]
            )
            return repo.doc_of(stored), [logged]

        async with self.doc_lock(org, assignment_id):
            doc, logged = await self._retrying(attempt, "answers document")
        await self.published(org, assignment_id, logged)
        if logged:
            await self._announce(
                org,
                "assignment.signed_off",
                assignment_id=assignment_id,
                user_id=user,
                version=doc.version,
            )
        return doc

    async def submit(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        assignment_id: str,
        expected_version: int | None,
    ) -> Submission:
        """Validate and freeze the answers as the next submission version.

        Under an ``Idempotency-Key`` the submission's id derives from the key, so a
        retry of a submit that was written but not answered (a lost response, a
        store that failed after committing) finds its submission and answers it
        again instead of 409: the key's middleware replays only answers it saw. As
        the middleware's, such a replay lasts :data:`REPLAY_SECONDS`, and only for
        the assignment's latest submission; a key whose id an older submission took
        makes a submission of a new id."""
        org, user = principal.org_id, principal.user_id
        key = ctx.idempotency_key
        keyed = derived_id("submission", org, user, assignment_id, key) if key else None
        item = await self._authorized(principal, ctx, Action.ASSIGNMENT_WORK, assignment_id)
        if keyed is not None:
            found = await self.store.get(repo.SUBMISSIONS, repo.submission_key(org, keyed))
            if found is not None:
                prior = repo.submission_of(found)
                if self._replays(item, prior):
                    if item["state"] == AssignmentState.SUBMITTED.value:  # its notice was lost
                        await self._announce_submitted(org, assignment_id, prior)
                    return prior
                keyed = None
        item = await self._workable(principal, ctx, assignment_id, item)
        definition = await self._definition(item)

        async def attempt() -> tuple[Submission, list[LoggedOp]]:
            fresh = await self._item(org, assignment_id)
            landed = await self._submitted_as(org, fresh, keyed)
            if landed is not None:  # this very submit was written meanwhile, unanswered
                return landed, []
            current = self._crew_checked(principal, fresh)
            doc = await self._doc(org, assignment_id)
            version = check_version(doc, expected_version)
            answers: Mapping[str, Any] = doc.get("answers") or {}
            signoffs: Mapping[str, Any] = doc.get("signoffs") or {}
            ev: Evaluation = await anyio.to_thread.run_sync(evaluate, definition, answers)
            problems = list(ev.problems)
            if not problems:  # the files the answers name: ready, of this assignment
                values = {k: e.get("value") for k, e in ev.answers.items() if k in ev.visible}
                problems = await self.media_problems(org, assignment_id, definition, values)
            crew = list(current.get("crew") or ())
            missing = missing_signoffs(crew, signoffs)
            if problems or missing:
                raise ValidationFailed(
                    "The checklist cannot be submitted yet: "
                    f"{len(problems)} answer problem(s), {len(missing)} sign-off(s) missing.",
                    code="submission_invalid",
                    details={
                        "errors": [p.as_dict() for p in problems[:200]],
                        "missing_signoffs": missing,
                    },
                )
            now_ts = self.clock()
            now = iso(now_ts)
            number = int(current.get("submission_count") or 0) + 1
            submission_id = keyed or new_id()
            sub = repo.submission_item(
                org_id=org,
                submission_id=submission_id,
                assignment=current,
                number=number,
                answers=ev.answers,
                signoffs=signoffs,
                crew=crew,
                cleared_hidden=ev.cleared,
                failed_critical=ev.failed_critical,
                score=ev.score,
                submitted_by=user,
                now=now,
            )
            a_version = int(current["version"])
            doc_ops: list[TransactOp]
            logged: list[LoggedOp] = []
            if ev.cleared:  # answers of hidden items leave the document too
                cleared_op = [
                    {"p": ["answers", k], "od": answers[k].get("value")}
                    for k in sorted(ev.cleared)
                    if k in answers
                ]
                put, entry = entry_put(
                    org, assignment_id, version=version + 1, op=cleared_op,
                    kind=OpKind.SUBMIT, by=user, now=now_ts,
                )  # fmt: skip
                logged.append(entry)
                doc_ops = [put]
                doc_ops.append(Update(
                    repo.ASSIGNMENTS,
                    repo.doc_key(org, assignment_id),
                    UpdateSpec(
                        set={
                            "answers": ev.answers,
                            "version": version + 1,
                            "updated_at": now,
                            "updated_by": user,
                        }
                    ),
                    condition=All(ItemExists(), version_equals(version)),
                ))  # fmt: skip
            else:
                doc_ops = [
                    Check(
                        repo.ASSIGNMENTS,
                        repo.doc_key(org, assignment_id),
                        All(ItemExists(), version_equals(version)),
                    )
                ]
            await self._write(
                [
                    Put(repo.SUBMISSIONS, sub, condition=ItemNotExists()),
                    Update(
                        repo.ASSIGNMENTS,
                        repo.assignment_key(org, assignment_id),
                        UpdateSpec(
                            set={
                                "state": AssignmentState.SUBMITTED.value,
                                "latest_submission_id": submission_id,
                                "submission_count": number,
                                "submitted_at": now,
                                "updated_at": now,
                                "version": a_version + 1,
                            }
                        ),
                        condition=All(
                            ItemExists(),
                            version_equals(a_version),
                            AttrEquals("state", AssignmentState.IN_PROGRESS.value),
                        ),
                    ),
                    *doc_ops,
                    Delete(repo.ASSIGNMENTS, repo.watch_key(org, assignment_id, current["due_at"])),
                    self._event(
                        principal,
                        ctx,
                        org,
                        "assignment.submitted",
                        assignment_id,
                        changes={
                            "state": {"old": current["state"], "new": "submitted"},
                            "version": {"old": a_version, "new": a_version + 1},
                        },
                        details={
                            "submission_id": submission_id,
                            "number": number,
                            "score": ev.score,
                            "failed_critical": list(ev.failed_critical),
                            "cleared_hidden": list(ev.cleared),
                        },
                    ),
                ]
            )
            return repo.submission_of(sub), logged

        async with self.doc_lock(org, assignment_id):
            submission, logged = await self._retrying(attempt, "assignment")
        await self.published(org, assignment_id, logged)
        await self._announce_submitted(org, assignment_id, submission)
        return submission

    def _replays(self, item: Mapping[str, Any], prior: Submission) -> bool:
        """Whether a keyed submit answers ``prior`` (the submission of its key's id)
        again: the assignment's latest, made less than :data:`REPLAY_SECONDS` ago."""
        made = datetime.fromisoformat(prior.submitted_at).timestamp()
        return item.get("latest_submission_id") == prior.id and self.clock() - made < (
            REPLAY_SECONDS
        )

    async def _submitted_as(
        self, org_id: str, item: Mapping[str, Any], keyed: str | None
    ) -> Submission | None:
        """The submission of id ``keyed`` if it is the assignment's latest (this
        very submit's, written by an earlier attempt); else None."""
        if keyed is None or item.get("latest_submission_id") != keyed:
            return None
        found = await self.store.get(repo.SUBMISSIONS, repo.submission_key(org_id, keyed))
        return repo.submission_of(found) if found is not None else None

    async def _announce_submitted(
        self, org_id: str, assignment_id: str, submission: Submission
    ) -> None:
        await self._announce(
            org_id,
            "assignment.submitted",
            assignment_id=assignment_id,
            submission_id=submission.id,
            number=submission.number,
            failed_critical=list(submission.failed_critical),
        )
