"""The Python floor of bench/bench_sync.py: the least a ShareDB server on Prework's
stack does (uvicorn, its websockets-sansio protocol, uvloop, httptools, orjson,
no per-message compression, as ``prework serve``), to tell what the stack costs from
what Prework adds.

    python floor_server.py <port> <docs.json>

docs.json as for sharedb_server.js. A pure ASGI app speaking ShareDB's wire protocol
to the unmodified client: handshake, subscribe and fetch (the snapshot), ``op`` (the
next version: acknowledged to its sender, sent to every other subscriber of the
document, in order), ``pp``. Nothing else: no authentication, no storage, no
transform (the bench's clients type into items of their own, so the operations
commute), no checks. It keeps each document's operations and applies them to the
snapshot (with :mod:`prework.sync.json0`) only when someone subscribes or fetches.
Prints "ready <port>" once it accepts connections.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import orjson
import uvicorn

from prework.sync import json0

_INIT = {"protocol": 1, "protocolMinor": 2, "type": "http://sharejs.org/types/JSONv0"}


class Doc:
    __slots__ = ("data", "pending", "subscribers", "version")

    def __init__(self, data: Any) -> None:
        self.data = data
        self.version = 1  # ShareDB's version after its create
        self.pending: list[Any] = []  # operations not applied to data yet
        self.subscribers: dict[int, Any] = {}  # connection id -> its send

    def snapshot(self) -> dict[str, Any]:
        for op in self.pending:
            self.data = json0.apply(self.data, op)
        self.pending.clear()
        return {"v": self.version, "data": self.data}


class Floor:
    def __init__(self, collection: str, docs: dict[str, Any]) -> None:
        self.collection = collection
        self.docs = {doc_id: Doc(data) for doc_id, data in docs.items()}
        self.next_id = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        self.next_id += 1
        me = self.next_id
        src = f"floor{me}"

        async def reply(message: dict[str, Any]) -> None:
            await send({"type": "websocket.send", "text": orjson.dumps(message).decode()})

        subscribed: list[Doc] = []
        await reply({"a": "init", "id": src, **_INIT})
        try:
            while True:
                event = await receive()
                if event["type"] == "websocket.disconnect":
                    return
                m = orjson.loads(event.get("text") or event.get("bytes") or b"null")
                action = m.get("a")
                if action == "op":
                    doc = self.docs[m["d"]]
                    v = doc.version
                    doc.version += 1
                    doc.pending.append(m["op"])
                    ack = {"a": "op", "c": m["c"], "d": m["d"], "v": v, "src": src}
                    ack["seq"] = m.get("seq")
                    await reply(ack)
                    text = orjson.dumps({**ack, "op": m["op"]}).decode()
                    for other, other_send in list(doc.subscribers.items()):
                        if other != me:
                            await other_send({"type": "websocket.send", "text": text})
                elif action in ("s", "f"):
                    doc = self.docs[m["d"]]
                    if action == "s":
                        doc.subscribers[me] = send
                        subscribed.append(doc)
                    await reply({"a": action, "c": m["c"], "d": m["d"], "data": doc.snapshot()})
                elif action == "hs":
                    await reply({"a": "hs", "id": src, **_INIT})
                elif action == "pp":
                    await reply({"a": "pp"})
        finally:
            for doc in subscribed:
                doc.subscribers.pop(me, None)


def main() -> None:
    port, docs_path = int(sys.argv[1]), Path(sys.argv[2])
    spec = json.loads(docs_path.read_text())
    app = Floor(spec["collection"], spec["docs"])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        loop="uvloop",
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        sys.stdout.write(f"ready {port}\n")
        sys.stdout.flush()

    server.startup = startup  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main()
