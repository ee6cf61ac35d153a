"""Sessions: log in, refresh, log out, and authenticate a request's access token.

Sessions live in the ``sessions`` table with a TTL. A session holds the
SHA-256 of its current refresh token and of the ones it replaced; every
refresh rotates the token, and presenting a replaced one revokes the whole
session (``session.reuse_detected``). Access tokens are checked against the
stored session and user: a logout, a revocation, a deactivation or a role
change takes effect on the very next request on this node, and within
:data:`AUTH_CACHE_SECONDS` on every other node (see :class:`_AuthCache`).

Brute force is throttled per account (normalised email) and per client
address with store-kept counters (:mod:`prework.identity.ratelimit`); the
attempt is counted before the password is checked, and a success takes its
count back, so only failures accumulate. An unknown email runs the same
reads and a real (dummy) hash verification, and every failure answers the
same ``invalid_credentials``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from prework.core import audit
from prework.core.audit import ANONYMOUS, Actor
from prework.core.clock import Clock, iso, system_clock
from prework.core.ids import new_id
from prework.core.principal import SYSTEM_ORG, Principal, RequestContext, Role
from prework.errors import RateLimited, TransactionCanceled, Unauthenticated, WriteConflict
from prework.identity import repository as repo
from prework.identity.emails import find_email_guard
from prework.identity.models import Organization, SessionStatus, User, UserStatus, normalize_email
from prework.identity.passwords import Passwords, Scheme
from prework.identity.ratelimit import Hit, Limit, RateLimiter, address_subject
from prework.identity.tokens import (
    TokenService,
    hash_secret,
    new_secret,
    parse_opaque,
    secrets_match,
)
from prework.store.base import (
    ItemNotExists,
    Put,
    Store,
    TransactOp,
    Update,
)

__all__ = [
    "AuthResult",
    "IssuedTokens",
    "LoginLimits",
    "SessionService",
    "session_revoked",
]

# how many replaced refresh-token hashes a session remembers for reuse detection
REMEMBERED_REFRESH_HASHES = 32
# a rotation or revocation that meets another write to the session (DynamoDB's
# TransactionConflict) is sent again at most this often
_WRITE_ATTEMPTS = 3
_REUSED = "refresh_token_reused"
# how long an authenticated request may reuse the session and user (and the
# organization for /me) read for an earlier one: the bound, on OTHER nodes, for
# a logout, revocation, deactivation or role change to take effect (this node
# forgets what it changes at once)
AUTH_CACHE_SECONDS = 2.0
AUTH_CACHE_SIZE = 10_000  # sessions (and as many organizations) remembered


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """Failed logins allowed per account and per client address, per window."""

    per_account: Limit
    per_address: Limit


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


def session_revoked() -> Unauthenticated:
    return Unauthenticated("The session has been revoked.", code="session_revoked")


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated("The email or the password is wrong.", code="invalid_credentials")


def _invalid_refresh_token() -> Unauthenticated:
    return Unauthenticated("The refresh token is not valid.", code="invalid_token")


def _busy() -> WriteConflict:
    return WriteConflict("The session is being changed by another request; try again.")


def _reused() -> Unauthenticated:
    return Unauthenticated(
        "The refresh token was already used; the session has been revoked.", code=_REUSED
    )


class SessionService:
    def __init__(
        self,
        store: Store,
        *,
        passwords: Passwords,
        tokens: TokenService,
        limiter: RateLimiter,
        login_limits: LoginLimits,
        refresh_ttl: int,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.tokens = tokens
        self.limiter = limiter
        self.login_limits = login_limits
        self.refresh_ttl = refresh_ttl
        self.clock = clock
        self._cache = _AuthCache(AUTH_CACHE_SECONDS, AUTH_CACHE_SIZE)
        store.watch_writes(self._cache.forget)

    # ------------------------------------------------------------------ issuing
    def _issued(self, user: Mapping[str, Any], session_id: str, secret: str) -> IssuedTokens:
        return IssuedTokens(
            access_token=self.tokens.issue_access(
                user_id=user["id"],
                org_id=user["org_id"],
                role=Role(user["role"]),
                session_id=session_id,
            ),
            refresh_token=f"{session_id}.{secret}",
            expires_in=self.tokens.access_ttl,
            refresh_expires_in=self.refresh_ttl,
            session_id=session_id,
        )

    def open(self, user: Mapping[str, Any], ctx: RequestContext) -> tuple[Put, IssuedTokens]:
        """A new session of ``user`` (a user item): the op that stores it, and its tokens."""
        now = self.clock()
        session_id, secret = new_id(), new_secret()
        item = repo.session_item(
            session_id=session_id,
            user=user,
            refresh_hash=hash_secret(secret),
            ctx=ctx,
            now=now,
            expires_at=int(now) + self.refresh_ttl,
        )
        put = Put(repo.SESSIONS, item, condition=ItemNotExists())
        return put, self._issued(user, session_id, secret)

    def _event(self, **kwargs: Any) -> Put:
        return audit.event_op(clock=self.clock, **kwargs)

    # ------------------------------------------------------------------ login
    async def login(self, *, ctx: RequestContext, email: str, password: str) -> AuthResult:
        address = normalize_email(email)
        client = address_subject(ctx.client_ip)
        account_hit, address_hit, found = await asyncio.gather(
            self.limiter.count(self.login_limits.per_account, address),
            self.limiter.count(self.login_limits.per_address, client),
            find_email_guard(self.store, email),  # legacy guards move on success
        )
        guard = found.guard
        org_id = guard["org_id"] if guard else SYSTEM_ORG
        target = ("user", guard["user_id"]) if guard else ("email", address)
        if account_hit.exceeded or address_hit.exceeded:
            await self._throttled(ctx, org_id, target, account_hit, address_hit)
        # the same reads whether or not the account exists
        user_key = (
            repo.user_key(guard["org_id"], guard["user_id"])
            if guard
            else repo.user_key(SYSTEM_ORG, "none")
        )
        user = await self.store.get(repo.USERS, user_key)
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
        session_put, tokens = self.open(user, ctx)
        user_set: dict[str, Any] = {"last_login_at": now, **found.user_set()}
        changes: dict[str, dict[str, Any]] = found.changes()
        details: dict[str, Any] = {"session_id": tokens.session_id}
        if check.needs_rehash:
            # bcrypt from the seed, or argon2id with other parameters: upgrade now
            user_set["password_hash"] = await self.passwords.hash(password)
            details["password_rehashed"] = True
            if check.scheme is not Scheme.ARGON2ID:
                changes["password_scheme"] = {"old": check.scheme.value, "new": "argon2id"}
        ops: list[TransactOp] = [
            repo.login_op(user, user_set),
            session_put,
            RateLimiter.reset_op(account_hit),
            RateLimiter.undo_op(address_hit),
            self._event(
                org_id=user["org_id"],
                action="auth.login",
                actor=Actor.of_user(user["id"]),
                ctx=ctx,
                target_type="user",
                target_id=user["id"],
                changes=changes,
                details=details,
            ),
            *found.migration_ops(),
        ]
        try:
            await self.store.transact_write(ops)
        except TransactionCanceled as exc:
            # deactivated or password changed between the read and the write
            raise _invalid_credentials() from exc
        org = await self.store.get(repo.ORGS, repo.org_key(user["org_id"]))
        if org is None:  # pragma: no cover - an org is never deleted
            raise _invalid_credentials()
        user = {**user, **user_set}
        return AuthResult(tokens=tokens, user=repo.user_of(user), organization=repo.org_of(org))

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
        Refreshes racing with one token are such a reuse: at most one wins,
        every other one answers ``refresh_token_reused``.
        """
        session_id, secret = parse_opaque(refresh_token, what="refresh token")
        session = await self.store.get(repo.SESSIONS, repo.session_key(session_id))
        if not repo.is_session(session):
            raise _invalid_refresh_token()
        assert session is not None
        presented = hash_secret(secret)
        current = secrets_match(secret, session["refresh_hash"])
        rotated_away = presented in session.get("prev_refresh_hashes", [])
        # without one of the session's secrets, nothing is said about the session
        if not current and not rotated_away:
            raise _invalid_refresh_token()
        if session["status"] != SessionStatus.ACTIVE.value:
            if rotated_away and session.get("revoked_reason") == _REUSED:
                raise _reused()  # a racer of this token, arriving after the revocation
            raise session_revoked()
        if current:
            return await self._rotate(ctx, session, presented)
        await self._revoke_for_reuse(ctx, session)

    async def _rotate(
        self, ctx: RequestContext, session: dict[str, Any], presented: str
    ) -> IssuedTokens:
        user = await self.store.get(
            repo.USERS, repo.user_key(session["org_id"], session["user_id"])
        )
        user = self._check_user(session, user)
        secret = new_secret()
        remembered = [presented, *session.get("prev_refresh_hashes", [])]
        for _ in range(_WRITE_ATTEMPTS):
            now = self.clock()
            try:
                await self.store.transact_write(
                    [
                        repo.session_rotation_op(
                            session["id"],
                            presented_hash=presented,
                            new_hash=hash_secret(secret),
                            remembered=remembered[:REMEMBERED_REFRESH_HASHES],
                            now=now,
                            expires_at=int(now) + self.refresh_ttl,
                        ),
                        self._event(
                            org_id=session["org_id"],
                            action="session.refreshed",
                            actor=Actor.of_user(session["user_id"]),
                            ctx=ctx,
                            target_type="session",
                            target_id=session["id"],
                        ),
                    ]
                )
            except WriteConflict:
                continue  # a racing refresh is writing the session: whoever commits first wins
            except TransactionCanceled as exc:
                await self._lost_race(ctx, session["id"], exc)
            return self._issued(user, session["id"], secret)
        # every attempt met another write: lost to a racing refresh of this token, or
        # (if nobody rotated it) merely crowded out, and the client may try again
        fresh = await self.store.get(repo.SESSIONS, repo.session_key(session["id"]))
        if (
            fresh is not None
            and fresh["status"] == SessionStatus.ACTIVE.value
            and fresh["refresh_hash"] == presented
        ):
            raise _busy()
        await self._lost_race(ctx, session["id"], None)

    async def _lost_race(
        self, ctx: RequestContext, session_id: str, exc: Exception | None
    ) -> NoReturn:
        """A concurrent refresh rotated this very token first: it is reused."""
        fresh = await self.store.get(repo.SESSIONS, repo.session_key(session_id))
        if fresh is None:
            raise session_revoked() from exc
        if fresh["status"] == SessionStatus.ACTIVE.value:
            await self._revoke_for_reuse(ctx, fresh)
        if fresh.get("revoked_reason") == _REUSED:
            raise _reused() from exc  # another racer already revoked it
        raise session_revoked() from exc

    async def _revoke_for_reuse(self, ctx: RequestContext, session: dict[str, Any]) -> NoReturn:
        for _ in range(_WRITE_ATTEMPTS):
            try:
                await self.store.transact_write(
                    [
                        self._revoke_op(session["id"], _REUSED),
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
            except TransactionCanceled:
                break  # no longer active: revoked by someone else, nothing left to do
            except WriteConflict:
                continue  # a racing rotation or revocation was writing it: again
            break
        else:
            fresh = await self.store.get(repo.SESSIONS, repo.session_key(session["id"]))
            if fresh is not None and fresh["status"] == SessionStatus.ACTIVE.value:
                raise _busy()  # never "revoked" while the session still lives
        raise _reused()

    def _revoke_op(self, session_id: str, reason: str) -> Update:
        return repo.session_revocation_op(session_id, reason=reason, now=self.clock())

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
            raise session_revoked() from exc

    # ------------------------------------------------------------------ authenticate
    @staticmethod
    def _check_user(session: Mapping[str, Any], user: dict[str, Any] | None) -> dict[str, Any]:
        """``user`` if the session may still act for it; 401 otherwise."""
        if user is None:
            raise session_revoked()
        if user["status"] != UserStatus.ACTIVE.value:
            raise Unauthenticated("The account is deactivated.", code="account_deactivated")
        if int(user.get("session_epoch", 0)) != int(session.get("epoch", 0)):
            raise session_revoked()
        return user

    async def authenticate(self, access_token: str) -> Principal:
        """The principal of a valid access token whose session and user are still active.

        The session and the user are read (concurrently), or taken from what
        this node read for an earlier request less than :data:`AUTH_CACHE_SECONDS`
        ago and has not written since (any write to either through this store
        forgets them at once). The role is the user's current role, not the token's.
        """
        claims = self.tokens.decode_access(access_token)
        cache = self._cache
        cached = cache.session(claims.session_id)
        if cached is None:
            generation = cache.generation
            session, user = await asyncio.gather(
                self.store.get(repo.SESSIONS, repo.session_key(claims.session_id)),
                self.store.get(repo.USERS, repo.user_key(claims.org_id, claims.user_id)),
            )
        else:
            session, user = cached
        if (
            not repo.is_session(session)
            or session is None
            or session["status"] != SessionStatus.ACTIVE.value
            or session["user_id"] != claims.user_id
            or session["org_id"] != claims.org_id
            # a kept session expires on time too (the store hides expired items)
            or (cached is not None and session["expires_at"] <= time.time())
        ):
            raise session_revoked()
        user = self._check_user(session, user)
        if cached is None:
            cache.keep_session(claims.session_id, session, user, generation)
        return Principal(
            user_id=user["id"],
            org_id=user["org_id"],
            role=Role(user["role"]),
            session_id=claims.session_id,
            email=user["email"],
        )

    async def me(self, *, principal: Principal) -> tuple[User, Organization]:
        """The principal's account and organization, as read for this request
        (or as :meth:`authenticate` may reuse them)."""
        cache = self._cache
        generation = cache.generation
        cached = cache.session(principal.session_id)
        user = cached[1] if cached is not None else None
        if user is not None and user["id"] != principal.user_id:
            user = None
        org = cache.organization(principal.org_id)
        if user is None or org is None:
            user, org = await asyncio.gather(
                self._read_if_missing(
                    user, repo.USERS, repo.user_key(principal.org_id, principal.user_id)
                ),
                self._read_if_missing(org, repo.ORGS, repo.org_key(principal.org_id)),
            )
            if org is not None:
                cache.keep_organization(principal.org_id, org, generation)
        if user is None or org is None:
            raise session_revoked()
        return repo.user_of(user), repo.org_of(org)

    async def _read_if_missing(
        self, item: dict[str, Any] | None, table: str, key: Mapping[str, str]
    ) -> dict[str, Any] | None:
        return item if item is not None else await self.store.get(table, key)


class _AuthCache:
    """Sessions with their users, and organizations, as read recently.

    An entry lives ``ttl`` seconds at most (the bound for other nodes' changes)
    and is forgotten as soon as this process writes the item through the store
    (:meth:`forget`, a write listener). A read that started before such a
    write is not kept (:attr:`generation` moved on in between), so a stale
    read can never outlive the write that changed it. Both maps are bounded.
    """

    _WATCHED = frozenset({repo.SESSIONS, repo.USERS, repo.ORGS})

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl = ttl
        self.size = size
        self.generation = 0  # moved on by every write to a watched table
        # session id -> (kept until, session, user)
        self._sessions: OrderedDict[str, tuple[float, dict[str, Any], dict[str, Any]]] = (
            OrderedDict()
        )
        self._orgs: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        # (table, pk, sk) of a cached item -> the entries that hold it
        self._holders: dict[tuple[str, str, str], set[str]] = {}

    def session(self, session_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        entry = self._sessions.get(session_id)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._drop_session(session_id)
            return None
        return entry[1], entry[2]

    def organization(self, org_id: str) -> dict[str, Any] | None:
        entry = self._orgs.get(org_id)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._drop_org(org_id)
            return None
        return entry[1]

    def keep_session(
        self, session_id: str, session: dict[str, Any], user: dict[str, Any], generation: int
    ) -> None:
        if generation != self.generation:
            return  # a watched item was written while it was being read
        self._drop_session(session_id)
        self._sessions[session_id] = (time.monotonic() + self.ttl, session, user)
        self._hold((repo.SESSIONS, session["pk"], session["sk"]), session_id)
        self._hold((repo.USERS, user["pk"], user["sk"]), session_id)
        while len(self._sessions) > self.size:
            self._drop_session(next(iter(self._sessions)))

    def keep_organization(self, org_id: str, org: dict[str, Any], generation: int) -> None:
        if generation != self.generation:
            return
        self._drop_org(org_id)
        self._orgs[org_id] = (time.monotonic() + self.ttl, org)
        self._hold((repo.ORGS, org["pk"], org["sk"]), "org:" + org_id)
        while len(self._orgs) > self.size:
            self._drop_org(next(iter(self._orgs)))

    def forget(self, table: str, pk: str, sk: str) -> None:
        """A write listener: the item ``(table, pk, sk)`` may have changed."""
        if table not in self._WATCHED:
            return
        self.generation += 1
        for holder in self._holders.pop((table, pk, sk), ()):
            if holder.startswith("org:"):
                self._drop_org(holder[4:])
            else:
                self._drop_session(holder)

    def _hold(self, item: tuple[str, str, str], holder: str) -> None:
        self._holders.setdefault(item, set()).add(holder)

    def _release(self, item: tuple[str, str, str], holder: str) -> None:
        holders = self._holders.get(item)
        if holders is not None:
            holders.discard(holder)
            if not holders:
                del self._holders[item]

    def _drop_session(self, session_id: str) -> None:
        entry = self._sessions.pop(session_id, None)
        if entry is not None:
            _, session, user = entry
            self._release((repo.SESSIONS, session["pk"], session["sk"]), session_id)
            self._release((repo.USERS, user["pk"], user["sk"]), session_id)

    def _drop_org(self, org_id: str) -> None:
        entry = self._orgs.pop(org_id, None)
        if entry is not None:
            org = entry[1]
            self._release((repo.ORGS, org["pk"], org["sk"]), "org:" + org_id)
