"""Request and response models of ``POST /api/sync`` (one action per request)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from prework.checklists.editing import Committed
from prework.http.schemas import MAX_ID_LENGTH, Strict, json_integer
from prework.sync.json0 import DEFAULT_LIMITS
from prework.sync.oplog import LoggedOp
from prework.sync.service import Joined, Participant

__all__ = [
    "AckRead",
    "JoinedRead",
    "LeftRead",
    "OperationsRead",
    "SyncAnswer",
    "SyncRequest",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
ClientId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$"),
    Field(description="The client's own id (ShareDB's src): letters, digits, _ . : -"),
]
Count = Annotated[int, Field(strict=True, ge=0, le=2**53 - 1), BeforeValidator(json_integer)]
DocVersion = Annotated[
    int,
    Field(strict=True, ge=1, le=2**53 - 1, description="A version of the document"),
    BeforeValidator(json_integer),
]
Operation = Annotated[
    list[dict[str, Any]],
    Field(
        max_length=DEFAULT_LIMITS.max_components,
        description="A json0 operation: components such as "
        '{"p": ["answers", "<item id>"], "oi": "yes"} or '
        '{"p": ["answers", "<item id>", 3], "si": "text"} (string offsets in UTF-16 units)',
    ),
]


class JoinSession(Strict):
    action: Literal["join_session"]
    assignment_id: Id
    client_id: ClientId | None = None


class ApplyOperation(Strict):
    action: Literal["apply_operation"]
    assignment_id: Id
    session_id: Id
    op: Operation
    version: DocVersion = Field(description="The version the operation was made on")
    seq: Count = Field(description="The client's sequence number of this operation")


class GetOperations(Strict):
    action: Literal["get_operations"]
    assignment_id: Id
    session_id: Id
    since: DocVersion = Field(description="The operations after this version")


class LeaveSession(Strict):
    action: Literal["leave_session"]
    assignment_id: Id
    session_id: Id


SyncRequest = Annotated[
    JoinSession | ApplyOperation | GetOperations | LeaveSession,
    Field(discriminator="action"),
]


class ParticipantRead(BaseModel):
    session_id: str
    user_id: str
    client_id: str | None
    read_only: bool
    joined_at: str
    seen_at: str

    @classmethod
    def of(cls, p: Participant) -> ParticipantRead:
        return cls(
            session_id=p.session_id,
            user_id=p.user_id,
            client_id=p.client_id,
            read_only=p.read_only,
            joined_at=p.joined_at,
            seen_at=p.seen_at,
        )


class JoinedRead(BaseModel):
    action: Literal["join_session"] = "join_session"
    session_id: str
    assignment_id: str
    data: dict[str, Any] = Field(
        description='The document: {"answers": {item id: value}, "signoffs": {user id: '
        '{"at", "version"}}}'
    )
    version: int
    read_only: bool
    participants: list[ParticipantRead]

    @classmethod
    def of(cls, joined: Joined) -> JoinedRead:
        return cls(
            session_id=joined.session_id,
            assignment_id=joined.assignment_id,
            data=joined.content,
            version=joined.version,
            read_only=joined.read_only,
            participants=[ParticipantRead.of(p) for p in joined.participants],
        )


class AckRead(BaseModel):
    action: Literal["apply_operation"] = "apply_operation"
    assignment_id: str
    version: int = Field(description="The version the operation made")
    duplicate: bool = Field(description="It was committed before (a resubmit): not applied again")

    @classmethod
    def of(cls, assignment_id: str, committed: Committed) -> AckRead:
        return cls(
            assignment_id=assignment_id, version=committed.version, duplicate=committed.duplicate
        )


class OperationRead(BaseModel):
    version: int = Field(description="The version this operation made (it applies to version - 1)")
    op: list[dict[str, Any]]
    src: str
    seq: int | None
    by: str | None
    at: str
    kind: str

    @classmethod
    def of(cls, o: LoggedOp) -> OperationRead:
        return cls(version=o.version, op=o.op, src=o.src, seq=o.seq, by=o.by, at=o.at, kind=o.kind)


class OperationsRead(BaseModel):
    action: Literal["get_operations"] = "get_operations"
    assignment_id: str
    version: int = Field(description="The document's current version")
    operations: list[OperationRead]


class LeftRead(BaseModel):
    action: Literal["leave_session"] = "leave_session"
    assignment_id: str
    session_id: str


SyncAnswer = JoinedRead | AckRead | OperationsRead | LeftRead
