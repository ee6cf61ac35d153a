"""``/api/sync/ws`` speaking ShareDB's wire protocol, over a real socket (uvicorn on
a loopback port serving the module's app) on both engines: the handshake,
authentication (query string or first message), subscribe with snapshot or
catch-up, an op and its ack in order after the ops it was transformed over, other
clients' ops and REST saves pushed, refusals as ShareDB errors, presence, and the
socket closing with 4001 once the session ends."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from prework.app import create_app
from prework.store.base import Store

from ..identity.helpers import Member
from .helpers import CrewWorld, ok

TIMEOUT = 5.0


class Client:
    """A minimal ShareDB client: sends messages, reads them in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.src = ""

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
        message: dict[str, Any] = orjson.loads(raw)
        return message

    async def handshake(self) -> None:
        init = await self.recv()
        assert (init["a"], init["protocol"]) == ("init", 1), init
        await self.send({"a": "hs", "id": None, "protocol": 1, "protocolMinor": 2})
        hs = await self.recv()
        assert (hs["a"], hs["type"]) == ("hs", "http://sharejs.org/types/JSONv0"), hs
        self.src = hs["id"]


async def _open(url: str, member: Member, *, first_message: bool = False) -> Client:
    token = member.headers["Authorization"].removeprefix("Bearer ")
    if first_message:
        ws = await connect(url)
        client = Client(ws)
        await client.send({"a": "auth", "token": token})
    else:
        client = Client(await connect(f"{url}?access_token={token}"))
    await client.handshake()
    return client


async def _until_closed(client: Client) -> None:
    """Read until the server closes the socket (ConnectionClosed)."""
    for _ in range(50):
        await asyncio.wait_for(client.ws.recv(), TIMEOUT)


async def _started(w: CrewWorld) -> str:
    aid: str = (await w.assign_team())["id"]
    await ok(w.client, "POST", f"/api/assignments/{aid}/start", w.w1)
    return aid


async def test_two_clients_edit_one_document_in_order(crew_world: CrewWorld, ws_url: str) -> None:
    w = crew_world
    aid = await _started(w)
    one = await _open(ws_url, w.w1)
    two = await _open(ws_url, w.w2, first_message=True)
    await one.send({"a": "s", "c": "assignments", "d": aid})
    snap = await one.recv()
    assert snap == {
        "a": "s",
        "c": "assignments",
        "d": aid,
        "data": {"v": 1, "data": {"answers": {}, "signoffs": {}}},
    }
    await two.send({"a": "s", "c": "assignments", "d": aid})
    assert (await two.recv())["data"]["v"] == 1

    op = [{"p": ["answers", "notes"], "oi": "Valve"}]
    await one.send(
        {"a": "op", "c": "assignments", "d": aid, "v": 1, "src": one.src, "seq": 1, "op": op}
    )
    ack = await one.recv()
    assert ack == {"a": "op", "c": "assignments", "d": aid, "src": one.src, "seq": 1, "v": 1}
    pushed = await two.recv()
    assert (pushed["a"], pushed["v"], pushed["src"], pushed["op"]) == ("op", 1, one.src, op)

    # both type on version 2 at once: each gets the other's op before its own ack
    await one.send(
        {"a": "op", "c": "assignments", "d": aid, "v": 2, "src": one.src, "seq": 2,
         "op": [{"p": ["answers", "notes", 5], "si": " A"}]}
    )  # fmt: skip
    await two.send(
        {"a": "op", "c": "assignments", "d": aid, "v": 2, "src": two.src, "seq": 1,
         "op": [{"p": ["answers", "notes", 0], "si": "😀 "}]}
    )  # fmt: skip
    seen_one = [await one.recv(), await one.recv()]
    seen_two = [await two.recv(), await two.recv()]
    versions = {}
    for seen, me in ((seen_one, one), (seen_two, two)):
        kinds = [
            ("ack" if m.get("src") == me.src and "op" not in m else "op", m["v"]) for m in seen
        ]
        # the ack is at the version after the other's op when that one landed first
        assert sorted(kinds) in ([("ack", 2), ("op", 3)], [("ack", 3), ("op", 2)]), seen
        versions[me.src] = dict(kinds)["ack"]
        if dict(kinds)["ack"] == 3:
            assert kinds[0] == ("op", 2), "the op it was transformed over comes first"
    assert sorted(versions.values()) == [2, 3]
    answers = await ok(w.client, "GET", f"/api/assignments/{aid}/answers", w.w1)
    assert answers["answers"]["notes"]["value"] == "😀 Valve A"

    # a REST save is pushed like any op
    await ok(
        w.client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": {"o2": 20}}
    )
    for client in (one, two):
        m = await client.recv()
        assert (m["a"], m["v"], m["op"]) == ("op", 4, [{"p": ["answers", "o2"], "oi": 20}])
    await one.ws.close()
    await two.ws.close()


