"""Members of an organization: list, read, change role, deactivate, reactivate.

Every method takes the acting principal and reads or writes only inside the
principal's organization: another organization's user is simply not found
(404). Each change is one transaction with its audit event.

"The last owner cannot be demoted or deactivated" holds under concurrency:
the organization item counts its active owners, and every change that removes
an active owner decrements the count under the condition that it is above 1,
in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from typing import Any, Protocol

from prework.authz.authorize import authorize, authorize_manage
from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.paging import Paged, clamp_limit
from prework.core.principal import Principal, RequestContext, Role
from prework.core.versioned import UNVERSIONED_ATTEMPTS, check_version, keeps_changing, stale
from prework.errors import Conflict, NotFound, TransactionCanceled, WriteConflict
from prework.identity import repository as repo
from prework.identity.models import User, UserStatus
from prework.identity.permissions import IdentityAction as Action
from prework.store.base import (
    MAX_BATCH_GET,
    Store,
    TransactOp,
)

__all__ = ["RosterListener", "UserService", "find_members"]

# the action and audit event of moving a member to each status
_STATUS_CHANGES = {
    UserStatus.DEACTIVATED: (Action.USER_DEACTIVATE, "user.deactivated", "already_deactivated"),
    UserStatus.ACTIVE: (Action.USER_REACTIVATE, "user.reactivated", "already_active"),
}


def _not_found() -> NotFound:
    return NotFound("No such user.", code="not_found")


def _last_owner() -> Conflict:
    return Conflict("The organization must keep at least one active owner.", code="last_owner")


class RosterListener(Protocol):
    """Told once a member's deactivation has committed (the teams area takes them
    off their teams' active rosters)."""

    async def user_deactivated(
        self, *, principal: Principal, ctx: RequestContext, user_id: str
    ) -> None: ...


async def find_members(store: Store, org_id: str, user_ids: Sequence[str]) -> dict[str, User]:
    """The members of ``org_id`` among ``user_ids`` (any number), by id; an id of
    nobody, or of another organization's user, is simply absent."""
    chunks = [user_ids[i : i + MAX_BATCH_GET] for i in range(0, len(user_ids), MAX_BATCH_GET)]
    pages = await asyncio.gather(
        *(store.batch_get(repo.USERS, [repo.user_key(org_id, u) for u in c]) for c in chunks)
    )
    return {
        item["id"]: repo.user_of(item)
        for page in pages
        for item in page
        if item.get("type") == "user" and item.get("org_id") == org_id
    }


class _Raced(Exception):
    """Another change to the user landed between our read and our write."""


