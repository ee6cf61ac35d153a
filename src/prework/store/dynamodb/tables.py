"""DynamoDB tables for the store: what ``init`` creates when it is missing.

One table per logical table (``pk``/``sk`` string keys, on-demand billing),
each declared index as a global secondary index keyed by ``gsiNpk``/``gsiNsk``
projecting all attributes, and TTL on ``expires_at`` for tables that have it.
An index the table has but the schema does not declare is left alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

from botocore.exceptions import ClientError

from prework.errors import Internal, Unavailable
from prework.store.base import TTL_ATTR
from prework.store.dynamodb.errors import VENDOR_ERRORS, error_code, translate
from prework.store.schema import TableDef

__all__ = ["Send", "init_table"]

# a call to DynamoDB, operation and parameters, vendor errors raised as they are
Send: TypeAlias = Callable[[str, Mapping[str, Any]], Awaitable[dict[str, Any]]]

# how long init waits for tables and indexes to become ACTIVE (AWS can be slow)
_ACTIVE_TIMEOUT: Final = 900.0


async def init_table(send: Send, name: str, tdef: TableDef) -> None:
    """Create table ``name`` of ``tdef``, its missing indexes and its TTL setting
    as far as they are missing (idempotent; safe against a concurrent init)."""
    description = await _describe(send, name)
    if description is None:
        await _create_table(send, name, tdef)
        description = await _wait_active(send, name)
    present = {gsi["IndexName"] for gsi in description.get("GlobalSecondaryIndexes", [])}
    for index in tdef.indexes:
        if index not in present:
            # DynamoDB adds one index per UpdateTable call
            try:
                await send("update_table", _add_index_params(name, index))
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise translate(exc) from exc
            except VENDOR_ERRORS as exc:
                raise translate(exc) from exc
            await _wait_active(send, name)
    if tdef.ttl:
        await _enable_ttl(send, name)


async def _describe(send: Send, name: str) -> dict[str, Any] | None:
    try:
        response = await send("describe_table", {"TableName": name})
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise translate(exc) from exc
    except VENDOR_ERRORS as exc:
        raise translate(exc) from exc
    table: dict[str, Any] = response["Table"]
    return table


def _gsi(index: str) -> dict[str, Any]:
    return {
        "IndexName": index,
        "KeySchema": [
            {"AttributeName": f"{index}pk", "KeyType": "HASH"},
            {"AttributeName": f"{index}sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def _attribute_definitions(names: Sequence[str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": "S"} for n in names]


async def _create_table(send: Send, name: str, tdef: TableDef) -> None:
    attrs = ["pk", "sk"] + [f"{i}{part}" for i in tdef.indexes for part in ("pk", "sk")]
    params: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": _attribute_definitions(attrs),
    }
    if tdef.indexes:
        params["GlobalSecondaryIndexes"] = [_gsi(i) for i in tdef.indexes]
    try:
        await send("create_table", params)
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":  # created by a concurrent init
            raise translate(exc) from exc
    except VENDOR_ERRORS as exc:
        raise translate(exc) from exc


def _add_index_params(name: str, index: str) -> dict[str, Any]:
    return {
        "TableName": name,
        "AttributeDefinitions": _attribute_definitions([f"{index}pk", f"{index}sk"]),
        "GlobalSecondaryIndexUpdates": [{"Create": _gsi(index)}],
    }


async def _wait_active(send: Send, name: str) -> dict[str, Any]:
    """Poll until the table and its indexes are ACTIVE (at once on DynamoDB Local)."""
    deadline = time.monotonic() + _ACTIVE_TIMEOUT
    delay = 0.2
    while True:
        description = await _describe(send, name)
        if description is not None and description.get("TableStatus") == "ACTIVE":
            indexes = description.get("GlobalSecondaryIndexes", [])
            if all(gsi.get("IndexStatus") == "ACTIVE" for gsi in indexes):
                return description
        if time.monotonic() > deadline:
            raise Unavailable(f"table {name} did not become ACTIVE")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _enable_ttl(send: Send, name: str) -> None:
    try:
        described = await send("describe_time_to_live", {"TableName": name})
    except VENDOR_ERRORS as exc:
        raise translate(exc) from exc
    ttl = described.get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        if ttl.get("AttributeName") != TTL_ATTR:
            raise Internal(f"table {name} expires items by {ttl.get('AttributeName')!r}")
        return
    spec = {"Enabled": True, "AttributeName": TTL_ATTR}
    try:
        await send("update_time_to_live", {"TableName": name, "TimeToLiveSpecification": spec})
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        if "already enabled" not in message:  # a concurrent init got there first
            raise translate(exc) from exc
    except VENDOR_ERRORS as exc:
        raise translate(exc) from exc
