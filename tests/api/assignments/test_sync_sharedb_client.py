"""ShareDB's own client (npm ``sharedb`` 7.0.0, unmodified, over ``ws``) editing
answers on ``/api/sync/ws``, driven in node (:mod:`prework.testing.engines.sharedb_client`)
against the module's app on a loopback port, on both engines: concurrent edits
converge to the server's document, offline edits queued by the client are
transformed and kept on reconnecting, a resubmit after a lost ack is applied once,
channel presence, and a read-only participant's op rolled back."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest

from prework.testing.engines.sharedb_client import ShareDBClient, ShareDBNode

from ..identity.helpers import Member
from .helpers import CrewWorld, ok

SYNC = "/api/sync"


def _units(text: str) -> int:
    """The length of a JavaScript string: UTF-16 code units (json0's string offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _in_order(typed: str, text: str) -> bool:
    """Whether every character typed is in the text, in the order typed."""
    rest = iter(text)
    return all(ch in rest for ch in typed)


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


async def _connected(
    node: ShareDBNode, ws_url: str, member: Member, aid: str, *, prevent_compose: bool = False
) -> ShareDBClient:
    client = node.client("c")
    await client.connect(_url(ws_url, member))
    state = await client.subscribe(aid, prevent_compose=prevent_compose)
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


def _keystrokes(rng: random.Random, alphabet: str) -> list[dict[str, Any]]:
    """One to three random keystrokes: a character of the alphabet inserted somewhere,
    or one of the alphabet's deleted (each side deletes only what it typed)."""
    return [
        {"delete": alphabet, "pick": rng.random()}
        if rng.random() < 0.3
        else {"insert": rng.choice(alphabet), "at": rng.random()}
        for _ in range(rng.randint(1, 3))
    ]


async def test_many_rounds_of_typing_at_once_converge_with_every_keystroke_kept(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    rng = random.Random(12)
    # A sends each keystroke on its own, B composes what waits for an ack
    a = await _connected(sharedb, ws_url, w.w1, aid, prevent_compose=True)
    b = await _connected(sharedb, ws_url, w.w2, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "~"}]], wait=True)
    await _converged(w, aid, a, b)
    alphabets = {"a": "abcdefghij😀é", "b": "0123456789🎉"}
    kept: Counter[str] = Counter("~")
    for round_ in range(16):
        if round_ == 8:  # a REST save lands in the middle, on another answer
            await ok(
                w.client,
                "PATCH",
                f"/api/assignments/{aid}/answers",
                w.w2,
                json={"answers": {"o2": 20.5}},
            )
        # each client types into the text as it holds it now (with whatever of the
        # other's edits reached it), both at once, acks not awaited
        typed = await sharedb.together(
            *(
                client.command(
                    "type", doc=aid, item="notes", edits=_keystrokes(rng, alphabets[side])
                )
                for side, client in (("a", a), ("b", b))
            )
        )
        for state in typed:
            for (component,) in state["ops"]:
                if "si" in component:
                    kept[component["si"]] += 1
                else:
                    kept[component["sd"]] -= 1
    answers = await _converged(w, aid, a, b)
    for client in (a, b):  # first: a refusal explains a keystroke missing
        assert await client.received() == []
        assert await client.events() == []
    assert answers["o2"] == 20.5
    assert Counter(answers["notes"]) == +kept
    assert sum(kept.values()) > 10


