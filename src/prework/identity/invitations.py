"""Invitations: invite someone by email with a role, list, revoke, accept.

An invitation is single use and expires (the item has a TTL). Its token is
``<org id>.<invitation id>.<secret>`` (the item's key, so acceptance reads it
with one consistent read, and a secret of which only the hash is stored).
Accepting creates the invited user in the inviting organization, signed in,
in one transaction with the invitation's use.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from prework.authz.authorize import authorize, authorize_manage
from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.paging import Paged, clamp_limit
from prework.core.principal import Principal, RequestContext, Role
from prework.errors import Conflict, NotFound, TransactionCanceled, Unauthenticated
from prework.identity import repository as repo
from prework.identity.models import (
    Invitation,
    InvitationStatus,
    check_password_policy,
    normalize_email,
)
from prework.identity.passwords import Passwords
from prework.identity.permissions import IdentityAction as Action
from prework.identity.registration import RegistrationService, user_exists
from prework.identity.sessions import AuthResult
from prework.identity.tokens import (
    hash_secret,
    invitation_token,
    new_secret,
    parse_invitation_token,
    secrets_match,
)
from prework.store.base import (
    ItemNotExists,
    Put,
    Store,
    TransactOp,
)

__all__ = [
    "INVITATION_DAYS_DEFAULT",
    "INVITATION_DAYS_MAX",
    "InvitationService",
    "IssuedInvitation",
]

INVITATION_DAYS_DEFAULT = 7
INVITATION_DAYS_MAX = 30
_DAY = 24 * 3600

_PENDING = InvitationStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    invitation: Invitation
    token: str  # shown once; only its hash is stored


def _invalid_invitation() -> NotFound:
    return NotFound(
        "The invitation is unknown, expired, revoked or already used.", code="invitation_invalid"
    )


def _not_pending() -> Conflict:
    return Conflict("Only a pending invitation can be revoked.", code="invitation_not_pending")


class InvitationService:
    def __init__(
        self,
        store: Store,
        *,
        passwords: Passwords,
        registration: RegistrationService,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.registration = registration
        self.clock = clock

    async def invite(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        email: str,
        role: Role,
        days: int = INVITATION_DAYS_DEFAULT,
    ) -> IssuedInvitation:
        """Invite ``email`` to the principal's organization with ``role``, for ``days``
        (1 .. :data:`INVITATION_DAYS_MAX`)."""
        if not 1 <= days <= INVITATION_DAYS_MAX:
            raise ValueError(f"an invitation lasts 1..{INVITATION_DAYS_MAX} days")
        await authorize(self.store, principal, ctx, Action.USER_INVITE)
        await authorize_manage(self.store, principal, ctx, Action.USER_INVITE, new_role=role)
        address = normalize_email(email)
        invitation_id, secret = new_id(), new_secret()
        now = self.clock()
        item = repo.invitation_item(
            org_id=principal.org_id,
            invitation_id=invitation_id,
            email=address,
            role=role,
            token_hash=hash_secret(secret),
            invited_by=principal.user_id,
            now=now,
            expires_at=int(now) + days * _DAY,
        )
        await self.store.transact_write(
            [
                Put(repo.ORGS, item, condition=ItemNotExists()),
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
                    clock=self.clock,
                ),
            ]
        )
        return IssuedInvitation(
            repo.invitation_of(item), invitation_token(principal.org_id, invitation_id, secret)
        )

    async def list(
        self,
        *,
        principal: Principal,
        ctx: RequestContext,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paged[Invitation]:
        """Unexpired invitations of the principal's organization (any status)."""
        await authorize(self.store, principal, ctx, Action.INVITATION_LIST)
        listing = repo.invitations_listing(principal.org_id)
        page = await self.store.query(
            listing.table, **listing.query, limit=clamp_limit(limit), cursor=cursor
        )
        return Paged([repo.invitation_of(item) for item in page.items], page.cursor)

    async def revoke(
        self, *, principal: Principal, ctx: RequestContext, invitation_id: str
    ) -> Invitation:
        await authorize(
            self.store,
            principal,
            ctx,
            Action.INVITATION_REVOKE,
            target_type="invitation",
            target_id=invitation_id,
        )
        key = repo.invitation_key(principal.org_id, invitation_id)
        item = await self.store.get(repo.ORGS, key)
        if not repo.is_invitation(item):
            raise NotFound("No such invitation.", code="not_found")
        assert item is not None
        await authorize_manage(
            self.store,
            principal,
            ctx,
            Action.INVITATION_REVOKE,
            new_role=Role(item["role"]),
            target_type="invitation",
            target_id=invitation_id,
        )
        if item["status"] != _PENDING:
            raise _not_pending()
        revoked = InvitationStatus.REVOKED.value
        try:
            await self.store.transact_write(
                [
                    repo.invitation_revocation_op(principal.org_id, invitation_id),
                    audit.event_op(
                        org_id=principal.org_id,
                        action="invitation.revoked",
                        actor=Actor.of(principal),
                        ctx=ctx,
                        target_type="invitation",
                        target_id=invitation_id,
                        changes={"status": {"old": _PENDING, "new": revoked}},
                        clock=self.clock,
                    ),
                ]
            )
        except TransactionCanceled as exc:
            raise _not_pending() from exc
        return repo.invitation_of({**item, "status": revoked})

    # ------------------------------------------------------------------ accepting
    async def _pending(self, org_id: str, invitation_id: str, secret: str) -> dict[str, Any]:
        """The pending invitation item the token names, else ``invitation_invalid``."""
        invitation = await self.store.get(repo.ORGS, repo.invitation_key(org_id, invitation_id))
        if (
            not repo.is_invitation(invitation)
            or invitation is None
            or invitation["status"] != _PENDING
            or not secrets_match(secret, invitation["token_hash"])
        ):
            raise _invalid_invitation()
        return invitation

    async def accept(
        self, *, ctx: RequestContext, token: str, password: str, display_name: str
    ) -> AuthResult:
        """Create the invited user in the inviting organization, and a session."""
        await self.registration.throttle(ctx)
        try:
            org_id, invitation_id, secret = parse_invitation_token(token)
        except Unauthenticated as exc:
            raise _invalid_invitation() from exc
        # the token names the item's key: one strongly consistent read, no index
        invitation = await self._pending(org_id, invitation_id, secret)
        # stored by the first releases' normalisation, maybe: new_member re-normalises
        address = normalize_email(invitation["email"])
        role = Role(invitation["role"])
        check_password_policy(password, email=address)
        if await self.registration.email_taken(invitation["email"]):
            # an acceptance racing this one may have just taken the invitation
            await self._pending(org_id, invitation_id, secret)
            raise user_exists()
        password_hash = await self.passwords.hash(password)
        now = iso(self.clock())
        member = self.registration.new_member(
            ctx=ctx,
            org_id=org_id,
            address=invitation["email"],
            role=role,
            password_hash=password_hash,
            display_name=display_name,
            details={"via": "invitation", "invitation_id": invitation_id},
            now=now,
        )
        accepted = InvitationStatus.ACCEPTED.value
        ops: builtins.list[TransactOp] = list(member.ops)
        taken = len(ops)  # the position of the invitation's own update
        ops += [
            repo.invitation_acceptance_op(invitation, user_id=member.user["id"], now=now),
            audit.event_op(
                org_id=org_id,
                action="invitation.accepted",
                actor=Actor.of_user(member.user["id"]),
                ctx=ctx,
                target_type="invitation",
                target_id=invitation_id,
                changes={"status": {"old": _PENDING, "new": accepted}},
                clock=self.clock,
            ),
        ]
        if role is Role.OWNER:
            ops.append(repo.owner_count_op(org_id, 1))
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            # used up (by a racing acceptance) before "the email exists"
            if taken in exc.failed_indexes:
                raise _invalid_invitation() from exc
            if member.taken(exc):
                raise user_exists() from exc
            raise Conflict("The invitation could not be accepted; try again.") from exc
        org = await self.store.get(repo.ORGS, repo.org_key(org_id))
        if org is None:  # pragma: no cover - an org is never deleted
            raise _invalid_invitation()
        return AuthResult(
            tokens=member.tokens, user=repo.user_of(member.user), organization=repo.org_of(org)
        )
