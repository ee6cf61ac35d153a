"""``Idempotency-Key``: a creating POST sent again gets the first answer, not a second object.

Every authenticated creating route (``POST`` answering ``201``) honours the header
(1..255 visible ASCII characters, chosen by the client, e.g. a UUID). The first
request with a key reserves it, runs, and stores its successful answer (status,
body, ``Content-Type``/``Location``/``ETag``) for :data:`RETENTION_SECONDS`; a request
with the same key from the same user then gets that answer again, marked
``Idempotent-Replayed: true``, and the route does not run. Keys are scoped to the
authenticated user in their organization, so one user's key never reaches another's
answer; a request without a valid bearer token is not idempotent (it runs, and its
401 is answered as usual).

Answers:

* same key, different request (method, path, query or body): 422
  ``idempotency_key_reused``; nothing runs;
* same key while the first request is still running: 409 ``idempotency_in_progress``
  with ``Retry-After``;
* a request that failed (any error answer) stores nothing: sending it again runs it
  again;
* a request whose process died mid-way holds its key for :data:`LEASE_SECONDS`; after
  that a retry takes the key over and runs the route again, and a route whose creation
  takes several writes derives its object's id from the key
  (``RequestContext.idempotency_key``, :func:`prework.core.ids.derived_id`) so the retry
  finishes the same object.

Records live in the ``sessions`` table (TTL) keyed ``IDEM#<digest of org, user, key>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from prework.core.ids import new_id
from prework.core.principal import Principal
from prework.errors import ConditionFailed, Conflict, Unauthenticated, ValidationFailed
from prework.http.bodies import BoundedJSONRoute
from prework.http.deps import authenticator
from prework.http.security import IDEMPOTENCY_HEADER as HEADER
from prework.http.security import bearer_token, idempotency_key_of
from prework.store.base import All, AttrEquals, ItemExists, ItemNotExists, Key, Store, UpdateSpec

__all__ = [
    "HEADER",
    "LEASE_SECONDS",
    "RETENTION_SECONDS",
    "IdempotentRoute",
    "creates",
    "idempotency_key_of",
]

RETENTION_SECONDS: Final = 24 * 3600
LEASE_SECONDS: Final = 60
MAX_STORED_BODY: Final = 256 * 1024  # a larger answer is not kept (the store caps items)
_TABLE: Final = "sessions"
_KIND: Final = "idempotency"
_KEPT_HEADERS: Final = ("content-type", "location", "etag")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def creates(route: APIRoute) -> bool:
    """Whether ``route`` creates something: a POST answering 201."""
    return route.status_code == 201 and (route.methods or set()) == {"POST"}


def _record_key(principal: Principal, key: str) -> Key:
    subject = "\x1f".join((principal.org_id, principal.user_id, key))
    digest = hashlib.sha256(subject.encode("ascii")).hexdigest()[:32]
    return {"pk": f"IDEM#{digest}", "sk": "IDEM"}


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\x00")
    digest.update(body)
    return digest.hexdigest()


def _replay(record: Mapping[str, Any]) -> Response:
    headers = dict(record.get("headers") or {})
    headers["Idempotent-Replayed"] = "true"
    return Response(
        content=str(record["body"]).encode("utf-8"),
        status_code=int(record["status"]),
        headers=headers,
    )


def _in_progress() -> Conflict:
    return Conflict(
        "A request with this Idempotency-Key is still running; try again in a moment.",
        code="idempotency_in_progress",
        details={"retry_after": 1},
    )


class _Reservation:
    """The key, reserved for this request (``owner``) until its answer is stored."""

    def __init__(self, store: Store, key: Key, owner: str) -> None:
        self.store, self.key, self.owner = store, key, owner

    async def complete(self, response: Response) -> None:
        body = bytes(response.body)
        if len(body) > MAX_STORED_BODY:
            await self.release()
            return
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            await self.release()
            return
        headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
        # taken over after our lease ran out: the later request's answer stands
        with contextlib.suppress(ConditionFailed):
            await self.store.update(
                _TABLE,
                self.key,
                UpdateSpec(
                    set={
                        "state": "done",
                        "status": response.status_code,
                        "body": text,
                        "headers": headers,
                    },
                    remove=["lease_until"],
                ),
                condition=AttrEquals("owner", self.owner),
            )

    async def release(self) -> None:
        with contextlib.suppress(ConditionFailed):
            await self.store.delete(_TABLE, self.key, condition=AttrEquals("owner", self.owner))


async def _reserve(store: Store, key: Key, fingerprint: str, now: float) -> _Reservation | Response:
    """Reserve ``key`` for this request, or the stored answer to replay."""
    owner = new_id()
    record: dict[str, Any] | None = {
        **key,
        "kind": _KIND,
        "state": "running",
        "fingerprint": fingerprint,
        "owner": owner,
        "lease_until": int(now) + LEASE_SECONDS,
        "expires_at": int(now) + RETENTION_SECONDS,
    }
    assert record is not None
    try:
        await store.put(_TABLE, record, condition=ItemNotExists())
    except ConditionFailed:
        record = await store.get(_TABLE, key)
        if record is None:  # expired or released in between: the client may simply retry
            raise _in_progress() from None
    else:
        return _Reservation(store, key, owner)
    if record.get("fingerprint") != fingerprint:
        raise ValidationFailed(
            "This Idempotency-Key was used for another request.", code="idempotency_key_reused"
        )
    if record.get("state") == "done":
        return _replay(record)
    if float(record.get("lease_until", 0)) > now:
        raise _in_progress()
    # the request that held the key stopped answering (a crash): take the key over
    try:
        await store.update(
            _TABLE,
            key,
            UpdateSpec(set={"owner": owner, "lease_until": int(now) + LEASE_SECONDS}),
            condition=All(ItemExists(), AttrEquals("owner", record["owner"])),
        )
    except ConditionFailed:
        raise _in_progress() from None
    return _Reservation(store, key, owner)


def _replaying(request: Request, body: bytes) -> Request:
    """A request that reads ``body`` (already read from the client) again."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return Request(request.scope, receive, request._send)


def idempotent(handler: Handler) -> Handler:
    """``handler`` with ``Idempotency-Key`` honoured (for a creating route)."""

    async def run(request: Request) -> Response:
        key = idempotency_key_of(request)
        if key is None:
            return await handler(request)
        try:
            principal = await authenticator(request).authenticate(bearer_token(request))
        except Unauthenticated:
            return await handler(request)  # not idempotent; the route answers the 401
        body = await request.body()
        store: Store = request.app.state.store
        reserved = await _reserve(
            store, _record_key(principal, key), _fingerprint(request, body), time.time()
        )
        if isinstance(reserved, Response):
            return reserved
        try:
            response = await handler(_replaying(request, body))
        except BaseException:
            await reserved.release()
            raise
        if 200 <= response.status_code < 300:
            await reserved.complete(response)
        else:
            await reserved.release()
        return response

    return run


class IdempotentRoute(BoundedJSONRoute):
    """A bounded-JSON route that honours ``Idempotency-Key`` when it creates something
    (the key's replay wraps the bounded parsing: a replayed answer parses nothing)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if creates(self):
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [
                *extra.get("parameters", []),
                {
                    "name": HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Send the request again with the same key to get its "
                    "first answer instead of a second object (24 hours).",
                    "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
                },
            ]
            self.openapi_extra = extra

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        return idempotent(handler) if creates(self) else handler