async def test_many_clients_submitting_at_once_all_get_their_ops_committed(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    # twelve clients of a crew of two (each worker in six tabs), one keystroke each
    clients = [await _connected(sharedb, ws_url, (w.w1, w.w2)[i % 2], aid) for i in range(12)]
    await clients[0].submit(aid, [[{"p": ["answers", "notes"], "oi": "~"}]], wait=True)
    await _converged(w, aid, *clients)
    for round_ in range(3):
        await sharedb.together(
            *(
                c.command("submit", doc=aid, ops=[[{"p": ["answers", "notes", 0], "si": "x"}]])
                for c in clients
            )
        )
        for client in clients:
            await client.settle(aid)
        refused = [m["error"] for c in clients for m in await c.received()]
        assert refused == [], f"round {round_}"
    answers = await _converged(w, aid, *clients)
    assert answers["notes"] == "x" * 36 + "~"
    for client in clients:
        assert await client.events() == []


# A types while offline (letters, an accent, emoji: 50 keystrokes), B online (digits)
A_TYPES = "abcdefghijklmnopqrstuvwxyzé😀ABCDEFGHIJKLMNOPQRSTU🚀V"
B_TYPES = "0123456789#$%&*+-=?@()[]{}<>~^"


@pytest.mark.parametrize("prevent_compose", [False, True], ids=["composed", "op_by_op"])
async def test_edits_made_offline_are_transformed_on_reconnecting_and_none_is_lost(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode, prevent_compose: bool
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid, prevent_compose=prevent_compose)
    b = await _connected(sharedb, ws_url, w.w2, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "[Valve]"}]], wait=True)
    await a.submit(aid, [[{"p": ["answers", "o2"], "oi": 20}]], wait=True)
    await _converged(w, aid, a, b)
    a_id = (await a.state(aid))["id"]
    offline_at, _ = await _server(w, aid)

    await a.offline()
    assert (await a.state(aid))["connection"] == "disconnected"
    # A types inside the brackets, after the word; B types before it, in three
    # bursts, each acknowledged before the next (its edits are committed meanwhile)
    a_text, b_text = "[Valve]", "[Valve]"
    bursts = [B_TYPES[i : i + 10] for i in range(0, len(B_TYPES), 10)]
    typed_by_a = iter(A_TYPES)
    for burst in bursts:
        for _ in range(len(A_TYPES) // len(bursts) + 1):
            ch = next(typed_by_a, None)
            if ch is None:
                break
            at = _units(a_text) - 1
            a_text = a_text[:-1] + ch + "]"
            await a.submit(aid, [[{"p": ["answers", "notes", at], "si": ch}]])
        for k, ch in enumerate(burst):
            at = 1 + (bursts.index(burst) * 10) + k
            b_text = b_text[:at] + ch + b_text[at:]
            await b.submit(aid, [[{"p": ["answers", "notes", at], "si": ch}]])
        await b.submit(aid, [[{"p": ["answers", "o2"], "na": 0.5}]], wait=True)
    assert next(typed_by_a, None) is None
    await a.submit(aid, [[{"p": ["answers", "o2"], "na": 2}]])
    await a.submit(aid, [[{"p": ["answers", "isolated"], "oi": "yes"}]])
    await b.submit(aid, [[{"p": ["answers", "isolated"], "oi": "no"}]], wait=True)
    offline = await a.state(aid)
    assert offline["pending"] is True
    assert offline["v"] == offline_at  # it saw none of B's edits
    assert offline["data"]["answers"] == {"notes": a_text, "o2": 22, "isolated": "yes"}
    version, answers = await _server(w, aid)
    assert answers == {"notes": b_text, "o2": 21.5, "isolated": "no"}
    assert version > offline_at

    # back online on a new socket: A's queued ops are sent at the version it had,
    # transformed over everything B committed meanwhile
    assert await a.online(_url(ws_url, w.w1)) == a_id  # the server keeps its id
    answers = await _converged(w, aid, a, b)
    notes = answers["notes"]
    assert _units(notes) == _units("[Valve]") + _units(A_TYPES) + _units(B_TYPES)
    assert _in_order(A_TYPES, notes)
    assert _in_order(B_TYPES, notes)
    assert notes == "[" + B_TYPES + "Valve" + A_TYPES + "]"
    # A's add and B's adds all count; A's insert of a key, transformed last, replaced B's
    assert answers["o2"] == 23.5
    assert answers["isolated"] == "yes"
    # each op A queued was committed once: one composed op, or one per edit
    log = await _operations(w, aid, w.w1)
    by_a = [o for o in log if o["version"] > offline_at and o["src"] == a_id]
    assert len(by_a) == (len(A_TYPES) + 2 if prevent_compose else 1)
    for client in (a, b):
        assert await client.events() == []
        assert await client.received() == []


async def test_a_client_that_only_fetched_edits_and_catches_up_through_its_acks(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    # C fetches, never subscribes: it learns of others' ops only before its acks
    c = sharedb.client("fetcher")
    await c.connect(_url(ws_url, w.w2))
    fetched = await c.fetch(aid)
    assert fetched["data"]["answers"] == {"notes": "Valve"}
    await a.submit(aid, [[{"p": ["answers", "notes", 0], "si": "> "}]], wait=True)
    await a.submit(aid, [[{"p": ["answers", "o2"], "oi": 20}]], wait=True)
    # C's op, made on the version it fetched, is transformed over A's two; the server
    # sends those before the ack, so C ends at the server's version and document
    done = await c.submit(aid, [[{"p": ["answers", "notes", 5], "si": " A"}]], wait=True)
    assert done["errors"] == [None]
    version, answers = await _server(w, aid)
    assert answers == {"notes": "> Valve A", "o2": 20}
    assert done["v"] == version
    assert done["data"]["answers"] == answers
    await _converged(w, aid, a)
    # a subscribed client that unsubscribes no longer gets ops; fetching catches up
    await a.unsubscribe(aid)
    await c.submit(aid, [[{"p": ["answers", "o2"], "na": 1}]], wait=True)
    assert (await a.state(aid))["v"] == version
    caught_up = await a.fetch(aid)
    assert (caught_up["v"], caught_up["data"]["answers"]) == (version + 1, {**answers, "o2": 21})
    for client in (a, c):
        assert await client.events() == []
        assert await client.received() == []


async def _version_reaches(w: CrewWorld, aid: str, version: int) -> None:
    for _ in range(500):
        if (await _server(w, aid))[0] >= version:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the server never reached version {version}")


@pytest.mark.parametrize("how", ["ack_lost", "socket_killed"])
async def test_an_op_sent_again_after_its_ack_was_lost_is_applied_once(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode, how: str
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    b = await _connected(sharedb, ws_url, w.w2, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    await _converged(w, aid, a, b)
    a_id = (await a.state(aid))["id"]
    before, _ = await _server(w, aid)

    # a text insert: applied twice, it would show twice
    once = [{"p": ["answers", "notes", 5], "si": " A"}]
    if how == "ack_lost":
        # the server commits the op, its ack never reaches the client
        sent = await a.submit(aid, [once], lose_ack=True)
        await _version_reaches(w, aid, before + 1)
        await b.submit(aid, [[{"p": ["answers", "notes", 0], "si": "> "}]], wait=True)
        await a.offline(abrupt=True)
    else:
        # the socket dies right after the op is written: the server may or may not
        # have read it (and may still be committing it when the client is back)
        sent = await a.submit(aid, [once], kill=True)
        await a.offline(abrupt=True)
        await b.submit(aid, [[{"p": ["answers", "notes", 0], "si": "> "}]], wait=True)
    assert sent["pending"] is True
    assert (await a.state(aid))["pending"] is True  # still waiting for its ack

    # back online: the client sends the op again (same src and seq, same version)
    await a.online(_url(ws_url, w.w1))
    answers = await _converged(w, aid, a, b)
    assert answers["notes"] == "> Valve A"
    log = await _operations(w, aid, w.w1)
    mine = [o for o in log if o["version"] > before and o["src"] == a_id]
    assert [o["op"] for o in mine] in ([once], [[{"p": ["answers", "notes", 7], "si": " A"}]])
    version, _ = await _server(w, aid)
    assert version == before + 2
    for client in (a, b):
        assert await client.events() == []
        assert await client.received() == []


async def test_channel_presence_reaches_the_others_and_is_cleared_on_disconnect(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    b = await _connected(sharedb, ws_url, w.w2, aid)
    for client in (a, b):
        await client.presence_subscribe(aid)
    await a.presence_submit(aid, "cursor-a", {"item": "notes", "at": 3})
    assert await b.presence_wait(aid, "cursor-a", {"item": "notes", "at": 3}) == {
        "item": "notes",
        "at": 3,
    }
    await b.presence_submit(aid, "cursor-b", {"item": "o2"})
    await a.presence_wait(aid, "cursor-b", {"item": "o2"})
    # an update replaces the last value
    await a.presence_submit(aid, "cursor-a", {"item": "isolated"})
    await b.presence_wait(aid, "cursor-a", {"item": "isolated"})

    # one who subscribes later is sent the presences already there (the others'
    # clients answer the server's request for them)
    c = await _connected(sharedb, ws_url, w.auditor, aid)  # read-only, sees presence
    await c.presence_subscribe(aid)
    await c.presence_wait(aid, "cursor-a", {"item": "isolated"})
    await c.presence_wait(aid, "cursor-b", {"item": "o2"})

    # A's socket goes away: its presence is cleared for everyone else
    await a.offline()
    await b.presence_wait(aid, "cursor-a", None)
    await c.presence_wait(aid, "cursor-a", None)
    assert await c.presence_wait(aid, "cursor-b", {"item": "o2"}) == {"item": "o2"}
    for client in (a, b, c):
        assert await client.events() == []
        assert await client.received() == []


async def test_a_read_only_participant_s_op_is_refused_and_rolled_back(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    auditor = await _connected(sharedb, ws_url, w.auditor, aid)
    version, answers = await _server(w, aid)
    assert (await auditor.settle(aid, v=version))["data"]["answers"] == answers

    tried = await auditor.submit(
        aid,
        [
            [{"p": ["answers", "notes", 5], "si": " A"}],
            [{"p": ["answers", "o2"], "oi": 20}],
        ],
    )
    # applied locally at once, as ShareDB does
    assert tried["data"]["answers"] == {"notes": "Valve A", "o2": 20}
    assert tried["pending"] is True
    rolled_back = await auditor.settle(aid, v=version)
    assert rolled_back["data"]["answers"] == answers == {"notes": "Valve"}
    # the refusal on the wire, our code as ShareDB's code and first in the message;
    # the client hands it to the callbacks of both ops (they went as one composed op)
    (refused,) = await auditor.received()
    assert refused["a"] == "op"
    assert refused["error"]["code"] == "read_only"
    assert refused["error"]["message"] == "read_only: This session is read-only."
    events = await auditor.events()
    assert len(events) == 2
    assert all(e.endswith(": read_only: This session is read-only.") for e in events)
    assert await _server(w, aid) == (version, answers)
    # the crew's edits still reach the auditor
    await a.submit(aid, [[{"p": ["answers", "notes", 0], "si": "> "}]], wait=True)
    answers = await _converged(w, aid, a, auditor)
    assert answers == {"notes": "> Valve"}


async def test_an_op_refused_by_the_template_s_rules_is_rolled_back_to_the_server_s_answers(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode
) -> None:
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    await a.submit(aid, [[{"p": ["answers", "o2"], "oi": 20}]], wait=True)
    version, answers = await _server(w, aid)
    # valid json0 the template refuses: out of range, too many decimals, too long
    # a text, an item it does not have; each rolled back by inverting it
    for op in (
        [{"p": ["answers", "o2"], "od": 20, "oi": 150}],
        [{"p": ["answers", "o2"], "na": 0.05}],
        [{"p": ["answers", "notes", 5], "si": "x" * 200}],
        [{"p": ["answers", "nope"], "oi": 1}],
    ):
        submitted = await a.submit(aid, [op], wait=True)
        # the op's callback gets the refusal (our code first), the doc is rolled back
        (error,) = submitted["errors"]
        assert error.startswith("invalid_answers: 1 answer(s) are not valid."), (op, error)
        assert (await a.settle(aid, v=version))["data"]["answers"] == answers, op
        (refused,) = await a.received()
        assert refused["error"]["code"] == "invalid_answers", refused
        assert len(await a.events()) == 1
    assert await _server(w, aid) == (version, answers)


@pytest.mark.parametrize(
    "op",
    [
        [{"p": ["answers", "notes"], "oi": "Pump"}],  # insert over an existing key
        [{"p": ["answers", "notes"], "od": "Pipe", "oi": "Pump"}],  # od not the value
    ],
    ids=["oi_over_a_key", "od_not_equal"],
)
async def test_an_op_the_client_s_json0_applies_but_the_server_refuses_is_reported(
    crew_world: CrewWorld, ws_url: str, sharedb: ShareDBNode, op: list[dict[str, Any]]
) -> None:
    """The server is strict where ot-json0 is lax (issue #12): such an op is refused
    with ``invalid_op`` and changes nothing. The client's inverse rollback can leave its
    copy different (docs/api.md: an app opens the document anew after ``invalid_op``);
    what is asserted is the refusal reaching the op's callback, the server unchanged,
    and a document opened anew showing the server's."""
    w = crew_world
    aid = await _started(w)
    a = await _connected(sharedb, ws_url, w.w1, aid)
    await a.submit(aid, [[{"p": ["answers", "notes"], "oi": "Valve"}]], wait=True)
    version, answers = await _server(w, aid)
    submitted = await a.submit(aid, [op], wait=True)
    (error,) = submitted["errors"]
    assert error.startswith("invalid_op: Component 0:"), error
    assert await _server(w, aid) == (version, answers)
    fresh = await _connected(sharedb, ws_url, w.w1, aid)
    assert (await fresh.settle(aid, v=version))["data"]["answers"] == {"notes": "Valve"}
