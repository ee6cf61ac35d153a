"""Accounts and sessions: register, log in, refresh, log out, accept an invitation,
and authenticate a request's access token.

Sessions live in the ``sessions`` table (``pk=SESSION#<id>``) with a TTL. A
session holds the SHA-256 of its current refresh token and of the ones it
replaced; every refresh rotates the token, and presenting a replaced one
revokes the whole session (``session.reuse_detected``). Access tokens are
checked against the stored session and user on every request, so a logout, a
revocation or a deactivation takes effect on the very next request.

Brute force is throttled per account (normalised email) and per client
address with store-kept counters (:mod:`prework.services.ratelimit`); the
attempt is counted before the password is checked, and a success takes its
count back, so only failures accumulate. An unknown email runs the same
reads and a real (dummy) hash verification, and every failure answers the
same ``invalid_credentials``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any, NoReturn

from prework.domain.identity import (
    SYSTEM_ORG,
    ActorType,
    Organization,
    Principal,
    RequestContext,
    Role,
    User,
    UserStatus,
    check_password_policy,
    normalize_email,
)
from prework.errors import (
    AlreadyExists,
    Conflict,
    NotFound,
    RateLimited,
    TransactionCanceled,
    Unauthenticated,
)
from prework.services import audit, keys
from prework.services.audit import ANONYMOUS, Actor
from prework.services.common import Clock, iso, new_id, system_clock
from prework.services.items import (
    email_guard_item,
    org_item,
    org_of,
    profile_item,
    user_item,
    user_of,
)
from prework.services.passwords import Passwords, Scheme
from prework.services.ratelimit import Hit, Limit, RateLimiter, address_subject
from prework.services.tokens import (
    TokenService,
    hash_secret,
    new_secret,
    parse_invitation_token,
    parse_opaque,
    secrets_match,
)
from prework.store.base import (
    All,
    AttrEquals,
    AttrNotExists,
    ItemExists,
    ItemNotExists,
    Put,
    Store,
    TransactOp,
    Update,
    UpdateSpec,
)

__all__ = ["AuthPolicy", "AuthResult", "AuthService", "IssuedTokens"]

# how many replaced refresh-token hashes a session remembers for reuse detection
REMEMBERED_REFRESH_HASHES = 32


LOGIN_PER_ACCOUNT = Limit("login-account", 10, 15 * 60)
LOGIN_PER_ADDRESS = Limit("login-address", 100, 15 * 60)
REGISTER_PER_ADDRESS = Limit("register-address", 20, 3600)


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    access_ttl: int = 15 * 60
    refresh_ttl: int = 30 * 24 * 3600
    login_per_account: Limit = LOGIN_PER_ACCOUNT
    login_per_address: Limit = LOGIN_PER_ADDRESS
    register_per_address: Limit = REGISTER_PER_ADDRESS


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_id: str


@dataclass(frozen=True, slots=True)
class AuthResult:
    tokens: IssuedTokens
    user: User
    organization: Organization


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated("The email or the password is wrong.", code="invalid_credentials")


def _invalid_invitation() -> NotFound:
    return NotFound(
        "The invitation is unknown, expired, revoked or already used.", code="invitation_invalid"
    )


def _invalid_refresh_token() -> Unauthenticated:
    return Unauthenticated("The refresh token is not valid.", code="invalid_token")


def _revoked_session() -> Unauthenticated:
    return Unauthenticated("The session has been revoked.", code="session_revoked")


def _reused() -> Unauthenticated:
    return Unauthenticated(
        "The refresh token was already used; the session has been revoked.",
        code="refresh_token_reused",
    )


def _user_exists() -> AlreadyExists:
    return AlreadyExists("User already exists", code="user_exists")


class AuthService:
    def __init__(
        self,
        store: Store,
        *,
        passwords: Passwords,
        tokens: TokenService,
        policy: AuthPolicy | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.tokens = tokens
        self.policy = policy or AuthPolicy()
        self.clock = clock
        self.limiter = RateLimiter(store, clock=clock)

    # ------------------------------------------------------------------ sessions
    def _session_ops(
        self, user: dict[str, Any], ctx: RequestContext
    ) -> tuple[Put, IssuedTokens, str]:
        now = self.clock()
        session_id, secret = new_id(), new_secret()
        item = {
            **keys.session_key(session_id),
            "gsi1pk": keys.user_sessions_pk(user["org_id"], user["id"]),
            "gsi1sk": f"{iso(now)}#{session_id}",
            "kind": "auth",
            "id": session_id,
            "user_id": user["id"],
            "org_id": user["org_id"],
            "status": "active",
            "epoch": int(user.get("session_epoch", 0)),
            "refresh_hash": hash_secret(secret),
            "prev_refresh_hashes": [],
            "created_at": iso(now),
            "refreshed_at": iso(now),
            "client_ip": ctx.client_ip,
            "user_agent": (ctx.user_agent or "")[: audit.MAX_USER_AGENT] or None,
            "expires_at": int(now) + self.policy.refresh_ttl,
        }
        tokens = IssuedTokens(
            access_token=self.tokens.issue_access(
                user_id=user["id"],
                org_id=user["org_id"],
                role=Role(user["role"]),
                session_id=session_id,
            ),
            refresh_token=f"{session_id}.{secret}",
            expires_in=self.tokens.access_ttl,
            refresh_expires_in=self.policy.refresh_ttl,
            session_id=session_id,
        )
        return Put(keys.SESSIONS, item, condition=ItemNotExists()), tokens, session_id

    def _event(self, **kwargs: Any) -> Put:
        return audit.event_op(clock=self.clock, **kwargs)

    def _new_member_ops(
        self,
        *,
        ctx: RequestContext,
        org_id: str,
        address: str,
        role: Role,
        password_hash: str,
        display_name: str,
        now: str,
        details: dict[str, Any],
    ) -> tuple[dict[str, Any], list[TransactOp], IssuedTokens]:
        """A new user's items, signed in: the email guard (always the first op,
        so a failed index 0 means "the email is taken"), the user, the profile,
        the session and their audit events. Returns the user item, the ops and
        the session's tokens."""
        user_id = new_id()
        user = user_item(
            org_id=org_id,
            user_id=user_id,
            email=address,
            role=role,
            password_hash=password_hash,
            now=now,
        )
        session_put, tokens, session_id = self._session_ops(user, ctx)
        actor = Actor(ActorType.USER, user_id)
        ops: list[TransactOp] = [
            Put(
                keys.USERS,
                email_guard_item(email=address, org_id=org_id, user_id=user_id),
                condition=ItemNotExists(),
            ),
            Put(keys.USERS, user, condition=ItemNotExists()),
            Put(
                keys.PROFILES,
                profile_item(org_id=org_id, user_id=user_id, display_name=display_name, now=now),
                condition=ItemNotExists(),
            ),
            session_put,
            self._event(
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
            ),
            self._event(
                org_id=org_id,
                action="auth.login",
                actor=actor,
                ctx=ctx,
                target_type="user",
                target_id=user_id,
                details={"session_id": session_id, "via": details["via"]},
            ),
        ]
        return user, ops, tokens

    # ------------------------------------------------------------------ register
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
        await self.limiter.hit(self.policy.register_per_address, address_subject(ctx.client_ip))
        if await self.store.get(keys.USERS, keys.email_guard_key(address)) is not None:
            raise _user_exists()  # the transaction below checks again, atomically
        password_hash = await self.passwords.hash(password)
        org_id = new_id()
        now = iso(self.clock())
        org = org_item(org_id=org_id, name=organization_name, now=now)
        user, ops, tokens = self._new_member_ops(
            ctx=ctx,
            org_id=org_id,
            address=address,
            role=Role.OWNER,
            password_hash=password_hash,
            display_name=display_name,
            now=now,
            details={"via": "register"},
        )
        ops += [
            Put(keys.ORGS, org, condition=ItemNotExists()),
            self._event(
                org_id=org_id,
                action="org.created",
                actor=Actor(ActorType.USER, user["id"]),
                ctx=ctx,
                target_type="organization",
                target_id=org_id,
                changes={"name": {"old": None, "new": organization_name}},
            ),
        ]
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            if 0 in exc.failed_indexes:
                raise _user_exists() from exc
            raise
        return AuthResult(tokens=tokens, user=user_of(user), organization=org_of(org))

    # ------------------------------------------------------------------ login
    async def login(self, *, ctx: RequestContext, email: str, password: str) -> AuthResult:
        address = normalize_email(email)
        client = address_subject(ctx.client_ip)
        account_hit, address_hit, guard = await asyncio.gather(
            self.limiter.count(self.policy.login_per_account, address),
            self.limiter.count(self.policy.login_per_address, client),
            self.store.get(keys.USERS, keys.email_guard_key(address)),
        )
        org_id = guard["org_id"] if guard else SYSTEM_ORG
        target = ("user", guard["user_id"]) if guard else ("email", address)
        if account_hit.exceeded or address_hit.exceeded:
            await self._throttled(ctx, org_id, target, account_hit, address_hit)
        # the same reads whether or not the account exists
        user_key = (
            keys.user_key(guard["org_id"], guard["user_id"])
            if guard
            else keys.user_key(SYSTEM_ORG, "none")
        )
        user = await self.store.get(keys.USERS, user_key)
        check = await self.passwords.verify(user["password_hash"] if user else None, password)
        if user is None or not check.ok or user["status"] != UserStatus.ACTIVE.value:
            reason = (
                "unknown_email"
                if user is None
                else ("wrong_password" if not check.ok else "deactivated")
            )
            await audit.record(
                self.store,
                org_id=org_id,
                action="auth.login_failed",
                actor=ANONYMOUS,
                ctx=ctx,
                target_type=target[0],
                target_id=target[1],
                outcome="failure",
                details={"reason": reason},
                clock=self.clock,
            )
            raise _invalid_credentials()

        now = iso(self.clock())
        session_put, tokens, session_id = self._session_ops(user, ctx)
        user_set: dict[str, Any] = {"last_login_at": now}
        changes: dict[str, dict[str, Any]] = {}
        details: dict[str, Any] = {"session_id": session_id}
        if check.needs_rehash:
            # bcrypt from the seed, or argon2id with other parameters: upgrade now
            user_set["password_hash"] = await self.passwords.hash(password)
            details["password_rehashed"] = True
            if check.scheme is not Scheme.ARGON2ID:
                changes["password_scheme"] = {"old": check.scheme.value, "new": "argon2id"}
        epoch_unchanged = (
            AttrEquals("session_epoch", user["session_epoch"])
            if "session_epoch" in user
            else AttrNotExists("session_epoch")
        )
        user_update = Update(
            keys.USERS,
            keys.user_key(user["org_id"], user["id"]),
            UpdateSpec(set=user_set),
            condition=All(
                AttrEquals("status", UserStatus.ACTIVE.value),
                AttrEquals("password_hash", user["password_hash"]),
                epoch_unchanged,
            ),
        )
        ops: list[TransactOp] = [
            user_update,
            session_put,
            RateLimiter.reset_op(account_hit),
            RateLimiter.undo_op(address_hit),
            self._event(
                org_id=user["org_id"],
                action="auth.login",
                actor=Actor(ActorType.USER, user["id"]),
                ctx=ctx,
                target_type="user",
                target_id=user["id"],
                changes=changes,
                details=details,
            ),
        ]
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            # deactivated or password changed between the read and the write
            raise _invalid_credentials() from exc
        org = await self.store.get(keys.ORGS, keys.org_key(user["org_id"]))
        if org is None:  # pragma: no cover - an org is never deleted
            raise _invalid_credentials()
        user = {**user, **user_set}
        return AuthResult(tokens=tokens, user=user_of(user), organization=org_of(org))

    async def _throttled(
        self,
        ctx: RequestContext,
        org_id: str,
        target: tuple[str, str],
        *hits: Hit,
    ) -> None:
        exceeded = [h for h in hits if h.exceeded]
        # audit the first refusal of a window only: an attacker must not be
        # able to grow the audit log at the rate of their requests
        if any(h.count == h.limit.max + 1 for h in exceeded):
            await audit.record(
                self.store,
                org_id=org_id,
                action="auth.login_throttled",
                actor=ANONYMOUS,
                ctx=ctx,
                target_type=target[0],
                target_id=target[1],
                outcome="failure",
                details={"limits": sorted(h.limit.name for h in exceeded)},
                clock=self.clock,
            )
        raise RateLimited(
            "Too many failed attempts; try again later.",
            retry_after=max(h.retry_after for h in exceeded),
        )

    # ------------------------------------------------------------------ refresh
    async def refresh(self, *, ctx: RequestContext, refresh_token: str) -> IssuedTokens:
        """Rotate the refresh token and issue a new access token.

        A refresh token that was already rotated away revokes the session
        (someone holds a copy: the thief or the owner, we cannot tell which).
        """
        session_id, secret = parse_opaque(refresh_token, what="refresh token")
        key = keys.session_key(session_id)
        session = await self.store.get(keys.SESSIONS, key)
        if session is None or session.get("kind") != "auth":
            raise _invalid_refresh_token()
        presented = hash_secret(secret)
        current = secrets_match(secret, session["refresh_hash"])
        rotated_away = presented in session.get("prev_refresh_hashes", [])
        # without one of the session's secrets, nothing is said about the session
        if not current and not rotated_away:
            raise _invalid_refresh_token()
        if session["status"] != "active":
            raise _revoked_session()
        if current:
            return await self._rotate(ctx, session, presented)
        await self._revoke_for_reuse(ctx, session)

    async def _rotate(
        self, ctx: RequestContext, session: dict[str, Any], presented: str
    ) -> IssuedTokens:
        user = await self.store.get(
            keys.USERS, keys.user_key(session["org_id"], session["user_id"])
        )
        self._check_user(session, user)
        assert user is not None
        now = self.clock()
        secret = new_secret()
        remembered = [presented, *session.get("prev_refresh_hashes", [])]
        try:
            await self.store.transact_write(
                [
                    Update(
                        keys.SESSIONS,
                        keys.session_key(session["id"]),
                        UpdateSpec(
                            set={
                                "refresh_hash": hash_secret(secret),
                                "prev_refresh_hashes": remembered[:REMEMBERED_REFRESH_HASHES],
                                "refreshed_at": iso(now),
                                "expires_at": int(now) + self.policy.refresh_ttl,
                            }
                        ),
                        condition=All(
                            AttrEquals("status", "active"), AttrEquals("refresh_hash", presented)
                        ),
                    ),
                    self._event(
                        org_id=session["org_id"],
                        action="session.refreshed",
                        actor=Actor(ActorType.USER, session["user_id"]),
                        ctx=ctx,
                        target_type="session",
                        target_id=session["id"],
                    ),
                ]
            )
        except TransactionCanceled as exc:
            # a concurrent refresh rotated this very token first: it is reused
            fresh = await self.store.get(keys.SESSIONS, keys.session_key(session["id"]))
            if fresh is not None and fresh["status"] == "active":
                await self._revoke_for_reuse(ctx, fresh)
            if fresh is not None and fresh.get("revoked_reason") == "refresh_token_reused":
                raise _reused() from exc  # another racer already revoked it
            raise _revoked_session() from exc
        return IssuedTokens(
            access_token=self.tokens.issue_access(
                user_id=user["id"],
                org_id=user["org_id"],
                role=Role(user["role"]),
                session_id=session["id"],
            ),
            refresh_token=f"{session['id']}.{secret}",
            expires_in=self.tokens.access_ttl,
            refresh_expires_in=self.policy.refresh_ttl,
            session_id=session["id"],
        )

    async def _revoke_for_reuse(self, ctx: RequestContext, session: dict[str, Any]) -> NoReturn:
        # already revoked by someone else: nothing left to do
        with contextlib.suppress(TransactionCanceled):
            await self.store.transact_write(
                [
                    self._revoke_op(session["id"], "refresh_token_reused"),
                    self._event(
                        org_id=session["org_id"],
                        action="session.reuse_detected",
                        actor=ANONYMOUS,
                        ctx=ctx,
                        target_type="session",
                        target_id=session["id"],
                        outcome="failure",
                        details={"user_id": session["user_id"]},
                    ),
                ]
            )
        raise _reused()

    def _revoke_op(self, session_id: str, reason: str) -> Update:
        return Update(
            keys.SESSIONS,
            keys.session_key(session_id),
            UpdateSpec(
                set={"status": "revoked", "revoked_at": iso(self.clock()), "revoked_reason": reason}
            ),
            condition=All(ItemExists(), AttrEquals("status", "active")),
        )

    # ------------------------------------------------------------------ logout
    async def logout(self, *, principal: Principal, ctx: RequestContext) -> None:
        """Revoke the principal's session: its access and refresh tokens stop working."""
        try:
            await self.store.transact_write(
                [
                    self._revoke_op(principal.session_id, "logout"),
                    self._event(
                        org_id=principal.org_id,
                        action="auth.logout",
                        actor=Actor.of(principal),
                        ctx=ctx,
                        target_type="session",
                        target_id=principal.session_id,
                    ),
                ]
            )
        except TransactionCanceled as exc:
            raise Unauthenticated("The session has been revoked.", code="session_revoked") from exc

    # ------------------------------------------------------------------ authenticate
    @staticmethod
    def _check_user(session: dict[str, Any], user: dict[str, Any] | None) -> None:
        if user is None:
            raise _revoked_session()
        if user["status"] != UserStatus.ACTIVE.value:
            raise Unauthenticated("The account is deactivated.", code="account_deactivated")
        if int(user.get("session_epoch", 0)) != int(session.get("epoch", 0)):
            raise Unauthenticated("The session has been revoked.", code="session_revoked")

    async def authenticate(self, access_token: str) -> Principal:
        """The principal of a valid access token whose session and user are still active.

        One read of the session and one of the user (concurrently) per call:
        no cache, so revocation and deactivation apply to the next request.
        The role is the user's current role, not the token's.
        """
        claims = self.tokens.decode_access(access_token)
        session, user = await asyncio.gather(
            self.store.get(keys.SESSIONS, keys.session_key(claims.session_id)),
            self.store.get(keys.USERS, keys.user_key(claims.org_id, claims.user_id)),
        )
        if (
            session is None
            or session.get("kind") != "auth"
            or session["status"] != "active"
            or session["user_id"] != claims.user_id
            or session["org_id"] != claims.org_id
        ):
            raise Unauthenticated("The session has been revoked.", code="session_revoked")
        self._check_user(session, user)
        assert user is not None
        return Principal(
            user_id=user["id"],
            org_id=user["org_id"],
            role=Role(user["role"]),
            session_id=claims.session_id,
            email=user["email"],
        )

    # ------------------------------------------------------------------ invitations
    async def accept_invitation(
        self, *, ctx: RequestContext, token: str, password: str, display_name: str
    ) -> AuthResult:
        """Create the invited user in the inviting organization, and a session."""
        await self.limiter.hit(self.policy.register_per_address, address_subject(ctx.client_ip))
        try:
            org_id, invitation_id, secret = parse_invitation_token(token)
        except Unauthenticated as exc:
            raise _invalid_invitation() from exc
        # the token names the item's key: one strongly consistent read, no index
        invitation = await self._pending_invitation(org_id, invitation_id, secret)
        address = invitation["email"]
        role = Role(invitation["role"])
        check_password_policy(password, email=address)
        if await self.store.get(keys.USERS, keys.email_guard_key(address)) is not None:
            # an acceptance racing this one may have just taken the invitation
            await self._pending_invitation(org_id, invitation_id, secret)
            raise _user_exists()
        password_hash = await self.passwords.hash(password)
        now = iso(self.clock())
        user, ops, tokens = self._new_member_ops(
            ctx=ctx,
            org_id=org_id,
            address=address,
            role=role,
            password_hash=password_hash,
            display_name=display_name,
            now=now,
            details={"via": "invitation", "invitation_id": invitation_id},
        )
        taken = len(ops)  # the position of the invitation's own update
        ops += [
            Update(
                keys.ORGS,
                keys.invitation_key(org_id, invitation_id),
                UpdateSpec(
                    set={"status": "accepted", "accepted_by": user["id"], "accepted_at": now}
                ),
                condition=All(
                    AttrEquals("status", "pending"),
                    AttrEquals("token_hash", invitation["token_hash"]),
                ),
            ),
            self._event(
                org_id=org_id,
                action="invitation.accepted",
                actor=Actor(ActorType.USER, user["id"]),
                ctx=ctx,
                target_type="invitation",
                target_id=invitation_id,
                changes={"status": {"old": "pending", "new": "accepted"}},
            ),
        ]
        if role is Role.OWNER:
            ops.append(
                Update(
                    keys.ORGS,
                    keys.org_key(org_id),
                    UpdateSpec(add={"active_owners": 1}),
                    condition=ItemExists(),
                )
            )
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            # used up (by a racing acceptance) before "the email exists"
            if taken in exc.failed_indexes:
                raise _invalid_invitation() from exc
            if 0 in exc.failed_indexes:
                raise _user_exists() from exc
            raise Conflict("The invitation could not be accepted; try again.") from exc
        org = await self.store.get(keys.ORGS, keys.org_key(org_id))
        if org is None:  # pragma: no cover - an org is never deleted
            raise _invalid_invitation()
        return AuthResult(tokens=tokens, user=user_of(user), organization=org_of(org))

    async def _pending_invitation(
        self, org_id: str, invitation_id: str, secret: str
    ) -> dict[str, Any]:
        """The pending invitation item the token names, else ``invitation_invalid``."""
        invitation = await self.store.get(keys.ORGS, keys.invitation_key(org_id, invitation_id))
        if (
            invitation is None
            or invitation.get("type") != "invitation"
            or invitation["status"] != "pending"
            or not secrets_match(secret, invitation["token_hash"])
        ):
            raise _invalid_invitation()
        return invitation

    async def me(self, *, principal: Principal) -> tuple[User, Organization]:
        user, org = await asyncio.gather(
            self.store.get(keys.USERS, keys.user_key(principal.org_id, principal.user_id)),
            self.store.get(keys.ORGS, keys.org_key(principal.org_id)),
        )
        if user is None or org is None:
            raise Unauthenticated("The session has been revoked.", code="session_revoked")
        return user_of(user), org_of(org)
