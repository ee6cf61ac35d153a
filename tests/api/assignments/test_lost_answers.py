"""A submit whose write committed but whose answer was lost, retried, on both engines.

:class:`~tests.api.stores.LostAnswerStore` wraps the real store: the submit's
transaction commits, then the call fails as a timed-out DynamoDB request does. The
client saw 503 and sends the same request again with the same ``Idempotency-Key``;
the key's middleware stored nothing (the first try failed), so the route runs again.
It must answer the submission that was written (201, the same id), not 409, and
write nothing more. Without a key there is no way to tell a retry from a second
submit: that retry is 409 ``invalid_transition``, and still writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from prework.app import create_app
from prework.blobs.base import BlobStore
from prework.checklists.answering import REPLAY_SECONDS
from prework.config import Settings
from prework.http.idempotency import RETENTION_SECONDS
from prework.pubsub.base import org_topic
from prework.store.base import Store

from ..identity.helpers import audit_items, error_code, snapshot
from ..stores import LostAnswerStore
from ..teams.helpers import drain
from .helpers import CrewWorld, make_crew_world, ok, stored_assignment, stored_submissions

ClientOf = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class LossyApp:
    store: LostAnswerStore  # the real store, wrapped
    app: FastAPI
    client: httpx.AsyncClient


@pytest.fixture
async def lossy_app(
    settings: Settings, store: Store, blobs: BlobStore, app_client: ClientOf
) -> AsyncIterator[LossyApp]:
    """The app over the real store wrapped in a :class:`LostAnswerStore`, and its client."""
    lossy = LostAnswerStore(store)
    app = create_app(settings, store=lossy, blobs=blobs)
    async with app_client(app) as client:
        yield LossyApp(lossy, app, client)


async def test_a_keyed_submit_retried_after_a_lost_answer_answers_its_submission(
    lossy_app: LossyApp, store: Store
) -> None:
    lossy, app, client = lossy_app.store, lossy_app.app, lossy_app.client
    w = await make_crew_world(client)
    aid = await w.ready()
    url = f"/api/assignments/{aid}/submit"
    headers = {**w.w1.headers, "Idempotency-Key": "submit-wo-1"}
    lossy.lose_next = True
    r = await client.post(url, headers=headers)
    assert (r.status_code, error_code(r)) == (503, "unavailable"), r.text
    assert lossy.lost == 1
    (written,) = await stored_submissions(store, w.org_id, aid)  # it did commit
    assert (await stored_assignment(store, w.org_id, aid))["state"] == "submitted"
    before = await snapshot(store, w.org_id)

    bus = await app.state.pubsub.subscribe([org_topic(w.org_id)])
    try:
        again = await client.post(url, headers=headers)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == written["id"]
        assert again.json()["number"] == 1
        events = await drain(bus)
    finally:
        await bus.close()
    # the lost announcement is made now, once
    assert [e["submission_id"] for e in events if e["type"] == "assignment.submitted"] == [
        written["id"]
    ]
    # nothing more was written, except the key's record of the answer (sessions)
    assert await snapshot(store, w.org_id) == before
    submitted = [
        e
        for e in await audit_items(store, w.org_id)
        if e["action"] == "assignment.submitted" and e["target_id"] == aid
    ]
    assert len(submitted) == 1
    # and now the key's middleware has the answer: a third try is a replay
    third = await client.post(url, headers=headers)
    assert third.status_code == 201
    assert third.headers.get("Idempotent-Replayed") == "true"
    assert third.json()["id"] == written["id"]


async def test_an_unkeyed_submit_retried_after_a_lost_answer_is_refused(
    lossy_app: LossyApp, store: Store
) -> None:
    lossy, client = lossy_app.store, lossy_app.client
    w = await make_crew_world(client)
    aid = await w.ready()
    url = f"/api/assignments/{aid}/submit"
    lossy.lose_next = True
    r = await client.post(url, headers=w.w1.headers)
    assert r.status_code == 503
    before = await snapshot(store, w.org_id)
    again = await client.post(url, headers=w.w1.headers)
    assert (again.status_code, error_code(again)) == (409, "invalid_transition")
    assert await snapshot(store, w.org_id) == before
    assert len(await stored_submissions(store, w.org_id, aid)) == 1


async def _lost_then_rejected(
    client: httpx.AsyncClient, lossy: LostAnswerStore, store: Store
) -> tuple[CrewWorld, str, str, dict[str, str]]:
    """A keyed submit whose answer was lost, then rejected and started, answered and
    signed again: (world, assignment id, the lost submit's submission id, its headers)."""
    w = await make_crew_world(client)
    aid = await w.ready()
    headers = {**w.w1.headers, "Idempotency-Key": "submit-wo-1"}
    lossy.lose_next = True
    r = await client.post(f"/api/assignments/{aid}/submit", headers=headers)
    assert r.status_code == 503
    (written,) = await stored_submissions(store, w.org_id, aid)
    await ok(
        client,
        "POST",
        f"/api/submissions/{written['id']}/review",
        w.supervisor,
        json={"decision": "reject", "comment": "Redo the O2 reading"},
    )
    await ok(client, "POST", f"/api/assignments/{aid}/start", w.w1)
    for member in (w.w1, w.w2):
        await ok(client, "POST", f"/api/assignments/{aid}/signoff", member)
    return w, aid, str(written["id"]), headers


async def test_a_stale_keyed_retry_answers_its_submission_without_announcing_it(
    lossy_app: LossyApp, store: Store
) -> None:
    # the lost submit's retry comes after its submission was reviewed: it answers that
    # submission (what the first try did), announces nothing (the work moved on) and
    # submits nothing new
    lossy, app, client = lossy_app.store, lossy_app.app, lossy_app.client
    w, aid, first, headers = await _lost_then_rejected(client, lossy, store)
    before = await snapshot(store, w.org_id)
    bus = await app.state.pubsub.subscribe([org_topic(w.org_id)])
    try:
        again = await client.post(f"/api/assignments/{aid}/submit", headers=headers)
        events = await drain(bus)
    finally:
        await bus.close()
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first
    assert [e for e in events if e["type"] == "assignment.submitted"] == []
    assert await snapshot(store, w.org_id) == before
    assert (await stored_assignment(store, w.org_id, aid))["state"] == "in_progress"


async def test_a_key_reused_after_the_replay_window_submits_anew(
    lossy_app: LossyApp, store: Store
) -> None:
    # past REPLAY_SECONDS (the key's middleware has forgotten it too) the same key is a
    # new submit: its derived id is taken by the old submission, so it gets a new one
    # (neither the old answer again nor a collision that can never succeed)
    lossy, app, client = lossy_app.store, lossy_app.app, lossy_app.client
    w, aid, first, headers = await _lost_then_rejected(client, lossy, store)
    answers = app.state.services.checklists.answers
    real_clock = answers.clock
    answers.clock = lambda: real_clock() + REPLAY_SECONDS + 60
    try:
        again = await client.post(f"/api/assignments/{aid}/submit", headers=headers)
    finally:
        answers.clock = real_clock
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first
    assert again.json()["number"] == 2
    subs = await stored_submissions(store, w.org_id, aid)
    assert [s["id"] for s in subs] == [first, again.json()["id"]]
    assert (await stored_assignment(store, w.org_id, aid))["state"] == "submitted"


def test_the_replay_window_is_the_idempotency_key_s() -> None:
    assert REPLAY_SECONDS == RETENTION_SECONDS
