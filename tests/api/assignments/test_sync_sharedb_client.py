"""ShareDB's own client (npm ``sharedb`` 7.0.0, unmodified, over ``ws``) editing
answers on ``/api/sync/ws``, driven in node (:mod:`prework.testing.engines.sharedb_client`)
against the module's app on a loopback port, on both engines: concurrent edits
converge to the server's document, offline edits queued by the client are
transformed and kept on reconnecting, a resubmit after a lost ack is applied once,
channel presence, and a read-only participant's op rolled back."""

from __future__ import annotations

from typing import Any

from prework.testing.engines.sharedb_client import ShareDBClient, ShareDBNode

from ..identity.helpers import Member
from .helpers import CrewWorld, ok

SYNC = "/api/sync"


def _url(ws_url: str, member: Member) -> str:
    token = member.headers["Authorization"].removeprefix("Bearer ")
    return f"{ws_url}?access_token={token}"


async def _started(w: CrewWorld) -> str:
    aid: str = (await w.assign_team())["id"]
    await ok(w.client, "POST", f"/api/assignments/{aid}/start", w.w1)
    return aid


async def _server(w: CrewWorld, aid: str) -> tuple[int, dict[str, Any]]:
    """The server's version and answers (values), through REST."""
    body = await ok(w.client, "GET", f"/api/assignments/{aid}/answers", w.w1)
    answers = {item: entry["value"] for item, entry in body["answers"].items()}
    return int(body["version"]), answers


async def _operations(w: CrewWorld, aid: str, member: Member) -> list[dict[str, Any]]:
    """Every logged operation of the document (the sync API's get_operations)."""
    joined = await ok(
        w.client, "POST", SYNC, member, json={"action": "join_session", "assignment_id": aid}
    )
    body = await ok(
        w.client,
        "POST",
        SYNC,
        member,
        json={
            "action": "get_operations",
            "assignment_id": aid,
            "session_id": joined["session_id"],
            "since": 1,
        },
    )
    await ok(
        w.client,
        "POST",
        SYNC,
        member,
        json={
            "action": "leave_session",
            "assignment_id": aid,
            "session_id": joined["session_id"],
        },
    )
    operations: list[dict[str, Any]] = body["operations"]
    return operations


async def _connected(node: ShareDBNode, ws_url: str, member: Member, aid: str) -> ShareDBClient:
    client = node.client("c")
    await client.connect(_url(ws_url, member))
    state = await client.subscribe(aid)
    assert state["pending"] is False
    return client


async def _converged(w: CrewWorld, aid: str, *clients: ShareDBClient) -> dict[str, Any]:
    """Once every client's ops are acknowledged, each settles at the server's version
    with exactly its answers; the answers."""
    for client in clients:
        await client.settle(aid)
    version, answers = await _server(w, aid)
    for client in clients:
        state = await client.settle(aid, v=version)
        assert state["data"]["answers"] == answers, (client, state, answers)
        assert state["data"]["signoffs"] == {}
    return answers


async def test_two_clients_editing_at_once_converge_to_the_server_s_document(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    b = await _connected(sharedb, ws_url, w.w2, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    await a.submit(aid, [[{"p": ["answers", "o2"], "oi": 20}]], wait=True)
    await _converged(w, aid, a, b)
    ids = {(await a.state(aid))["id"]: "a", (await b.state(aid))["id"]: "b"}

    # at once, on the same version: text at the same offsets (emoji: two UTF-16
    # units each), adds to one number, inserts of one new answer (each client's ops
    # of one tick go as one composed op)
    results = await sharedb.together(
        a.command(
            "submit",
            doc=aid,
            ops=[
                [{"p": ["answers", "notes", 0], "si": "😀A"}],
                [{"p": ["answers", "notes", 8], "si": " 🚀x"}],
                [{"p": ["answers", "o2"], "na": 0.5}],
                [{"p": ["answers", "isolated"], "oi": "yes"}],
            ],
        ),
        b.command(
            "submit",
            doc=aid,
            ops=[
                [{"p": ["answers", "notes", 0], "si": "🎉B"}],
                [{"p": ["answers", "notes", 8], "si": "!"}],
                [{"p": ["answers", "o2"], "na": 1.5}],
                [{"p": ["answers", "isolated"], "oi": "no"}],
            ],
        ),
    )
    assert all(r["pending"] for r in results)
    answers = await _converged(w, aid, a, b)
    log = await _operations(w, aid, w.w1)
    assert [ids[o["src"]] for o in log[-2:]] in (["a", "b"], ["b", "a"])
    later = ids[log[-1]["src"]]
    # the later op was transformed over the earlier: its inserts go first at a tie
    # (as ShareDB: the client's op on the left), its insert of a key replaces
    expected = {
        "b": {"notes": "🎉B😀AValve! 🚀x", "isolated": "no"},
        "a": {"notes": "😀A🎉BValve 🚀x!", "isolated": "yes"},
    }[later]
    assert answers == {**expected, "o2": 22}

    # a replace against a replace, text inserted against a replace of the whole
    # text, a replace of a number
    notes = answers["notes"]
    await sharedb.together(
        a.command(
            "submit",
            doc=aid,
            ops=[
                [{"p": ["answers", "isolated"], "od": answers["isolated"], "oi": "na"}],
                [{"p": ["answers", "notes"], "od": notes, "oi": "Reset"}],
            ],
        ),
        b.command(
            "submit",
            doc=aid,
            ops=[
                [{"p": ["answers", "isolated"], "od": answers["isolated"], "oi": "yes"}],
                [{"p": ["answers", "notes", 2], "si": "✓"}],
                [{"p": ["answers", "o2"], "od": 22, "oi": 21.5}],
            ],
        ),
    )
    answers = await _converged(w, aid, a, b)
    log = await _operations(w, aid, w.w1)
    later = ids[log[-1]["src"]]
    # whichever landed first, the replace of the text wins: json0 drops an edit
    # inside a replaced value, and rebases a replace's old value over one
    assert answers == {"notes": "Reset", "isolated": {"a": "na", "b": "yes"}[later], "o2": 21.5}
    for client in (a, b):
        assert await client.events() == []
        assert await client.received() == []
