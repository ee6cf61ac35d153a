"""Profiles: everyone reads and updates their own; managers read their members'.

A profile lives next to its user in the same organization partition; asking
for a user of another organization finds nothing (404).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

import structlog

from prework.authz.authorize import authorize
from prework.core.clock import Clock, iso, system_clock
from prework.core.principal import Principal, RequestContext
from prework.core.versioned import update_versioned
from prework.errors import Forbidden, NotFound, ValidationFailed
from prework.identity import repository as repo
from prework.identity.models import Certification, Profile, certification_key
from prework.identity.permissions import IdentityAction as Action
from prework.media import lookup as media_lookup
from prework.store.base import (
    MAX_BATCH_GET,
    All,
    Check,
    ItemExists,
    Store,
    version_equals,
)

__all__ = ["UPDATABLE", "CertificationListener", "ProfileService"]

log = structlog.get_logger("prework.identity")

UPDATABLE = frozenset(
    {
        "display_name",
        "phone",
        "job_title",
        "certifications",
        "avatar_media_id",
        "locale",
        "time_zone",
    }
)


def _keep_verifications(
    old: tuple[Certification, ...], new: list[Certification]
) -> list[Certification]:
    """``new`` with the verification of every certification that is exactly as it was
    verified; any edit (or a new one) is unverified. Names are unique case-folded."""
    problems = []
    seen: set[str] = set()
    for n, cert in enumerate(new):
        key = certification_key(cert.name)
        if key in seen:
            problems.append(
                {"loc": ["body", "certifications", n, "name"], "message": "names repeat"}
            )
        seen.add(key)
    if problems:
        raise ValidationFailed(
            "Certification names must be unique (case-folded).",
            code="duplicate_certification",
            details={"fields": problems},
        )
    verified = {certification_key(c.name): c for c in old if c.verified_by}
    out = []
    for cert in new:
        was = verified.get(certification_key(cert.name))
        keep = was is not None and was.same_claim(cert)
        out.append(
            replace(
                cert,
                verified_by=was.verified_by if keep and was else None,
                verified_at=was.verified_at if keep and was else None,
            )
        )
    return out


def _stored(name: str, value: Any) -> Any:
    if name == "certifications":
        return [repo.certification_value(c) for c in value]
    return value


class CertificationListener(Protocol):
    """Told after a member's certifications changed (an edit, a verification), once
    the change is committed (the pre-work clearance depends on them)."""

    async def certifications_changed(self, org_id: str, user_id: str) -> None: ...


class ProfileService:
    def __init__(self, store: Store, *, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock
        self._certification_listeners: list[CertificationListener] = []

    def watch_certifications(self, listener: CertificationListener) -> None:
        """Tell ``listener`` of every committed change of a member's certifications."""
        self._certification_listeners.append(listener)

    async def _certifications_changed(self, org_id: str, user_id: str) -> None:
        for listener in self._certification_listeners:
            try:
                await listener.certifications_changed(org_id, user_id)
            except Exception:
                log.exception("certification_listener_failed")

    async def _load(self, org_id: str, user_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.PROFILES, repo.profile_key(org_id, user_id))
        if item is None:
            raise NotFound("No such profile.", code="not_found")
        return item

    async def certifications_of(
        self, org_id: str, user_ids: Sequence[str]
    ) -> dict[str, tuple[Certification, ...]]:
        """The certifications on the profiles of ``user_ids`` (members of ``org_id``;
        anyone else, or a member without a profile, holds none). For other areas'
        rules, such as the pre-work clearance; no permission check."""
        keys = [repo.profile_key(org_id, u) for u in user_ids]
        found: dict[str, tuple[Certification, ...]] = dict.fromkeys(user_ids, ())
        for start in range(0, len(keys), MAX_BATCH_GET):
            for item in await self.store.batch_get(
                repo.PROFILES, keys[start : start + MAX_BATCH_GET]
            ):
                if item.get("org_id") == org_id and item.get("user_id") in found:
                    found[item["user_id"]] = repo.profile_of(item).certifications
        return found

    async def avatar_of(self, org_id: str, user_id: str) -> tuple[str | None, Check | None]:
        """The media id of the member's avatar, and a check that fails once the
        profile changes (for the media collector; no permission check)."""
        key = repo.profile_key(org_id, user_id)
        item = await self.store.get(repo.PROFILES, key)
        if item is None:
            return None, None
        found = item.get("avatar_media_id")
        guard = Check(
            repo.PROFILES, key, All(ItemExists(), version_equals(int(item.get("version") or 1)))
        )
        return (found if isinstance(found, str) else None), guard

    async def get_own(self, *, principal: Principal, ctx: RequestContext) -> Profile:
        await authorize(self.store, principal, ctx, Action.PROFILE_READ_OWN)
        return repo.profile_of(await self._load(principal.org_id, principal.user_id))

    async def get(self, *, principal: Principal, ctx: RequestContext, user_id: str) -> Profile:
        if user_id == principal.user_id:
            return await self.get_own(principal=principal, ctx=ctx)
        await authorize(
            self.store,
            principal,
            ctx,
            Action.PROFILE_READ_ANY,
            target_type="user",
            target_id=user_id,
        )
        return repo.profile_of(await self._load(principal.org_id, user_id))

    async def update_own(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        changes: Mapping[str, Any],
        expected_version: int | None = None,
    ) -> Profile:
        """Apply ``changes`` (a subset of :data:`UPDATABLE`; ``certifications`` as a
        sequence of :class:`Certification`) to the principal's own profile."""
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        for cert in changes.get("certifications") or ():
            assert isinstance(cert, Certification)
        await authorize(self.store, principal, ctx, Action.PROFILE_UPDATE_OWN)
        org_id, user_id = principal.org_id, principal.user_id
        avatar = changes.get("avatar_media_id")
        if avatar is not None:  # a ready avatar of the user's own
            problem = await media_lookup.avatar_problem(self.store, org_id, user_id, avatar)
            if problem is not None and problem.code == "media_not_found":
                raise NotFound("No such file.", code="media_not_found")
            if problem is not None:
                raise ValidationFailed(
                    f"The avatar cannot be that file: {problem.message}.", code=problem.code
                )
        if "certifications" in changes:
            # keep the verifications of unchanged claims; a verification racing this
            # edit may be lost (never wrongly kept): a verification is only ever
            # written against the version it read
            current = repo.profile_of(await self._load(org_id, user_id))
            changes = {
                **changes,
                "certifications": _keep_verifications(
                    current.certifications, list(changes["certifications"] or ())
                ),
            }
        item = await update_versioned(
            self.store,
            table=repo.PROFILES,
            key=repo.profile_key(org_id, user_id),
            load=lambda: self._load(org_id, user_id),
            new_values={name: _stored(name, value) for name, value in changes.items()},
            expected_version=expected_version,
            principal=principal,
            ctx=ctx,
            action="profile.updated",
            target_type="profile",
            target_id=user_id,
            what="profile",
            clock=self.clock,
        )
        if "certifications" in changes:
            await self._certifications_changed(org_id, user_id)
        return repo.profile_of(item)

    async def verify_certification(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        user_id: str,
        name: str,
        expected_version: int | None = None,
    ) -> Profile:
        """Record that ``principal`` (owner/admin/supervisor, not the holder) checked
        the member's certification ``name`` (matched case-folded): who and when."""
        await authorize(
            self.store,
            principal,
            ctx,
            Action.CERTIFICATION_VERIFY,
            target_type="user",
            target_id=user_id,
        )
        if user_id == principal.user_id:
            raise Forbidden("Nobody verifies their own certification.", code="self_verification")
        org_id = principal.org_id
        profile = repo.profile_of(await self._load(org_id, user_id))
        key = certification_key(name)
        found = [c for c in profile.certifications if certification_key(c.name) == key]
        if not found:
            raise NotFound("The member has no such certification.", code="not_found")
        if found[0].verified_by is not None:
            return profile
        now = iso(self.clock())
        certs = [
            replace(c, verified_by=principal.user_id, verified_at=now) if c is found[0] else c
            for c in profile.certifications
        ]
        item = await update_versioned(
            self.store,
            table=repo.PROFILES,
            key=repo.profile_key(org_id, user_id),
            load=lambda: self._load(org_id, user_id),
            new_values={"certifications": [repo.certification_value(c) for c in certs]},
            expected_version=(
                expected_version if expected_version is not None else profile.version
            ),
            principal=principal,
            ctx=ctx,
            action="certification.verified",
            target_type="user",
            target_id=user_id,
            what="profile",
            clock=self.clock,
        )
        await self._certifications_changed(org_id, user_id)
        return repo.profile_of(item)
