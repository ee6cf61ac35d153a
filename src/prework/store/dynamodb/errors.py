"""DynamoDB's errors as Prework's (:mod:`prework.errors`).

Every call the DynamoDB adapter makes may raise one of :data:`VENDOR_ERRORS`;
the adapter raises :func:`translate` of it instead, ``from`` it. What reaches a
client carries our message only: DynamoDB's own text stays in ``__cause__``
and the log.
"""

from __future__ import annotations

import logging
from typing import Final

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from prework.errors import (
    ConditionFailed,
    Internal,
    PreworkError,
    TooLarge,
    TransactionCanceled,
    Unavailable,
    ValidationFailed,
    WriteConflict,
)

__all__ = ["VENDOR_ERRORS", "error_code", "translate", "validation_error"]

_log = logging.getLogger(__name__)
# what a call to DynamoDB (botocore, its HTTP client, the network) may raise
VENDOR_ERRORS: Final = (ClientError, BotoCoreError, aiohttp.ClientError, TimeoutError, OSError)

_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "AccessDeniedException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def validation_error(message: str) -> PreworkError:
    """A DynamoDB ValidationException as the error the embedded backends raise.

    The shared validation (:class:`~prework.store.adapter.StoreAdapter`)
    rejects what DynamoDB would, before anything is sent, so little gets here
    (an update's result over 400 KB, a stored attribute of another type). The
    error carries our message only: DynamoDB's text goes to the log and stays in
    the cause.
    """
    lowered = message.lower()
    error: PreworkError
    expected = True
    if "starting key" in lowered or "exclusive start key" in lowered:
        error = ValidationFailed(
            "the cursor is malformed or belongs to another query", code="invalid_cursor"
        )
    elif "item size" in lowered and "exceeded" in lowered:
        error = TooLarge("the item would exceed 400 KB")
    elif any(marker in lowered for marker in _KEY_MARKERS):
        error = ValidationFailed("a key value is not valid", code="invalid_key")
        expected = False  # the shared validation should have caught it
    elif "incorrect data type" in lowered or "operand type" in lowered:
        error = ValidationFailed(
            "an update does not fit the type of a stored attribute", code="invalid_update"
        )
    elif "precision" in lowered or "overflow" in lowered or "underflow" in lowered:
        error = ValidationFailed("a number is out of range", code="invalid_value")
    elif "duplicates" in lowered:
        error = ValidationFailed("the keys must be distinct", code="duplicate_key")
    else:
        error = ValidationFailed("the store rejected the request as invalid")
        expected = False
    _log.log(
        logging.DEBUG if expected else logging.WARNING,
        "DynamoDB rejected a request (%s): %s",
        error.code,
        message,
    )
    return error


# what DynamoDB says of a key value it refuses (too long, empty, of another type)
_KEY_MARKERS: Final = (
    "primary key values must be under",
    "size limit exceeded",
    "aggregated size of all range keys",
    "empty string value",
    "type mismatch for index key",
    "secondary index key",
)


def translate(exc: BaseException) -> PreworkError:
    """The Prework error for a vendor error (the caller raises it ``from exc``)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code == "ConditionalCheckFailedException":
            return ConditionFailed("the write condition did not hold; nothing was written")
        if code == "TransactionCanceledException":
            return TransactionCanceled()
        if code == "ValidationException":
            return validation_error(message)
        if code == "ResourceNotFoundException":
            return Unavailable("a DynamoDB table is missing; run prework init")
        if code == "TransactionConflictException":
            return WriteConflict("another transaction is writing the item")
        if code == "UnrecognizedClientException":
            return Unavailable(
                "DynamoDB did not accept the access key (DynamoDB Local accepts only keys "
                "made of letters and digits)"
            )
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in _UNAVAILABLE_CODES or status >= 500:
            return Unavailable(f"DynamoDB refused the request ({code or status})")
        _log.warning("unexpected DynamoDB error %s: %s", code, message)
        return Internal(f"unexpected DynamoDB error {code}")
    return Unavailable(f"DynamoDB is unreachable ({type(exc).__name__})")
