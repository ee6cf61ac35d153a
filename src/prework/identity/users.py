"""Members of an organization: list, read, change role, deactivate, reactivate, invite.

Every function takes the acting principal and reads or writes only inside the
principal's organization: another organization's user is simply not found
(404). Each change is one transaction with its audit event.

"The last owner cannot be demoted or deactivated" holds under concurrency:
the organization item counts its active owners, and every change that removes
an active owner decrements the count under the condition that it is above 1,
in the same transaction as the change.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from prework.domain.identity import (
    Invitation,
    InvitationStatus,
    Principal,
    RequestContext,
    Role,
    User,
    UserStatus,
    normalize_email,
)
from prework.domain.permissions import Action
from prework.errors import Conflict, NotFound, StaleVersion, TransactionCanceled
from prework.services import audit, keys
from prework.services.audit import Actor
from prework.services.common import (
    UNVERSIONED_ATTEMPTS,
    Clock,
    Paged,
    clamp_limit,
    iso,
    new_id,
    system_clock,
)
from prework.services.items import invitation_of, user_of
from prework.services.tokens import hash_secret, invitation_token, new_secret
from prework.store.base import (
    All,
    AttrEquals,
    AttrGreaterThan,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
    version_equals,
)

__all__ = [
    "INVITATION_TTL_DEFAULT",
    "INVITATION_TTL_MAX",
    "IssuedInvitation",
    "change_role",
    "deactivate",
    "get",
    "invite",
    "list",
    "list_invitations",
    "reactivate",
    "revoke_invitation",
]

INVITATION_TTL_DEFAULT = 7 * 24 * 3600
INVITATION_TTL_MAX = 30 * 24 * 3600


def _not_found() -> NotFound:
    return NotFound("No such user.", code="not_found")


async def _load(store: Store, org_id: str, user_id: str) -> dict[str, Any]:
    item = await store.get(keys.USERS, keys.user_key(org_id, user_id))
    if item is None:
        raise _not_found()
    return item


def _check_version(item: dict[str, Any], expected: int | None) -> int:
    current = int(item["version"])
    if expected is not None and expected != current:
        raise StaleVersion(details={"current_version": current, "expected_version": expected})
    return current


def _owner_count_op(org_id: str, delta: int) -> Update:
    if delta < 0:
        return Update(
            keys.ORGS,
            keys.org_key(org_id),
            UpdateSpec(add={"active_owners": delta}),
            condition=AttrGreaterThan("active_owners", 1),
        )
    return Update(
        keys.ORGS,
        keys.org_key(org_id),
        UpdateSpec(add={"active_owners": delta}),
        condition=ItemExists(),
    )


class _Raced(Exception):
    """Another change to the user landed between our read and our write."""


def _still_changing() -> StaleVersion:
    return StaleVersion("The user keeps changing; try again.")


def _last_owner() -> Conflict:
    return Conflict("The organization must keep at least one active owner.", code="last_owner")


# --------------------------------------------------------------------------- reads
async def get(store: Store, *, principal: Principal, ctx: RequestContext, user_id: str) -> User:
    if user_id != principal.user_id:
        await audit.require(
            store, principal, ctx, Action.USER_READ, target_type="user", target_id=user_id
        )
    return user_of(await _load(store, principal.org_id, user_id))


async def list(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    role: Role | None = None,
    status: UserStatus | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Paged[User]:
    """Members of the principal's organization, by id; filter by role and/or status."""
    await audit.require(store, principal, ctx, Action.USER_LIST)
    size = clamp_limit(limit)
    org = principal.org_id
    if role is not None:
        page = await store.query(
            keys.USERS,
            index="gsi2",
            pk=keys.user_role_index(org, role.value)["gsi2pk"],
            sk_prefix=f"STATUS#{status.value}#" if status is not None else None,
            limit=size,
            cursor=cursor,
        )
    elif status is not None:
        page = await store.query(
            keys.USERS,
            index="gsi1",
            pk=keys.user_status_index(org, status.value)["gsi1pk"],
            limit=size,
            cursor=cursor,
        )
    else:
        page = await store.query(
            keys.USERS, pk=keys.org_pk(org), sk_prefix="USER#", limit=size, cursor=cursor
        )
    users = [user_of(item) for item in page.items if item.get("org_id") == org]
    return Paged(users, page.cursor)


# --------------------------------------------------------------------------- changes
def _user_update(
    item: dict[str, Any], *, role: Role, status: UserStatus, now: str, bump_epoch: bool
) -> Update:
    org_id, user_id = item["org_id"], item["id"]
    version = int(item["version"])
    return Update(
        keys.USERS,
        keys.user_key(org_id, user_id),
        UpdateSpec(
            set={
                "role": role.value,
                "status": status.value,
                "updated_at": now,
                "version": version + 1,
                **keys.user_index_attrs(org_id, user_id, role=role.value, status=status.value),
            },
            add={"session_epoch": 1} if bump_epoch else {},
        ),
        condition=All(ItemExists(), version_equals(version)),
    )


