"""Sign-up: a new organization with its first user (owner), signed in.

:meth:`RegistrationService.new_member` builds a new signed-in member's items
(email guard, user, profile, session, audit events); registration and the
acceptance of an invitation (:mod:`prework.identity.invitations`) both use it.
Sign-ups are throttled per client address (:meth:`RegistrationService.throttle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prework.core import audit
from prework.core.audit import Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.principal import RequestContext, Role
from prework.errors import AlreadyExists, TransactionCanceled
from prework.identity import repository as repo
from prework.identity.emails import guards_absent, mailbox_taken
from prework.identity.models import check_password_policy, normalize_email
from prework.identity.passwords import Passwords
from prework.identity.ratelimit import Limit, RateLimiter, address_subject
from prework.identity.sessions import AuthResult, IssuedTokens, SessionService
from prework.store.base import Item, ItemNotExists, Put, Store, TransactOp

__all__ = ["NewMember", "RegistrationService", "user_exists"]


def user_exists() -> AlreadyExists:
    return AlreadyExists("User already exists", code="user_exists")


@dataclass(frozen=True, slots=True)
class NewMember:
    """A new user's items, signed in. ``ops[0]`` is always the email guard and
    ``ops[1:taken_upto]`` check that no legacy guard of the mailbox exists, so a
    transaction that fails at an index below ``taken_upto`` means "the email is taken"."""

    user: Item
    ops: list[TransactOp]
    tokens: IssuedTokens
    taken_upto: int = 1

    def taken(self, exc: TransactionCanceled) -> bool:
        return any(i < self.taken_upto for i in exc.failed_indexes)


class RegistrationService:
    def __init__(
        self,
        store: Store,
        *,
        passwords: Passwords,
        sessions: SessionService,
        limiter: RateLimiter,
        per_address: Limit,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.sessions = sessions
        self.limiter = limiter
        self.per_address = per_address
        self.clock = clock

    async def throttle(self, ctx: RequestContext) -> None:
        """Count one sign-up from the caller's address; 429 past the limit."""
        await self.limiter.hit(self.per_address, address_subject(ctx.client_ip))

    async def email_taken(self, address: str) -> bool:
        """Whether an account exists for ``address``'s mailbox, under its canonical
        guard or a guard of the first releases' normalisation."""
        return await mailbox_taken(self.store, address)

    def new_member(
        self,
        *,
        ctx: RequestContext,
        org_id: str,
        address: str,
        role: Role,
        password_hash: str,
        display_name: str,
        details: dict[str, Any],
        now: str,
    ) -> NewMember:
        """The items of a new member of ``org_id``, signed in, with their audit events;
        ``now`` (:func:`~prework.core.clock.iso`) stamps every item of the operation.

        ``address`` is the address as given (typed, or stored on an invitation):
        its canonical form keys the guard, its legacy forms must have none.
        """
        absent = guards_absent(address)
        address = normalize_email(address)
        user_id = new_id()
        user = repo.user_item(
            org_id=org_id,
            user_id=user_id,
            email=address,
            role=role,
            password_hash=password_hash,
            now=now,
        )
        session_put, tokens = self.sessions.open(user, ctx)
        actor = Actor.of_user(user_id)
        ops: list[TransactOp] = [
            Put(
                repo.USERS,
                repo.email_guard_item(email=address, org_id=org_id, user_id=user_id),
                condition=ItemNotExists(),
            ),
            *absent,
            Put(repo.USERS, user, condition=ItemNotExists()),
            Put(
                repo.PROFILES,
                repo.profile_item(
                    org_id=org_id, user_id=user_id, display_name=display_name, now=now
                ),
                condition=ItemNotExists(),
            ),
            session_put,
            audit.event_op(
                org_id=org_id,
                action="user.created",
                actor=actor,
                ctx=ctx,
                target_type="user",
                target_id=user_id,
                changes={
                    "email": {"old": None, "new": address},
                    "role": {"old": None, "new": role.value},
                },
                details=details,
                clock=self.clock,
            ),
            audit.event_op(
                org_id=org_id,
                action="auth.login",
                actor=actor,
                ctx=ctx,
                target_type="user",
                target_id=user_id,
                details={"session_id": tokens.session_id, "via": details["via"]},
                clock=self.clock,
            ),
        ]
        return NewMember(user=user, ops=ops, tokens=tokens, taken_upto=1 + len(absent))

    async def register(
        self,
        *,
        ctx: RequestContext,
        organization_name: str,
        email: str,
        password: str,
        display_name: str,
    ) -> AuthResult:
        """Create an organization, its first user (owner) and a session."""
        address = normalize_email(email)
        check_password_policy(password, email=address)
        await self.throttle(ctx)
        if await self.email_taken(email):
            raise user_exists()  # the transaction below checks again, atomically
        password_hash = await self.passwords.hash(password)
        org_id = new_id()
        now = iso(self.clock())
        org = repo.org_item(org_id=org_id, name=organization_name, now=now)
        member = self.new_member(
            ctx=ctx,
            org_id=org_id,
            address=email,
            role=Role.OWNER,
            password_hash=password_hash,
            display_name=display_name,
            details={"via": "register"},
            now=now,
        )
        ops = [
            *member.ops,
            Put(repo.ORGS, org, condition=ItemNotExists()),
            audit.event_op(
                org_id=org_id,
                action="org.created",
                actor=Actor.of_user(member.user["id"]),
                ctx=ctx,
                target_type="organization",
                target_id=org_id,
                changes={"name": {"old": None, "new": organization_name}},
                clock=self.clock,
            ),
        ]
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            if member.taken(exc):
                raise user_exists() from exc
            raise
        return AuthResult(
            tokens=member.tokens, user=repo.user_of(member.user), organization=repo.org_of(org)
        )
