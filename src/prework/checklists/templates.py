"""Checklist templates: drafts edited under optimistic locking, published into
immutable numbered versions, retired, exported and imported.

Every change is one transaction with its audit event. A definition is checked
(:func:`prework.checklists.models.definition_problems`, with the size of the
item that would store it) in a worker thread, so a large body never holds the
event loop; every problem is reported at once as 422 ``invalid_template``
with ``details.errors`` = ``[{path, code, message}]``.

Publishing is atomic: the new version item is written with ``ItemNotExists``
and the head moves to it under the head's ``version`` and
``latest_version = n - 1``, in one transaction. Two publishes of one draft:
exactly one gets version ``n``; the other is 409 (``stale_version`` if it
named the version it expected, else ``already_published``: the draft it
would publish is that version).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import orjson
import structlog

from prework.authz.authorize import authorize
from prework.authz.matrix import is_allowed
from prework.checklists import repository as repo
from prework.checklists.models import (
    LIMITS,
    Template,
    TemplateStatus,
    TemplateVersion,
    definition_problems,
)
from prework.checklists.permissions import ChecklistAction as Action
from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.paging import Paged, clamp_limit
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing, stale
from prework.errors import (
    Conflict,
    NotFound,
    PreworkError,
    TransactionCanceled,
    ValidationFailed,
    WriteConflict,
)
from prework.pubsub.base import PubSub, org_topic
from prework.store.base import Store, TransactOp
from prework.store.codec import item_size

__all__ = ["TemplateService"]

log = structlog.get_logger("prework.checklists")

_TARGET = "template"
# published versions kept in memory (they never change): at most this many
_VERSION_CACHE = 256


def _not_found() -> NotFound:
    return NotFound("No such template.", code="not_found")


def _retired() -> Conflict:
    return Conflict("The template is retired.", code="template_retired")


def digest(definition: Mapping[str, Any]) -> str:
    """A short fingerprint of a definition (what the audit log records of it)."""
    raw = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(raw).hexdigest()[:16]


def _item_count(definition: Mapping[str, Any]) -> int:
    return sum(len(s.get("items") or ()) for s in definition.get("sections") or ())


def _check_definition(definition: Mapping[str, Any], name: str, description: str | None) -> None:
    """Raise ``invalid_template`` listing every problem (runs in a worker thread)."""
    probe = {
        **repo.version_key("0" * 32, "0" * 32, repo.MAX_VERSION),
        "type": "template_version",
        "template_id": "0" * 32,
        "org_id": "0" * 32,
        "number": repo.MAX_VERSION,
        "name": name,
        "description": description,
        "definition": dict(definition),
        "published_by": "0" * 32,
        "published_at": iso(0),
    }
    problems = definition_problems(definition, stored_size=item_size(probe))
    if problems:
        raise ValidationFailed(
            f"The template breaks {len(problems)} rule(s).",
            code="invalid_template",
            details={
                "errors": [p.as_dict() for p in problems],
                "max_stored_bytes": LIMITS.stored_bytes,
            },
        )


class TemplateService:
    def __init__(
        self, store: Store, *, pubsub: PubSub | None = None, clock: Clock = system_clock
    ) -> None:
        self.store = store
        self.pubsub = pubsub
        self.clock = clock
        self._versions: OrderedDict[tuple[str, str, int], TemplateVersion] = OrderedDict()

    # ------------------------------------------------------------------ helpers
    async def _head(self, org_id: str, template_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.TEMPLATES, repo.head_key(org_id, template_id))
        if not repo.is_head(item, org_id):
            raise _not_found()
        assert item is not None
        return item

    async def _draft(self, head: Mapping[str, Any]) -> dict[str, Any]:
        item = await self.store.get(repo.TEMPLATES, repo.draft_key(head["org_id"], head["id"]))
        if item is None:  # written with the head: never missing
            raise _not_found()
        return item

    async def _validate(
        self, definition: Mapping[str, Any], name: str, description: str | None
    ) -> None:
        await anyio.to_thread.run_sync(_check_definition, definition, name, description)

    def _event(
        self,
        principal: Principal,
        ctx: RequestContext,
        action: str,
        template_id: str,
        *,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> TransactOp:
        return audit.event_op(
            org_id=principal.org_id,
            action=action,
            actor=Actor.of(principal),
            ctx=ctx,
            target_type=_TARGET,
            target_id=template_id,
            changes=changes,
            details=details,
            clock=self.clock,
        )

    async def _announce(self, principal: Principal, kind: str, **fields: Any) -> None:
        """Publish a past-tense event on the organization's topic (after the commit)."""
        if self.pubsub is None:
            return
        event = {"type": kind, "org_id": principal.org_id, "actor_id": principal.user_id, **fields}
        try:
            await self.pubsub.publish(org_topic(principal.org_id), event)
        except PreworkError:  # the change is committed; a lost notification is only logged
            log.warning("event_not_published", event_type=kind)

    # ------------------------------------------------------------------ reads
    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Template]:
        """Heads of the organization's templates, by id; those who may not read
        drafts see only published templates."""
        await authorize(self.store, principal, ctx, Action.TEMPLATE_LIST)
        drafts = is_allowed(principal.role, Action.TEMPLATE_READ_DRAFT)
        pk, prefix = repo.heads_prefix(principal.org_id)
        page = await self.store.query(
            repo.TEMPLATES, pk=pk, sk_prefix=prefix, limit=clamp_limit(limit), cursor=cursor
        )
        heads = [h for h in page.items if repo.is_head(h, principal.org_id)]
        if not drafts:
            heads = [h for h in heads if h["status"] == TemplateStatus.PUBLISHED.value]
        return Paged([repo.template_of(h, None) for h in heads], page.cursor)

    async def get(self, *, principal: Principal, ctx: RequestContext, template_id: str) -> Template:
        """A template with its draft."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_READ_DRAFT,
            target_type=_TARGET,
            target_id=template_id,
        )
        head = await self._head(principal.org_id, template_id)
        return repo.template_of(head, await self._draft(head))

    async def get_version(
        self, *, principal: Principal, ctx: RequestContext, template_id: str, number: int
    ) -> TemplateVersion:
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_READ_PUBLISHED,
            target_type=_TARGET,
            target_id=template_id,
        )
        if not 1 <= number <= repo.MAX_VERSION:
            raise NotFound("No such version.", code="not_found")
        item = await self.store.get(
            repo.TEMPLATES, repo.version_key(principal.org_id, template_id, number)
        )
        if item is None or item.get("org_id") != principal.org_id:
            raise NotFound("No such version.", code="not_found")
        return repo.version_of(item)

    # ------------------------------------------------------------------ for other areas
    async def version_of(self, org_id: str, template_id: str, number: int) -> TemplateVersion:
        """A published version (immutable, so kept in memory once read); no permission
        check: for the areas that fill in what was assigned."""
        cache_key = (org_id, template_id, number)
        cached = self._versions.get(cache_key)
        if cached is not None:
            self._versions.move_to_end(cache_key)
            return cached
        item = await self.store.get(repo.TEMPLATES, repo.version_key(org_id, template_id, number))
        if item is None or item.get("org_id") != org_id:
            raise NotFound("No such template version.", code="not_found")
        version = repo.version_of(item)
        self._versions[cache_key] = version
        if len(self._versions) > _VERSION_CACHE:
            self._versions.popitem(last=False)
        return version

    async def assignable_version(
        self, org_id: str, template_id: str, number: int | None
    ) -> TemplateVersion:
        """The version a new assignment may use: of a published template (not a draft,
        not retired), ``number`` or else the latest."""
        head = await self._head(org_id, template_id)
        status = TemplateStatus(head["status"])
        if status is TemplateStatus.RETIRED:
            raise _retired()
        latest = int(head["latest_version"])
        if status is not TemplateStatus.PUBLISHED or latest < 1:
            raise Conflict("The template has no published version.", code="template_not_published")
        if number is None:
            number = latest
        if not 1 <= number <= latest:
            raise NotFound("No such template version.", code="not_found")
        return await self.version_of(org_id, template_id, number)

    # ------------------------------------------------------------------ changes
    async def create(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        name: str,
        description: str | None,
        definition: Mapping[str, Any],
        action: Action = Action.TEMPLATE_CREATE,
        source: Mapping[str, Any] | None = None,
    ) -> Template:
        """A new draft template (``action``: create, or import with its ``source``)."""
        await authorize(self.store, principal, ctx, action)
        await self._validate(definition, name, description)
        template_id = new_id()
        now = iso(self.clock())
        head = repo.head_item(
            org_id=principal.org_id,
            template_id=template_id,
            name=name,
            description=description,
            created_by=principal.user_id,
            now=now,
        )
        draft = repo.draft_item(
            org_id=principal.org_id, template_id=template_id, definition=definition
        )
        kind = "template.imported" if action is Action.TEMPLATE_IMPORT else "template.created"
        details: dict[str, Any] = {
            "items": _item_count(definition),
            "definition_digest": digest(definition),
        }
        if source:
            details["source"] = {k: source[k] for k in ("template_id", "version") if k in source}
        await self.store.transact_write(
            [
                *repo.create_ops(head, draft),
                self._event(
                    principal,
                    ctx,
                    kind,
                    template_id,
                    changes={"name": {"old": None, "new": name}},
                    details=details,
                ),
            ]
        )
        await self._announce(principal, kind, template_id=template_id)
        return repo.template_of(head, draft)

    async def update(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        changes: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> Template:
        """Change the draft: ``changes`` holds ``name``, ``description`` and/or
        ``definition`` (which replaces the whole draft)."""
        unknown = set(changes) - {"name", "description", "definition"}
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_UPDATE,
            target_type=_TARGET,
            target_id=template_id,
        )
        validated = False
        for _ in range(UNVERSIONED_ATTEMPTS):
            head = await self._head(principal.org_id, template_id)
            version = check_version(head, expected_version)
            if head["status"] == TemplateStatus.RETIRED.value:
                raise _retired()
            draft = await self._draft(head)
            definition = changes.get("definition")
            name = changes.get("name", head["name"])
            description = changes.get("description", head.get("description"))
            if not validated:
                await self._validate(
                    definition if definition is not None else draft["definition"], name, description
                )
                validated = True
            head_changes = {
                k: v for k, v in (("name", name), ("description", description)) if head.get(k) != v
            }
            delta: dict[str, dict[str, Any]] = audit.diff(head, head_changes)
            new_definition = None
            if definition is not None and definition != draft["definition"]:
                new_definition = definition
                delta["definition"] = {
                    "old": digest(draft["definition"]),
                    "new": digest(definition),
                }
            if not delta:
                return repo.template_of(head, draft)
            now = iso(self.clock())
            try:
                await self.store.transact_write(
                    [
                        *repo.edit_ops(
                            head, head_changes=head_changes, definition=new_definition, now=now
                        ),
                        self._event(principal, ctx, "template.updated", template_id, changes=delta),
                    ]
                )
            except WriteConflict:
                continue
            except TransactionCanceled as exc:
                if expected_version is not None:
                    fresh = await self._head(principal.org_id, template_id)
                    if fresh["status"] == TemplateStatus.RETIRED.value:
                        raise _retired() from exc
                    raise stale(int(fresh["version"]), expected_version) from exc
                continue
            new_head = {
                **head,
                **head_changes,
                "dirty": True,
                "updated_at": now,
                "version": version + 1,
            }
            new_draft = {**draft, "definition": new_definition or draft["definition"]}
            await self._announce(principal, "template.updated", template_id=template_id)
            return repo.template_of(new_head, new_draft)
        raise keeps_changing("template")

    async def publish(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        expected_version: int | None = None,
    ) -> tuple[Template, TemplateVersion]:
        """Freeze the draft as version ``latest_version + 1``."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_PUBLISH,
            target_type=_TARGET,
            target_id=template_id,
        )
        for _ in range(UNVERSIONED_ATTEMPTS):
            head = await self._head(principal.org_id, template_id)
            version = check_version(head, expected_version)
            if head["status"] == TemplateStatus.RETIRED.value:
                raise _retired()
            latest = int(head["latest_version"])
            if latest and not head.get("dirty"):
                raise Conflict(
                    "The draft is unchanged since its last version.",
                    code="already_published",
                    details={"latest_version": latest},
                )
            if latest >= repo.MAX_VERSION:
                raise Conflict("The template has too many versions.", code="too_many_versions")
            draft = await self._draft(head)
            number = latest + 1
            now = iso(self.clock())
            item = repo.version_item(
                head,
                number=number,
                definition=draft["definition"],
                published_by=principal.user_id,
                now=now,
            )
            try:
                await self.store.transact_write(
                    [
                        *repo.publish_ops(head, item, now=now),
                        self._event(
                            principal,
                            ctx,
                            "template.published",
                            template_id,
                            changes={"latest_version": {"old": latest, "new": number}},
                            details={"definition_digest": digest(draft["definition"])},
                        ),
                    ]
                )
            except WriteConflict:
                await asyncio.sleep(0)
                continue
            except TransactionCanceled as exc:
                if expected_version is not None:
                    fresh = await self._head(principal.org_id, template_id)
                    raise stale(int(fresh["version"]), expected_version) from exc
                continue  # read again: already published, retired, or edited meanwhile
            new_head = {
                **head,
                "status": TemplateStatus.PUBLISHED.value,
                "latest_version": number,
                "dirty": False,
                "updated_at": now,
                "version": version + 1,
            }
            await self._announce(
                principal, "template.published", template_id=template_id, version=number
            )
            return repo.template_of(new_head, draft), repo.version_of(item)
        raise keeps_changing("template")

    async def retire(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        expected_version: int | None = None,
    ) -> Template:
        """No new assignments; existing ones keep their version."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_RETIRE,
            target_type=_TARGET,
            target_id=template_id,
        )
        for _ in range(UNVERSIONED_ATTEMPTS):
            head = await self._head(principal.org_id, template_id)
            version = check_version(head, expected_version)
            if head["status"] == TemplateStatus.RETIRED.value:
                raise Conflict("The template is already retired.", code="already_retired")
            now = iso(self.clock())
            try:
                await self.store.transact_write(
                    [
                        repo.retire_op(head, now=now),
                        self._event(
                            principal,
                            ctx,
                            "template.retired",
                            template_id,
                            changes={"status": {"old": head["status"], "new": "retired"}},
                        ),
                    ]
                )
            except WriteConflict:
                continue
            except TransactionCanceled as exc:
                if expected_version is not None:
                    fresh = await self._head(principal.org_id, template_id)
                    raise stale(int(fresh["version"]), expected_version) from exc
                continue
            await self._announce(principal, "template.retired", template_id=template_id)
            new_head = {
                **head,
                "status": TemplateStatus.RETIRED.value,
                "updated_at": now,
                "version": version + 1,
            }
            return repo.template_of(new_head, None)
        raise keeps_changing("template")

    async def export(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        number: int | None = None,
    ) -> dict[str, Any]:
        """The export document of the draft, or of version ``number``."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.TEMPLATE_EXPORT,
            target_type=_TARGET,
            target_id=template_id,
        )
        if number is None:
            head = await self._head(principal.org_id, template_id)
            draft = await self._draft(head)
            name, description, definition = (
                head["name"],
                head.get("description"),
                draft["definition"],
            )
        else:
            version = await self.get_version(
                principal=principal, ctx=ctx, template_id=template_id, number=number
            )
            name, description = version.name, version.description
            definition = dict(version.definition)
        return {
            "name": name,
            "description": description,
            "definition": definition,
            "source": {"template_id": template_id, "version": number},
        }