async def _apply(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    item: dict[str, Any],
    role: Role,
    status: UserStatus,
    action: str,
    expected_version: int | None,
    clock: Clock,
) -> User:
    """Move ``item`` to ``role``/``status`` with its audit event and owner count.

    Raises :class:`_Raced` if the user changed since ``item`` was read and the
    caller named no version (it reads again and retries).
    """
    old_role, old_status = Role(item["role"]), UserStatus(item["status"])
    was_owner = old_role is Role.OWNER and old_status is UserStatus.ACTIVE
    is_owner = role is Role.OWNER and status is UserStatus.ACTIVE
    now = iso(clock())
    deactivating = status is UserStatus.DEACTIVATED and old_status is UserStatus.ACTIVE
    ops: builtins.list[TransactOp] = [
        _user_update(item, role=role, status=status, now=now, bump_epoch=deactivating),
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
            clock=clock,
        ),
    ]
    owner_index: int | None = None
    if was_owner != is_owner:
        owner_index = len(ops)
        ops.append(_owner_count_op(principal.org_id, -1 if was_owner else 1))
    try:
        await store.transact_write(ops)
    except TransactionCanceled as exc:
        # the user changed first: the owner count was judged on a stale read
        if 0 in exc.failed_indexes:
            if expected_version is None:
                raise _Raced from exc
            fresh = await store.get(keys.USERS, keys.user_key(principal.org_id, item["id"]))
            if fresh is None:
                raise _not_found() from exc
            raise StaleVersion(
                details={
                    "current_version": int(fresh["version"]),
                    "expected_version": expected_version,
                }
            ) from exc
        if owner_index is not None and owner_index in exc.failed_indexes:
            raise _last_owner() from exc
        raise
    updated = dict(item)
    updated.update(
        role=role.value, status=status.value, updated_at=now, version=int(item["version"]) + 1
    )
    return user_of(updated)