class UserService:
    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        rosters: RosterListener | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.rosters = rosters

    async def _load(self, org_id: str, user_id: str) -> dict[str, Any]:
        item = await self.store.get(repo.USERS, repo.user_key(org_id, user_id))
        if item is None:
            raise _not_found()
        return item

    # ------------------------------------------------------------------ reads
    async def get(self, *, principal: Principal, ctx: RequestContext, user_id: str) -> User:
        if user_id != principal.user_id:
            await authorize(
                self.store, principal, ctx, Action.USER_READ, target_type="user", target_id=user_id
            )
        return repo.user_of(await self._load(principal.org_id, user_id))

    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        role: Role | None = None,
        status: UserStatus | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[User]:
        """Members of the principal's organization, by id; filter by role and/or status."""
        await authorize(self.store, principal, ctx, Action.USER_LIST)
        org = principal.org_id
        listing = repo.users_listing(org, role=role, status=status)
        page = await self.store.query(
            listing.table, **listing.query, limit=clamp_limit(limit), cursor=cursor
        )
        users = [repo.user_of(item) for item in page.items if item.get("org_id") == org]
        return Paged(users, page.cursor)

    # ------------------------------------------------------------------ changes
    async def _apply(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        item: dict[str, Any],
        role: Role,
        status: UserStatus,
        action: str,
        expected_version: int | None,
    ) -> User:
        """Move ``item`` to ``role``/``status`` with its audit event and owner count.

        Raises :class:`_Raced` if the user changed since ``item`` was read and
        the caller named no version (it reads again and retries).
        """
        old_role, old_status = Role(item["role"]), UserStatus(item["status"])
        was_owner = old_role is Role.OWNER and old_status is UserStatus.ACTIVE
        is_owner = role is Role.OWNER and status is UserStatus.ACTIVE
        now = iso(self.clock())
        deactivating = status is UserStatus.DEACTIVATED and old_status is UserStatus.ACTIVE
        ops: builtins.list[TransactOp] = [
            repo.user_role_status_op(
                item, role=role, status=status, now=now, bump_epoch=deactivating
            ),
            audit.event_op(
                org_id=principal.org_id,
                action=action,
                actor=Actor.of(principal),
                ctx=ctx,
                target_type="user",
                target_id=item["id"],
                changes=audit.diff(
                    {"role": old_role.value, "status": old_status.value},
                    {"role": role.value, "status": status.value},
                ),
                clock=self.clock,
            ),
        ]
        owner_index: int | None = None
        if was_owner != is_owner:
            owner_index = len(ops)
            ops.append(repo.owner_count_op(principal.org_id, -1 if was_owner else 1))
        try:
            await self.store.transact_write(ops)
        except WriteConflict as exc:
            raise _Raced from exc  # nothing written: read and judge again
        except TransactionCanceled as exc:
            # the user changed first: the owner count was judged on a stale read
            if 0 in exc.failed_indexes:
                if expected_version is None:
                    raise _Raced from exc
                fresh = await self._load(principal.org_id, item["id"])
                raise stale(int(fresh["version"]), expected_version) from exc
            if owner_index is not None and owner_index in exc.failed_indexes:
                raise _last_owner() from exc
            raise
        updated = dict(item)
        updated.update(
            role=role.value, status=status.value, updated_at=now, version=int(item["version"]) + 1
        )
        return repo.user_of(updated)

    async def _change(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        user_id: str,
        action: Action,
        expected_version: int | None,
        role: Role | None = None,
        status: UserStatus | None = None,
    ) -> User:
        """Move a member to ``role`` and/or ``status``, judged on a fresh read.

        Without an expected version the change applies to whatever version is
        current: a change landing between our read and our write is read (and
        judged: the hierarchy, the last owner) again.
        """
        target = {"target_type": "user", "target_id": user_id}
        await authorize(self.store, principal, ctx, action, **target)
        for _ in range(UNVERSIONED_ATTEMPTS):
            item = await self._load(principal.org_id, user_id)
            old_role, old_status = Role(item["role"]), UserStatus(item["status"])
            await authorize_manage(
                self.store, principal, ctx, action, target_role=old_role, new_role=role, **target
            )
            check_version(item, expected_version)
            if status is not None and status is old_status:
                if status is UserStatus.DEACTIVATED and self.rosters is not None:
                    # finish what a deactivation interrupted after its commit did not
                    await self.rosters.user_deactivated(
                        principal=principal, ctx=ctx, user_id=user_id
                    )
                code = _STATUS_CHANGES[status][2]
                raise Conflict(f"The user is already {status.value}.", code=code)
            if role is not None and role is old_role:
                return repo.user_of(item)  # nothing changes, nothing to audit
            try:
                user = await self._apply(
                    principal=principal,
                    ctx=ctx,
                    item=item,
                    role=role or old_role,
                    status=status or old_status,
                    action="user.role_changed" if status is None else _STATUS_CHANGES[status][1],
                    expected_version=expected_version,
                )
            except _Raced:
                continue
            if status is UserStatus.DEACTIVATED and self.rosters is not None:
                await self.rosters.user_deactivated(principal=principal, ctx=ctx, user_id=user_id)
            return user
        raise keeps_changing("user")

    async def change_role(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        user_id: str,
        role: Role,
        expected_version: int | None = None,
    ) -> User:
        return await self._change(
            principal=principal,
            ctx=ctx,
            user_id=user_id,
            action=Action.USER_CHANGE_ROLE,
            expected_version=expected_version,
            role=role,
        )

    async def set_status(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        user_id: str,
        status: UserStatus,
        expected_version: int | None = None,
    ) -> User:
        """Deactivate or reactivate a member.

        Deactivation stops their sessions and access tokens at once (the session
        epoch moves on, and every request checks the user's status); sessions
        from before a deactivation stay dead after a reactivation. Once it has
        committed, ``rosters`` (the teams area) takes the user off their teams'
        active rosters; deactivating an already deactivated user (409
        ``already_deactivated``) does that again, finishing an interrupted one.
        """
        return await self._change(
            principal=principal,
            ctx=ctx,
            user_id=user_id,
            action=_STATUS_CHANGES[status][0],
            expected_version=expected_version,
            status=status,
        )