async def test_catch_up_from_a_version_and_refusals_as_sharedb_errors(
    crew_world: CrewWorld, ws_url: str
) -> None:
    w = crew_world
    aid = await _started(w)
    await ok(
        w.client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": {"o2": 20}}
    )
    await ok(
        w.client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": {"o2": 21}}
    )
    c = await _open(ws_url, w.w2)
    await c.send({"a": "s", "c": "assignments", "d": aid, "v": 1})
    first, second, reply = await c.recv(), await c.recv(), await c.recv()
    assert [(m["a"], m["v"]) for m in (first, second)] == [("op", 1), ("op", 2)]
    assert reply == {"a": "s", "c": "assignments", "d": aid}
    # an op that does not fit: a ShareDB error naming our code; nothing changes
    bad = {"a": "op", "c": "assignments", "d": aid, "v": 3, "src": c.src, "seq": 1,
           "op": [{"p": ["answers", "o2"], "od": 5}]}  # fmt: skip
    await c.send(bad)
    refused = await c.recv()
    assert refused["error"]["code"] == "invalid_op"
    assert refused["error"]["message"].startswith("invalid_op:")
    await c.send(
        {"a": "op", "c": "assignments", "d": aid, "v": 3, "src": c.src, "seq": 2, "create": {}}
    )
    assert (await c.recv())["error"]["code"] == "ERR_OP_SUBMIT_REJECTED"
    await c.send({"a": "qf", "id": 1, "c": "assignments", "q": {}})
    assert (await c.recv())["error"]["code"] == "ERR_MESSAGE_BADLY_FORMED"
    await c.send({"a": "f", "c": "elsewhere", "d": aid})
    assert (await c.recv())["error"]["code"] == "ERR_DOC_DOES_NOT_EXIST"
    await c.send({"a": "pp"})
    assert await c.recv() == {"a": "pp"}
    answers = await ok(w.client, "GET", f"/api/assignments/{aid}/answers", w.w1)
    assert answers["version"] == 3
    await c.ws.close()


async def test_presence_reaches_the_others_and_is_cleared_on_disconnect(
    crew_world: CrewWorld, ws_url: str
) -> None:
    w = crew_world
    aid = await _started(w)
    one, two = await _open(ws_url, w.w1), await _open(ws_url, w.w2)
    for c in (one, two):
        await c.send({"a": "ps", "ch": aid, "seq": 1})
        assert await c.recv() == {"a": "ps", "ch": aid, "seq": 1}
    # one subscribed first: it is asked to send its presence when two subscribes
    assert await one.recv() == {"a": "pr", "ch": aid}
    await one.send({"a": "p", "ch": aid, "id": "cursor-1", "p": {"item": "notes"}, "pv": 1})
    ack = await one.recv()
    assert (ack["a"], ack["id"], ack["pv"]) == ("p", "cursor-1", 1)
    seen = await two.recv()
    assert (seen["a"], seen["src"], seen["id"], seen["p"]) == (
        "p",
        one.src,
        "cursor-1",
        {"item": "notes"},
    )
    await one.ws.close()
    gone = await two.recv()
    assert (gone["id"], gone["p"], gone["pv"]) == ("cursor-1", None, 2)
    # an assignment the caller may not join is not a channel
    outsider = await _open(ws_url, w.worker)
    await outsider.send({"a": "ps", "ch": aid, "seq": 1})
    assert "error" in await outsider.recv()
    await two.ws.close()
    await outsider.ws.close()


