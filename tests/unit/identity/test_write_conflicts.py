"""Writes that meet another write in flight (DynamoDB's TransactionConflict).

``WriteConflict`` means nothing was written. Each service either sends the
change again (judged on a fresh read) or answers a retryable 409; it never
claims an outcome that did not happen (a session reported revoked stays alive).
The store here is the memory store with conflicts injected at its port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

from prework.bootstrap import build_identity
from prework.config import Settings
from prework.core.principal import Principal, RequestContext, Role
from prework.errors import Unauthenticated, WriteConflict
from prework.identity import repository as repo
from prework.identity.services import Identity
from prework.identity.sessions import AuthResult
from prework.store.base import Key, Plan, Store, TransactOp
from prework.store.memory import MemoryStore

CTX = RequestContext(request_id="r", client_ip="10.0.0.9", user_agent="t")
PASSWORD = "correct horse battery staple"
T = TypeVar("T")


class CrowdedStore(MemoryStore):
    """The memory store, whose next ``conflicts`` transactions on ``table`` meet another
    write in flight (and write nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts = 0
        self.table = ""
        self.refused = 0

    def _meet_a_conflict(self, tables: Iterable[str]) -> None:
        if self.conflicts and self.table in tables:
            self.conflicts -= 1
            self.refused += 1
            raise WriteConflict()

    async def transact_write(self, ops: Sequence[TransactOp]) -> None:
        self._meet_a_conflict(op.table for op in ops)
        await super().transact_write(ops)

    async def modify_item(self, table: str, key: Key, plan: Plan[T]) -> T:
        # as DynamoDB's would, after its own attempts: the whole read-plan-write met one
        self._meet_a_conflict([table])
        return await super().modify_item(table, key, plan)

    def crowd(self, table: str, times: int) -> None:
        self.table, self.conflicts, self.refused = table, times, 0


@pytest.fixture
async def store() -> AsyncIterator[CrowdedStore]:
    s = CrowdedStore()
    await s.init()
    yield s
    await s.close()


@pytest.fixture
def identity(store: Store, tmp_path: Path) -> Iterator[Identity]:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        store="memory://",
        secret_key="write-conflict-tests-secret-0123456789",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )
    built = build_identity(settings, store)
    yield built
    built.close()


async def owner(identity: Identity) -> AuthResult:
    return await identity.registration.register(
        ctx=CTX,
        organization_name="Crowded",
        email="owner@example.com",
        password=PASSWORD,
        display_name="Owner",
    )


async def session(store: Store, session_id: str) -> dict[str, object]:
    item = await store.get(repo.SESSIONS, repo.session_key(session_id))
    assert item is not None
    return item


async def audit_actions(store: Store, org_id: str) -> list[str]:
    page = await store.query("audit-log", pk=f"ORG#{org_id}", limit=200)
    return [item["action"] for item in page.items]


async def test_a_refresh_crowded_out_twice_still_rotates(
    store: CrowdedStore, identity: Identity
) -> None:
    me = await owner(identity)
    store.crowd(repo.SESSIONS, 2)
    tokens = await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    assert store.refused == 2
    assert tokens.refresh_token != me.tokens.refresh_token
    assert (await session(store, me.tokens.session_id))["status"] == "active"
    again = await identity.sessions.refresh(ctx=CTX, refresh_token=tokens.refresh_token)
    assert again.session_id == me.tokens.session_id


async def test_a_refresh_crowded_out_every_time_is_retryable_not_reuse(
    store: CrowdedStore, identity: Identity
) -> None:
    me = await owner(identity)
    before = await session(store, me.tokens.session_id)
    store.crowd(repo.SESSIONS, 3)
    with pytest.raises(WriteConflict) as info:
        await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    assert info.value.status == 409
    assert info.value.code == "transaction_conflict"
    after = await session(store, me.tokens.session_id)
    assert after == before  # nothing written, nothing revoked
    assert "session.reuse_detected" not in await audit_actions(store, me.organization.id)
    # the same token works once the crowd is gone
    await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)


async def test_reuse_is_revoked_even_when_the_revocation_is_crowded_out_twice(
    store: CrowdedStore, identity: Identity
) -> None:
    me = await owner(identity)
    await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    store.crowd(repo.SESSIONS, 2)
    with pytest.raises(Unauthenticated) as info:
        await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    assert info.value.code == "refresh_token_reused"
    revoked = await session(store, me.tokens.session_id)
    assert revoked["status"] == "revoked"
    assert revoked["revoked_reason"] == "refresh_token_reused"
    assert "session.reuse_detected" in await audit_actions(store, me.organization.id)


async def test_a_reuse_whose_revocation_never_lands_is_not_reported_as_revoked(
    store: CrowdedStore, identity: Identity
) -> None:
    me = await owner(identity)
    await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    store.crowd(repo.SESSIONS, 3)
    with pytest.raises(WriteConflict):
        await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    assert (await session(store, me.tokens.session_id))["status"] == "active"
    # presented again, the copied token does revoke the session
    with pytest.raises(Unauthenticated) as info:
        await identity.sessions.refresh(ctx=CTX, refresh_token=me.tokens.refresh_token)
    assert info.value.code == "refresh_token_reused"
    assert (await session(store, me.tokens.session_id))["status"] == "revoked"


def principal_of(result: AuthResult) -> Principal:
    return Principal(
        user_id=result.user.id,
        org_id=result.organization.id,
        role=Role.OWNER,
        session_id=result.tokens.session_id,
        email=result.user.email,
    )


@pytest.mark.parametrize("expected_version", [None, 1])
async def test_a_crowded_profile_update_is_read_and_written_again(
    store: CrowdedStore, identity: Identity, expected_version: int | None
) -> None:
    me = principal_of(await owner(identity))
    store.crowd(repo.PROFILES, 2)
    profile = await identity.profiles.update_own(
        principal=me, ctx=CTX, changes={"job_title": "Lead"}, expected_version=expected_version
    )
    assert store.refused == 2
    assert (profile.job_title, profile.version) == ("Lead", 2)
    assert (await audit_actions(store, me.org_id)).count("profile.updated") == 1


async def test_a_crowded_role_change_is_judged_and_written_again(
    store: CrowdedStore, identity: Identity
) -> None:
    first = await owner(identity)
    me = principal_of(first)
    invited = await identity.invitations.invite(
        principal=me, ctx=CTX, email="w@example.com", role=Role.WORKER
    )
    worker = await identity.invitations.accept(
        ctx=CTX, token=invited.token, password=PASSWORD, display_name="W"
    )
    store.crowd(repo.USERS, 2)
    user = await identity.users.change_role(
        principal=me, ctx=CTX, user_id=worker.user.id, role=Role.SUPERVISOR
    )
    assert store.refused == 2
    assert (user.role, user.version) == (Role.SUPERVISOR, 2)
    assert (await audit_actions(store, me.org_id)).count("user.role_changed") == 1
