"""The one error hierarchy of Prework.

Every error a service, a port or an adapter raises is a :class:`PreworkError`.
Each carries a stable machine-readable ``code`` (part of the public API: clients
switch on it), a human ``message`` and optional ``details``. The HTTP mapping
lives in exactly one place (:mod:`prework.http.errors`), which reads ``status``.

    PreworkError                      code                  status
    ├── BadRequest                    bad_request           400
    │   └── MalformedBody             malformed_body        400
    ├── Unauthenticated               unauthenticated       401
    ├── Forbidden                     forbidden             403
    ├── NotFound                      not_found             404
    ├── Conflict                      conflict              409
    │   ├── AlreadyExists             already_exists        409
    │   ├── StaleVersion              stale_version         409
    │   ├── WriteConflict             transaction_conflict  409
    │   └── ConditionFailed           condition_failed      409
    │       └── TransactionCanceled   transaction_canceled  409
    ├── TooLarge                      too_large             413
    ├── RangeNotSatisfiable           range_not_satisfiable 416
    ├── ValidationFailed              validation_failed     422
    │   └── LimitExceeded             limit_exceeded        422
    ├── RateLimited                   rate_limited          429
    ├── Internal                      internal              500
    └── Unavailable                   unavailable           503

Adapters translate vendor errors (botocore ``ClientError``, ``sqlite3.Error``,
``OSError``) into this hierarchy at their boundary and keep the vendor error as
``__cause__`` (``raise ConditionFailed(...) from exc``). Nothing above the
adapters ever sees a vendor exception.

A subclass may be raised with a more specific ``code`` (for example
``AlreadyExists("User already exists", code="user_exists")``); the status stays
the class's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "BadRequest",
    "ConditionFailed",
    "Conflict",
    "Forbidden",
    "Internal",
    "LimitExceeded",
    "MalformedBody",
    "NotFound",
    "PreworkError",
    "RangeNotSatisfiable",
    "RateLimited",
    "StaleVersion",
    "TooLarge",
    "TransactionCanceled",
    "Unauthenticated",
    "Unavailable",
    "ValidationFailed",
    "WriteConflict",
]


class PreworkError(Exception):
    """Base of every error Prework raises on purpose."""

    code: ClassVar[str] = "error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Something went wrong."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or type(self).code  # type: ignore[misc]
        self.details: dict[str, Any] = dict(details or {})
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """The body of the ``error`` member of the JSON envelope."""
        return {"code": self.code, "message": self.message, "details": self.details}


class BadRequest(PreworkError):
    code = "bad_request"
    status = 400
    default_message = "The request could not be understood."


class MalformedBody(BadRequest):
    code = "malformed_body"
    default_message = "The request body is not valid JSON."


class Unauthenticated(PreworkError):
    code = "unauthenticated"
    status = 401
    default_message = "Authentication is required."


class Forbidden(PreworkError):
    code = "forbidden"
    status = 403
    default_message = "You are not allowed to do this."


class NotFound(PreworkError):
    code = "not_found"
    status = 404
    default_message = "Not found."


class Conflict(PreworkError):
    code = "conflict"
    status = 409
    default_message = "The request conflicts with the current state."


class AlreadyExists(Conflict):
    code = "already_exists"
    default_message = "It already exists."


class StaleVersion(Conflict):
    code = "stale_version"
    default_message = "The object was changed by someone else; reload and try again."


class WriteConflict(Conflict):
    """Another transaction was writing one of the items at the same moment (DynamoDB's
    ``TransactionConflict``); nothing was written, and the same write may succeed
    when sent again."""

    code = "transaction_conflict"
    default_message = "Another change to the same data was in progress; try again."


class ConditionFailed(Conflict):
    """A store write's condition did not hold; nothing was written."""

    code = "condition_failed"
    default_message = "A write condition did not hold."


class TransactionCanceled(ConditionFailed):
    """A ``transact_write`` was canceled as a whole; nothing was written.

    ``failed_indexes`` lists the positions (0-based, in the order given) of the
    operations whose condition failed; ``details["failed_indexes"]`` holds the
    same list.
    """

    code = "transaction_canceled"
    default_message = "The transaction was canceled; nothing was written."

    def __init__(
        self,
        message: str | None = None,
        *,
        failed_indexes: Sequence[int] = (),
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.failed_indexes = list(failed_indexes)
        merged = {"failed_indexes": self.failed_indexes, **(details or {})}
        super().__init__(message, code=code, details=merged)


class TooLarge(PreworkError):
    code = "too_large"
    status = 413
    default_message = "The payload is too large."


class RangeNotSatisfiable(PreworkError):
    """A download's byte range lies outside the object, of ``size`` bytes."""

    code = "range_not_satisfiable"
    status = 416
    default_message = "The requested range is outside the object."

    def __init__(
        self,
        message: str | None = None,
        *,
        size: int,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.size = size
        super().__init__(message, code=code, details=details)


class ValidationFailed(PreworkError):
    code = "validation_failed"
    status = 422
    default_message = "The input is not valid."


class LimitExceeded(ValidationFailed):
    """A call asked for more than the engine allows (batch or transaction size)."""

    code = "limit_exceeded"
    default_message = "The request exceeds a limit."


class RateLimited(PreworkError):
    code = "rate_limited"
    status = 429
    default_message = "Too many requests; try again later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int = 1,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self.retry_after = max(1, int(retry_after))
        merged = {"retry_after": self.retry_after, **(details or {})}
        super().__init__(message, code=code, details=merged)


class Internal(PreworkError):
    code = "internal"
    status = 500
    default_message = "An internal error occurred."


class Unavailable(PreworkError):
    code = "unavailable"
    status = 503
    default_message = "A backing service is unavailable."