async def test_no_token_and_an_ended_session_close_the_socket(
    crew_world: CrewWorld, ws_url: str, module_app: FastAPI
) -> None:
    w = crew_world
    async with connect(ws_url) as ws:
        await ws.send(orjson.dumps({"a": "hs", "protocol": 1}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4002
    async with connect(f"{ws_url}?access_token=nonsense") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4002

    member = await w.join()
    settings = module_app.state.settings
    old = settings.sync_token_recheck_seconds
    object.__setattr__(settings, "sync_token_recheck_seconds", 0.2)
    try:
        c = await _open(ws_url, member)
        r = await w.client.post("/api/auth/logout", headers=member.headers)
        assert r.status_code < 300, r.text
        with pytest.raises(ConnectionClosed) as closed:
            await _until_closed(c)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4001
    finally:
        object.__setattr__(settings, "sync_token_recheck_seconds", old)


async def test_a_member_taken_off_the_crew_loses_the_subscription(
    crew_world: CrewWorld, ws_url: str, module_app: FastAPI
) -> None:
    w = crew_world
    aid = await _started(w)
    settings = module_app.state.settings
    old = settings.sync_token_recheck_seconds
    object.__setattr__(settings, "sync_token_recheck_seconds", 0.2)
    try:
        c = await _open(ws_url, w.w2)
        await c.send({"a": "s", "c": "assignments", "d": aid})
        assert (await c.recv())["a"] == "s"
        await ok(
            w.client,
            "POST",
            f"/api/assignments/{aid}/crew",
            w.supervisor,
            json={"user_ids": [w.w1.user_id]},
        )
        ended = await c.recv()
        assert (ended["a"], ended["d"]) == ("u", aid)
        # a worker off the crew no longer sees the assignment at all
        assert ended["error"]["message"].startswith("not_found:"), ended
        await c.ws.close()
    finally:
        object.__setattr__(settings, "sync_token_recheck_seconds", old)


async def test_events_of_other_areas_reach_a_socket_that_opted_in(
    crew_world: CrewWorld, ws_url: str
) -> None:
    w = crew_world
    aid, other = await _started(w), await _started(w)
    c = await _open(ws_url, w.w2)
    await c.send({"a": "s", "c": "assignments", "d": aid})
    assert (await c.recv())["a"] == "s"
    await c.send({"a": "x-events"})
    assert await c.recv() == {"a": "x-events", "on": True}
    await ok(w.client, "POST", f"/api/assignments/{other}/signoff", w.w1)  # not subscribed
    await ok(w.client, "POST", f"/api/assignments/{aid}/signoff", w.w1)
    got = {m["a"]: m for m in (await c.recv(), await c.recv())}
    assert set(got) == {"op", "x-event"}  # the sign-off's operation, and its event
    event = got["x-event"]["event"]
    assert (event["type"], event["assignment_id"]) == ("assignment.signed_off", aid)
    await c.ws.close()


async def test_a_file_confirmed_for_the_assignment_reaches_its_collaborators(
    crew_world: CrewWorld, ws_url: str
) -> None:
    w = crew_world
    aid = await _started(w)
    c = await _open(ws_url, w.w2)
    await c.send({"a": "s", "c": "assignments", "d": aid})
    assert (await c.recv())["a"] == "s"
    await c.send({"a": "x-events"})
    assert await c.recv() == {"a": "x-events", "on": True}
    data = b"%PDF-1.7\n" + b"0" * 500 + b"\n%%EOF\n"  # what sniffs as a PDF
    granted = await ok(
        w.client,
        "POST",
        "/api/media/upload-url",
        w.w1,
        json={
            "filename": "permit.pdf",
            "content_type": "application/pdf",
            "size": len(data),
            "purpose": "document",
            "target": {"assignment_id": aid},
        },
    )
    form = granted["upload"]
    sent = await w.client.post(
        form["url"], data=form["fields"], files={"file": ("f", data, "application/pdf")}
    )
    assert sent.status_code == 204, sent.text
    media_id = granted["media"]["id"]
    await ok(w.client, "POST", "/api/media/confirm-upload", w.w1, json={"media_id": media_id})
    got = await c.recv()
    assert got["a"] == "x-event"
    event = got["event"]
    assert (event["type"], event["assignment_id"], event["media_id"]) == (
        "media.ready",
        aid,
        media_id,
    )
    await c.ws.close()


async def test_a_subscription_behind_the_kept_history_is_refused_and_not_kept(
    crew_world: CrewWorld,
    ws_url: str,
    module_store: Store,
    module_app: FastAPI,
    app_client: Callable[[FastAPI], AbstractAsyncContextManager[httpx.AsyncClient]],
) -> None:
    w = crew_world
    aid = await _started(w)
    url = f"/api/assignments/{aid}/answers"
    # saved through another node: this one keeps nothing of them in memory
    async with app_client(create_app(module_app.state.settings, store=module_store)) as node:
        for value in (20, 21):
            await ok(node, "PATCH", url, w.w1, json={"answers": {"o2": value}})
    await module_store.delete(
        "sessions", {"pk": f"ORG#{w.org_id}#DOC#{aid}", "sk": "OP#000000000002"}
    )  # as after the log's retention
    c = await _open(ws_url, w.w2)
    await c.send({"a": "s", "c": "assignments", "d": aid, "v": 1})
    refused = await c.recv()
    assert (refused["a"], refused["error"]["code"]) == ("s", "stale_version")
    await ok(
        w.client, "PATCH", f"/api/assignments/{aid}/answers", w.w1, json={"answers": {"o2": 22}}
    )
    await c.send({"a": "pp"})
    assert await c.recv() == {"a": "pp"}  # nothing of the document was pushed meanwhile
    await c.ws.close()


async def test_a_socket_keeps_the_request_id_it_was_opened_with(
    crew_world: CrewWorld, ws_url: str
) -> None:
    """The socket is served in front of the middleware (prework.http.sockets): the
    request id still comes from ``X-Request-ID`` (or is made) and reaches its audit."""
    w = crew_world
    aid = await _started(w)
    token = w.w1.headers["Authorization"].removeprefix("Bearer ")
    given = "socket-request-0123456789"
    async with connect(
        f"{ws_url}?access_token={token}", additional_headers={"X-Request-ID": given}
    ) as ws:
        c = Client(ws)
        await c.handshake()
        await c.send({"a": "s", "c": "assignments", "d": aid})
        assert (await c.recv())["a"] == "s"
    c = await _open(ws_url, w.w1)  # no header: one is made
    await c.send({"a": "s", "c": "assignments", "d": aid})
    assert (await c.recv())["a"] == "s"
    await c.ws.close()
    r = await w.client.get("/api/audit", params={"action": "sync.joined"}, headers=w.admin.headers)
    assert r.status_code == 200, r.text
    ids = [e["request_id"] for e in r.json()["items"] if e["target_id"] == aid]
    assert len(ids) == 2, ids
    assert given in ids
    made = next(i for i in ids if i != given)
    assert re.fullmatch(r"[0-9a-f]{32}", made), made
