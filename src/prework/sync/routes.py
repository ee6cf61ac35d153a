"""``POST /api/sync``: the seed's real-time sync actions over HTTP (join_session,
apply_operation, get_operations, leave_session). The WebSocket speaks ShareDB's
protocol over the same service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, WebSocket, WebSocketDisconnect
from fastapi.datastructures import QueryParams

from prework.http.bodies import body_bounds
from prework.http.deps import area_services, authenticator
from prework.http.openapi import answers
from prework.http.routing import APIRouter
from prework.http.security import Ctx, CurrentPrincipal, request_context
from prework.http.sockets import front_socket
from prework.sync.schemas import (
    AckRead,
    ApplyOperation,
    GetOperations,
    JoinedRead,
    JoinSession,
    LeftRead,
    OperationRead,
    OperationsRead,
    SyncAnswer,
    SyncRequest,
)
from prework.sync.service import SyncService
from prework.sync.sharedb import Agent, SocketClosed

__all__ = ["router"]

_sync_services = area_services("sync", SyncService)
SyncDep = Annotated[SyncService, Depends(_sync_services)]
router = APIRouter(prefix="/api/sync", tags=["sync"])
# an operation carries at most 256 components of at most 64 KB each, but one request
# needs no more than an answers document does
SYNC_BODY = body_bounds(max_bytes=512 * 1024)


@router.post(
    "",
    summary="Real-time sync of an assignment's answers: join_session, apply_operation, "
    "get_operations, leave_session",
    responses={
        **answers(404),
        403: {"description": "`forbidden`, `not_on_crew`, `read_only`"},
        404: {"description": "`not_found`, `session_not_found`"},
        409: {"description": "`stale_version` (join again), `invalid_transition`, `conflict`"},
        422: {
            "description": "`invalid_op` (`details.component`), `invalid_answers`, "
            "`invalid_version`, `document_too_large`, `validation_failed`"
        },
    },
)
@SYNC_BODY
async def sync(
    body: SyncRequest, principal: CurrentPrincipal, service: SyncDep, ctx: Ctx
) -> SyncAnswer:
    if isinstance(body, JoinSession):
        joined = await service.join(
            principal=principal, ctx=ctx, assignment_id=body.assignment_id, client_id=body.client_id
        )
        return JoinedRead.of(joined)
    if isinstance(body, ApplyOperation):
        committed = await service.apply(
            principal=principal,
            ctx=ctx,
            assignment_id=body.assignment_id,
            session_id=body.session_id,
            op=body.op,
            version=body.version,
            seq=body.seq,
        )
        return AckRead.of(body.assignment_id, committed)
    if isinstance(body, GetOperations):
        ops, version = await service.operations(
            principal=principal,
            ctx=ctx,
            assignment_id=body.assignment_id,
            session_id=body.session_id,
            since=body.since,
        )
        return OperationsRead(
            assignment_id=body.assignment_id,
            version=version,
            operations=[OperationRead.of(o) for o in ops],
        )
    await service.leave(
        principal=principal, ctx=ctx, assignment_id=body.assignment_id, session_id=body.session_id
    )
    return LeftRead(assignment_id=body.assignment_id, session_id=body.session_id)


@front_socket(router, "/ws")
async def sync_socket(websocket: WebSocket) -> None:
    """ShareDB's protocol (:mod:`prework.sync.sharedb`); the access token in
    ``?access_token=`` or a first message ``{"a": "auth", "token": ...}``. Served in
    front of the middleware (:mod:`prework.http.sockets`): no dependencies."""
    service = await _sync_services(websocket)
    agent = Agent(
        _Socket(websocket),
        service=service,
        authenticator=authenticator(websocket),
        pubsub=service.pubsub,
        ctx=await request_context(websocket),
        recheck_seconds=websocket.app.state.settings.sync_token_recheck_seconds,
    )
    await agent.run()


class _Socket:
    """Starlette's WebSocket as the agent's :class:`~prework.sync.sharedb.Socket`."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    @property
    def query_params(self) -> Mapping[str, str]:
        # parsed for the asking, not kept (Starlette's property keeps its parse with
        # the socket: ~700 bytes an idle client)
        return QueryParams(self._ws.scope["query_string"])

    async def accept(self) -> None:
        await self._ws.accept()

    async def receive_text(self) -> str:
        try:
            return await self._ws.receive_text()
        except WebSocketDisconnect as exc:
            raise SocketClosed() from exc

    async def send_text(self, data: str) -> None:
        try:
            await self._ws.send_text(data)
        except (WebSocketDisconnect, RuntimeError) as exc:  # RuntimeError: already closed
            raise SocketClosed() from exc

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)
