"""``POST /api/sync`` on both engines: joining, operations transformed over what
landed since their version, resubmits, REST saves and sign-offs as operations, the
sign-off rule, read-only participants, bad operations (nothing written), catch-up,
leaving, and what is audited and announced. Storage is read back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
from fastapi import FastAPI

from prework.app import create_app
from prework.store.base import Store
from prework.sync.oplog import doc_topic

from ..identity.helpers import Member, audit_items, error_code
from ..teams.helpers import drain
from .helpers import CrewWorld, ok, stored_doc

SYNC = "/api/sync"


async def _started(w: CrewWorld) -> str:
    aid: str = (await w.assign_team())["id"]
    await ok(w.client, "POST", f"/api/assignments/{aid}/start", w.w1)
    return aid


async def _join(w: CrewWorld, member: Member, aid: str, client_id: str | None = None) -> Any:
    body: dict[str, Any] = {"action": "join_session", "assignment_id": aid}
    if client_id is not None:
        body["client_id"] = client_id
    return await ok(w.client, "POST", SYNC, member, json=body)


async def _apply(
    w: CrewWorld, member: Member, aid: str, session: str, op: Any, version: int, seq: int
) -> httpx.Response:
    return await w.client.post(
        SYNC,
        headers=member.headers,
        json={
            "action": "apply_operation",
            "assignment_id": aid,
            "session_id": session,
            "op": op,
            "version": version,
            "seq": seq,
        },
    )


async def _ops(w: CrewWorld, member: Member, aid: str, session: str, since: int) -> Any:
    return await ok(
        w.client,
        "POST",
        SYNC,
        member,
        json={
            "action": "get_operations",
            "assignment_id": aid,
            "session_id": session,
            "since": since,
        },
    )


async def _log(store: Store, org_id: str, aid: str) -> list[dict[str, Any]]:
    page = await store.query("sessions", pk=f"ORG#{org_id}#DOC#{aid}", sk_prefix="OP#")
    return page.items


async def test_a_crew_member_joins_edits_and_everyone_sees_the_same_document(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    one = await _join(w, w.w1, aid, "c1")
    assert (one["data"], one["version"], one["read_only"]) == (
        {"answers": {}, "signoffs": {}},
        1,
        False,
    )
    assert [p["user_id"] for p in one["participants"]] == [w.w1.user_id]
    two = await _join(w, w.w2, aid, "c2")
    assert sorted(p["user_id"] for p in two["participants"]) == sorted([w.w1.user_id, w.w2.user_id])

    r = await _apply(
        w, w.w1, aid, one["session_id"], [{"p": ["answers", "notes"], "oi": "Valve"}], 1, 1
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["duplicate"]) == (2, False)
    # both type into the note at once, each on version 2
    first, second = await asyncio.gather(
        _apply(w, w.w1, aid, one["session_id"], [{"p": ["answers", "notes", 5], "si": " A"}], 2, 2),
        _apply(
            w, w.w2, aid, two["session_id"], [{"p": ["answers", "notes", 0], "si": "😀 "}], 2, 1
        ),
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert sorted([first.json()["version"], second.json()["version"]]) == [3, 4]

    answers = await ok(w.client, "GET", f"/api/assignments/{aid}/answers", w.w1)
    assert answers["answers"]["notes"]["value"] == "😀 Valve A"  # the emoji is 2 UTF-16 units
    assert answers["version"] == 4
    # the stored document and the log agree: replaying the log gives the same value
    caught = await _ops(w, w.w2, aid, two["session_id"], 1)
    assert [o["version"] for o in caught["operations"]] == [2, 3, 4]
    assert caught["version"] == 4
    by_src = {o["src"]: o for o in caught["operations"][1:]}
    assert set(by_src) == {"c1", "c2"}
    doc = await stored_doc(module_store, w.org_id, aid)
    assert doc["answers"]["notes"]["by"] in (w.w1.user_id, w.w2.user_id)
    assert len(await _log(module_store, w.org_id, aid)) == 3


async def test_a_resubmitted_operation_is_acknowledged_again_and_applied_once(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w1, aid, "resub"))["session_id"]
    op = [{"p": ["answers", "o2"], "oi": 20.5}]
    r = await _apply(w, w.w1, aid, s, op, 1, 7)
    assert r.json() == {
        "action": "apply_operation",
        "assignment_id": aid,
        "version": 2,
        "duplicate": False,
    }
    # the ack was lost; the client sends it again, made on the same version
    again = await _apply(w, w.w1, aid, s, op, 1, 7)
    assert again.status_code == 200, again.text
    assert (again.json()["version"], again.json()["duplicate"]) == (2, True)
    doc = await stored_doc(module_store, w.org_id, aid)
    assert (doc["version"], doc["answers"]["o2"]["value"]) == (2, 20.5)
    assert len(await _log(module_store, w.org_id, aid)) == 1


async def test_rest_saves_and_signoffs_are_operations_and_an_edit_after_a_signoff_clears_it(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w2, aid, "w2"))["session_id"]
    await ok(
        w.client,
        "PATCH",
        f"/api/assignments/{aid}/answers",
        w.w1,
        json={"answers": {"isolated": "yes"}},
    )
    await ok(w.client, "POST", f"/api/assignments/{aid}/signoff", w.w1)
    # w2 edits on version 3 (after the save and the sign-off)
    r = await _apply(w, w.w2, aid, s, [{"p": ["answers", "o2"], "oi": 19}], 3, 1)
    assert (r.status_code, r.json().get("version")) == (200, 4), r.text
    caught = await _ops(w, w.w2, aid, s, 1)
    ops = [(o["version"], o["kind"], o["op"]) for o in caught["operations"]]
    signoff = ops[1][2][0]["oi"]
    assert ops == [
        (2, "save", [{"p": ["answers", "isolated"], "oi": "yes"}]),
        (3, "signoff", [{"p": ["signoffs", w.w1.user_id], "oi": signoff}]),
        (4, "edit", [{"p": ["answers", "o2"], "oi": 19}]),
        (5, "signoffs_cleared", [{"p": ["signoffs", w.w1.user_id], "od": signoff}]),
    ]
    assert caught["version"] == 5
    doc = await stored_doc(module_store, w.org_id, aid)
    assert (doc["version"], doc["signoffs"]) == (5, {})
    assert doc["answers"]["o2"] == {"value": 19, "by": w.w2.user_id, "at": doc["updated_at"]}

    # an operation made on version 2, sent late, is transformed over 3..5
    late = await _apply(w, w.w2, aid, s, [{"p": ["answers", "notes"], "oi": "late"}], 2, 2)
    assert (late.status_code, late.json().get("version")) == (200, 6), late.text
    # a REST save naming an old version is still strict
    r = await w.client.patch(
        f"/api/assignments/{aid}/answers",
        headers={**w.w1.headers, "If-Match": '"2"'},
        json={"answers": {"notes": "mine"}},
    )
    assert (r.status_code, error_code(r)) == (409, "stale_version")


async def test_auditors_join_read_only_and_others_may_not_join(crew_world: CrewWorld) -> None:
    w = crew_world
    aid = await _started(w)
    joined = await _join(w, w.auditor, aid)
    assert joined["read_only"] is True
    r = await _apply(
        w, w.auditor, aid, joined["session_id"], [{"p": ["answers", "notes"], "oi": "x"}], 1, 1
    )
    assert (r.status_code, error_code(r)) == (403, "read_only")
    for outsider in (w.supervisor, w.worker):
        r = await w.client.post(
            SYNC, headers=outsider.headers, json={"action": "join_session", "assignment_id": aid}
        )
        assert (r.status_code, error_code(r)) in {(403, "not_on_crew"), (404, "not_found")}, r.text
    # someone else's session is not one's own
    s1 = (await _join(w, w.w1, aid))["session_id"]
    r = await _apply(w, w.w2, aid, s1, [{"p": ["answers", "notes"], "oi": "x"}], 1, 1)
    assert (r.status_code, error_code(r)) == (404, "session_not_found")


async def test_bad_operations_are_refused_and_write_nothing(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w1, aid))["session_id"]
    r = await _apply(w, w.w1, aid, s, [{"p": ["answers", "notes"], "oi": "first"}], 1, 1)
    assert r.status_code == 200
    before = await stored_doc(module_store, w.org_id, aid)
    log_before = await _log(module_store, w.org_id, aid)
    cases: list[tuple[list[dict[str, Any]], int, str]] = [
        ([{"p": ["answers", "notes"], "od": "not what is there"}], 2, "invalid_op"),
        ([{"p": ["answers", "notes", 99], "si": "x"}], 2, "invalid_op"),
        ([{"p": ["signoffs", w.w1.user_id], "oi": {"at": "now"}}], 2, "invalid_op"),
        ([{"p": ["answers"], "od": {}, "oi": {}}], 2, "invalid_op"),
        ([{"p": ["answers", "__proto__"], "oi": 1}], 2, "invalid_op"),
        ([{"p": ["answers", "o2"], "oi": 500}], 2, "invalid_answers"),
        ([{"p": ["answers", "nope"], "oi": 1}], 2, "invalid_answers"),
        ([{"p": ["answers", "notes"], "od": "first", "oi": "x" * 300}], 2, "invalid_answers"),
        ([{"p": ["answers", "o2"], "oi": 1}], 3, "invalid_version"),
        ([{"p": ["answers", "o2"], "oi": 1}] * 257, 2, "validation_failed"),
    ]
    for op, version, code in cases:
        r = await _apply(w, w.w1, aid, s, op, version, 9)
        assert (r.status_code, error_code(r)) == (422, code), (op[:1], r.text)
    assert await stored_doc(module_store, w.org_id, aid) == before
    assert await _log(module_store, w.org_id, aid) == log_before


async def test_a_client_behind_the_kept_history_is_told_to_join_again(
    crew_world: CrewWorld,
    module_store: Store,
    module_app: FastAPI,
    app_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w1, aid))["session_id"]
    for seq, text in enumerate(("a", "b", "c"), 1):
        r = await _apply(w, w.w1, aid, s, [{"p": ["answers", "notes"]} | _set(text, seq)], seq, seq)
        assert r.status_code == 200, r.text
    # version 2's entry is gone (as after the log's retention)
    await module_store.delete(
        "sessions", {"pk": f"ORG#{w.org_id}#DOC#{aid}", "sk": "OP#000000000002"}
    )
    # another node (it has not kept these operations in memory, as this one has)
    other = create_app(module_app.state.settings, store=module_store)
    apply_late = {
        "action": "apply_operation",
        "assignment_id": aid,
        "session_id": s,
        "op": [{"p": ["answers", "o2"], "oi": 1}],
        "version": 1,
        "seq": 9,
    }
    catch_up = {"action": "get_operations", "assignment_id": aid, "session_id": s, "since": 1}
    async with app_client(other) as node:
        r = await node.post(SYNC, headers=w.w1.headers, json=apply_late)
        assert (r.status_code, error_code(r)) == (409, "stale_version")
        assert r.json()["error"]["details"] == {"current_version": 4, "expected_version": 1}
        r = await node.post(SYNC, headers=w.w1.headers, json=catch_up)
        assert (r.status_code, error_code(r)) == (409, "stale_version")
        r = await node.post(SYNC, headers=w.w1.headers, json={**catch_up, "since": 2})
        assert r.json()["version"] == 4  # from 2 on, all is kept
    # this node still has them: the late operation is rebased and committed
    r = await w.client.post(SYNC, headers=w.w1.headers, json=catch_up)
    assert [o["version"] for o in r.json()["operations"]] == [2, 3, 4]
    r = await w.client.post(SYNC, headers=w.w1.headers, json=apply_late)
    assert (r.status_code, r.json().get("version")) == (200, 5), r.text


def _set(text: str, seq: int) -> dict[str, Any]:
    return {"oi": text} if seq == 1 else {"od": "abc"[seq - 2], "oi": text}


async def test_leaving_ends_the_session_and_joins_and_leaves_are_audited(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w1, aid))["session_id"]
    left = await ok(
        w.client,
        "POST",
        SYNC,
        w.w1,
        json={"action": "leave_session", "assignment_id": aid, "session_id": s},
    )
    assert left == {"action": "leave_session", "assignment_id": aid, "session_id": s}
    for body in (
        {"action": "leave_session", "assignment_id": aid, "session_id": s},
        {
            "action": "apply_operation",
            "assignment_id": aid,
            "session_id": s,
            "op": [],
            "version": 1,
            "seq": 1,
        },
    ):
        r = await w.client.post(SYNC, headers=w.w1.headers, json=body)
        assert (r.status_code, error_code(r)) == (404, "session_not_found")
    events = [
        (e["action"], e["details"].get("session_id"))
        for e in await audit_items(module_store, w.org_id)
        if e.get("target_id") == aid and e["action"].startswith("sync.")
    ]
    assert sorted(events) == [("sync.joined", s), ("sync.left", s)]


async def test_edits_are_audited_once_per_user_in_a_window_and_announced_per_version(
    crew_world: CrewWorld, module_app: FastAPI, module_store: Store
) -> None:
    w = crew_world
    aid = await _started(w)
    s = (await _join(w, w.w1, aid, "tap"))["session_id"]
    bus = await module_app.state.pubsub.subscribe([doc_topic(w.org_id, aid)])
    async with bus:
        for seq in range(1, 4):
            op = [{"p": ["answers", "notes", seq - 1], "si": "x"}]
            if seq == 1:
                op = [{"p": ["answers", "notes"], "oi": "x"}]
            r = await _apply(w, w.w1, aid, s, op, seq, seq)
            assert r.status_code == 200, r.text
        events = await drain(bus)
    assert [(e["type"], e["version"], e["src"], e["seq"]) for e in events] == [
        ("doc.op", 2, "tap", 1),
        ("doc.op", 3, "tap", 2),
        ("doc.op", 4, "tap", 3),
    ]
    edited = [
        e
        for e in await audit_items(module_store, w.org_id)
        if e["action"] == "answers.edited" and e["target_id"] == aid
    ]
    assert len(edited) == 1
    assert edited[0]["details"]["items"] == ["notes"]


async def test_a_member_who_joined_before_the_start_edits_once_it_started(
    crew_world: CrewWorld, module_store: Store
) -> None:
    w = crew_world
    aid: str = (await w.assign_team())["id"]
    joined = await _join(w, w.w2, aid, "early")
    assert joined["read_only"] is True  # assigned: nothing to fill in yet
    s = joined["session_id"]
    op = [{"p": ["answers", "notes"], "oi": "ready"}]
    r = await _apply(w, w.w2, aid, s, op, 1, 1)
    assert (r.status_code, error_code(r)) == (403, "read_only")
    await ok(w.client, "POST", f"/api/assignments/{aid}/start", w.w1)
    r = await _apply(w, w.w2, aid, s, op, 1, 1)
    assert r.status_code == 200, r.text
    session = await module_store.get(
        "sessions", {"pk": f"ORG#{w.org_id}#DOC#{aid}", "sk": f"SESSION#{s}"}
    )
    assert session is not None
    assert session["read_only"] is False


async def test_a_node_commits_on_what_it_knew_and_decides_again_once_it_changed(
    crew_world: CrewWorld,
    module_store: Store,
    module_app: FastAPI,
    app_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    """A node commits a document's next operation on the assignment and document of
    its last commit (no reads); another node's commits and a crew change made
    meanwhile fail its write, and it decides again from fresh reads: nothing is lost,
    nobody off the crew edits."""
    w = crew_world
    aid = await _started(w)
    s1 = (await _join(w, w.w1, aid))["session_id"]
    s2 = (await _join(w, w.w2, aid))["session_id"]
    r = await _apply(w, w.w1, aid, s1, [{"p": ["answers", "notes"], "oi": "a"}], 1, 1)
    assert r.json()["version"] == 2, r.text  # this node knows version 2 now
    r = await _apply(w, w.w2, aid, s2, [{"p": ["answers", "o2"], "oi": 1}], 2, 1)
    assert r.json()["version"] == 3, r.text
    other = create_app(module_app.state.settings, store=module_store)
    async with app_client(other) as node:

        async def there(member: Member, session: str, op: Any, version: int, seq: int) -> Any:
            body: dict[str, Any] = {"action": "apply_operation", "assignment_id": aid}
            body |= {"session_id": session}
            body |= {"op": op, "version": version, "seq": seq}
            r = await node.post(SYNC, headers=member.headers, json=body)
            assert r.status_code == 200, r.text
            return r.json()["version"]

        # the other node commits version 4; this one still knows 3
        assert await there(w.w1, s1, [{"p": ["answers", "notes", 1], "si": "b"}], 3, 2) == 4
        # a client that has seen version 4 (ahead of what this node knew)
        r = await _apply(w, w.w1, aid, s1, [{"p": ["answers", "notes", 2], "si": "c"}], 4, 3)
        assert r.json()["version"] == 5, r.text
        # the other node commits 6; a client behind it (made on 5) is rebased over it
        assert await there(w.w2, s2, [{"p": ["answers", "o2"], "na": 2}], 5, 2) == 6
        r = await _apply(w, w.w1, aid, s1, [{"p": ["answers", "notes", 3], "si": "d"}], 5, 4)
        assert r.json()["version"] == 7, r.text
        doc = await stored_doc(module_store, w.org_id, aid)
        assert doc["version"] == 7
        assert {k: v["value"] for k, v in doc["answers"].items()} == {"notes": "abcd", "o2": 3}
        log = await _log(module_store, w.org_id, aid)
        assert [int(e["version"]) for e in log] == [2, 3, 4, 5, 6, 7]
        # w2 commits here (this node knows w2 on the crew), then the other node
        # takes w2 off the crew: here, w2's next operation is refused, unwritten
        r = await _apply(w, w.w2, aid, s2, [{"p": ["answers", "o2"], "na": 1}], 7, 3)
        assert r.json()["version"] == 8, r.text
        r = await node.post(
            f"/api/assignments/{aid}/crew",
            headers=w.supervisor.headers,
            json={"user_ids": [w.w1.user_id]},
        )
        assert r.status_code == 200, r.text
    before = await stored_doc(module_store, w.org_id, aid)
    r = await _apply(w, w.w2, aid, s2, [{"p": ["answers", "o2"], "na": 1}], 8, 4)
    assert (r.status_code, error_code(r)) == (404, "not_found"), r.text
    assert await stored_doc(module_store, w.org_id, aid) == before