async def change_role(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    user_id: str,
    role: Role,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> User:
    await audit.require(
        store, principal, ctx, Action.USER_CHANGE_ROLE, target_type="user", target_id=user_id
    )
    # without an expected version the change applies to whatever version is
    # current: a change landing between our read and our write is read (and
    # judged: the hierarchy, the last owner) again
    for _ in range(UNVERSIONED_ATTEMPTS):
        item = await _load(store, principal.org_id, user_id)
        await audit.require_manage(
            store,
            principal,
            ctx,
            Action.USER_CHANGE_ROLE,
            target_role=Role(item["role"]),
            new_role=role,
            target_type="user",
            target_id=user_id,
        )
        _check_version(item, expected_version)
        if Role(item["role"]) is role:
            return user_of(item)  # nothing changes, nothing to audit
        try:
            return await _apply(
                store,
                principal=principal,
                ctx=ctx,
                item=item,
                role=role,
                status=UserStatus(item["status"]),
                action="user.role_changed",
                expected_version=expected_version,
                clock=clock,
            )
        except _Raced:
            continue
    raise _still_changing()


async def _set_status(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    user_id: str,
    status: UserStatus,
    action: Action,
    expected_version: int | None,
    clock: Clock,
) -> User:
    await audit.require(store, principal, ctx, action, target_type="user", target_id=user_id)
    for _ in range(UNVERSIONED_ATTEMPTS):  # see change_role
        item = await _load(store, principal.org_id, user_id)
        await audit.require_manage(
            store,
            principal,
            ctx,
            action,
            target_role=Role(item["role"]),
            target_type="user",
            target_id=user_id,
        )
        _check_version(item, expected_version)
        if UserStatus(item["status"]) is status:
            code = "already_deactivated" if status is UserStatus.DEACTIVATED else "already_active"
            raise Conflict(f"The user is already {status.value}.", code=code)
        try:
            return await _apply(
                store,
                principal=principal,
                ctx=ctx,
                item=item,
                role=Role(item["role"]),
                status=status,
                action=(
                    "user.deactivated" if status is UserStatus.DEACTIVATED else "user.reactivated"
                ),
                expected_version=expected_version,
                clock=clock,
            )
        except _Raced:
            continue
    raise _still_changing()


async def deactivate(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    user_id: str,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> User:
    """Deactivate a member: their sessions and access tokens stop working at once
    (the session epoch moves on, and every request checks the user's status)."""
    return await _set_status(
        store,
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        status=UserStatus.DEACTIVATED,
        action=Action.USER_DEACTIVATE,
        expected_version=expected_version,
        clock=clock,
    )


async def reactivate(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    user_id: str,
    expected_version: int | None = None,
    clock: Clock = system_clock,
) -> User:
    """Reactivate a member. Sessions from before the deactivation stay dead."""
    return await _set_status(
        store,
        principal=principal,
        ctx=ctx,
        user_id=user_id,
        status=UserStatus.ACTIVE,
        action=Action.USER_REACTIVATE,
        expected_version=expected_version,
        clock=clock,
    )


# --------------------------------------------------------------------------- invitations
@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once; only its hash is stored


async def invite(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    email: str,
    role: Role,
    ttl_seconds: int = INVITATION_TTL_DEFAULT,
    clock: Clock = system_clock,
) -> IssuedInvitation:
    """Invite ``email`` to the principal's organization with ``role``.

    The invitation is single use and expires (the item has a TTL). The token
    is ``<org id>.<invitation id>.<secret>`` (the item's key, so acceptance
    reads it consistently, and a secret of which only the hash is stored);
    accepting it is
    :func:`prework.services.auth.AuthService.accept_invitation`.
    """
    await audit.require(store, principal, ctx, Action.USER_INVITE)
    await audit.require_manage(store, principal, ctx, Action.USER_INVITE, new_role=role)
    address = normalize_email(email)
    invitation_id, secret = new_id(), new_secret()
    now = clock()
    expires = int(now) + ttl_seconds
    item: dict[str, Any] = {
        **keys.invitation_key(principal.org_id, invitation_id),
        "type": "invitation",
        "id": invitation_id,
        "org_id": principal.org_id,
        "email": address,
        "role": role.value,
        "status": InvitationStatus.PENDING.value,
        "token_hash": hash_secret(secret),
        "invited_by": principal.user_id,
        "created_at": iso(now),
        "expires_at": expires,
        "expires_at_iso": iso(expires),
    }
    await store.transact_write(
        [
            Put(keys.ORGS, item, condition=ItemNotExists()),
            audit.event_op(
                org_id=principal.org_id,
                action="invitation.created",
                actor=Actor.of(principal),
                ctx=ctx,
                target_type="invitation",
                target_id=invitation_id,
                changes={
                    "email": {"old": None, "new": address},
                    "role": {"old": None, "new": role.value},
                },
                clock=clock,
            ),
        ]
    )
    return IssuedInvitation(
        invitation_of(item), invitation_token(principal.org_id, invitation_id, secret)
    )


async def list_invitations(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    limit: int | None = None,
    cursor: str | None = None,
) -> Paged[Invitation]:
    """Unexpired invitations of the principal's organization (any status)."""
    await audit.require(store, principal, ctx, Action.INVITATION_LIST)
    page = await store.query(
        keys.ORGS,
        pk=keys.org_pk(principal.org_id),
        sk_prefix="INVITE#",
        limit=clamp_limit(limit),
        cursor=cursor,
    )
    return Paged([invitation_of(item) for item in page.items], page.cursor)


async def revoke_invitation(
    store: Store,
    *,
    principal: Principal,
    ctx: RequestContext,
    invitation_id: str,
    clock: Clock = system_clock,
) -> Invitation:
    await audit.require(
        store,
        principal,
        ctx,
        Action.INVITATION_REVOKE,
        target_type="invitation",
        target_id=invitation_id,
    )
    key = keys.invitation_key(principal.org_id, invitation_id)
    item = await store.get(keys.ORGS, key)
    if item is None:
        raise NotFound("No such invitation.", code="not_found")
    await audit.require_manage(
        store,
        principal,
        ctx,
        Action.INVITATION_REVOKE,
        new_role=Role(item["role"]),
        target_type="invitation",
        target_id=invitation_id,
    )
    if item["status"] != InvitationStatus.PENDING.value:
        raise Conflict("Only a pending invitation can be revoked.", code="invitation_not_pending")
    try:
        await store.transact_write(
            [
                Update(
                    keys.ORGS,
                    key,
                    UpdateSpec(set={"status": InvitationStatus.REVOKED.value}),
                    condition=AttrEquals("status", InvitationStatus.PENDING.value),
                ),
                audit.event_op(
                    org_id=principal.org_id,
                    action="invitation.revoked",
                    actor=Actor.of(principal),
                    ctx=ctx,
                    target_type="invitation",
                    target_id=invitation_id,
                    changes={"status": {"old": "pending", "new": "revoked"}},
                    clock=clock,
                ),
            ]
        )
    except TransactionCanceled as exc:
        raise Conflict(
            "Only a pending invitation can be revoked.", code="invitation_not_pending"
        ) from exc
    return invitation_of({**item, "status": InvitationStatus.REVOKED.value})
