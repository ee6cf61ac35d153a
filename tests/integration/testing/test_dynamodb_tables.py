"""The table pool of the API tier: tables made once, every lease starts empty."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from prework.store.dynamodb.store import DynamoStore
from prework.store.schema import TABLES
from prework.testing.dynamodb_tables import TablePool

KEY = "prework"  # DynamoDB Local accepts any alphanumeric key


@pytest.fixture
async def pool(dynamodb_endpoint: str) -> AsyncIterator[TablePool]:
    p = TablePool(dynamodb_endpoint, prefix=f"pool-{uuid.uuid4().hex[:8]}-")
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
async def client(dynamodb_endpoint: str) -> AsyncIterator[Any]:
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=dynamodb_endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=KEY,
    ) as c:
        yield c


async def _tables(client: Any, prefix: str) -> set[str]:
    names: set[str] = set()
    async for page in client.get_paginator("list_tables").paginate():
        names.update(n for n in page.get("TableNames", []) if n.startswith(prefix))
    return names


async def _count(client: Any, table: str) -> int:
    total = 0
    async for page in client.get_paginator("scan").paginate(
        TableName=table, ConsistentRead=True, Select="COUNT"
    ):
        total += page["Count"]
    return total


def _store(pool: TablePool, prefix: str) -> DynamoStore:
    return DynamoStore(endpoint=pool.endpoint, region=pool.region, prefix=prefix)


async def test_a_returned_set_is_reused_and_starts_empty(pool: TablePool, client: Any) -> None:
    async with pool.lease() as first:
        assert await _tables(client, first) == {first + t for t in TABLES}
        store = _store(pool, first)
        try:
            expired = int(time.time()) - 3600  # expired, not yet swept: still stored
            items: list[tuple[str, dict[str, Any]]] = []
            for table, tdef in TABLES.items():
                items.append((table, {"pk": "RATE#login#10.0.0.1", "sk": "1", "n": 3}))
                for i in range(30):  # more than one batch of deletes
                    item: dict[str, Any] = {"pk": f"EMAIL#user{i}@example.com", "sk": table}
                    if tdef.ttl and i % 2:
                        item["expires_at"] = expired
                    items.append((table, item))
            await asyncio.gather(*(store.put(table, item) for table, item in items))
        finally:
            await store.close()
        assert await _count(client, first + "users") == 31
    async with pool.lease() as second:
        assert second == first
        assert pool.created == 1
        for tdef in TABLES.values():
            assert await _count(client, second + tdef.name) == 0, tdef.name


async def test_concurrent_leases_get_their_own_sets(pool: TablePool, client: Any) -> None:
    async with pool.lease() as one, pool.lease() as two:
        assert one != two
        store = _store(pool, one)
        try:
            await store.put("sessions", {"pk": "SESSION#s", "sk": "S"})
        finally:
            await store.close()
        assert await _count(client, two + "sessions") == 0
    assert pool.created == 2


async def test_a_set_that_cannot_be_emptied_is_dropped_not_reused(
    pool: TablePool, client: Any
) -> None:
    lease = pool.lease()
    broken = await lease.__aenter__()
    await client.delete_table(TableName=broken + "teams")  # emptying it fails
    with pytest.raises(ClientError) as caught:
        await lease.__aexit__(None, None, None)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert await _tables(client, broken) == set()
    async with pool.lease() as fresh:
        assert fresh != broken


async def test_close_drops_every_table_of_the_pool(dynamodb_endpoint: str, client: Any) -> None:
    pool = TablePool(dynamodb_endpoint, prefix=f"pool-{uuid.uuid4().hex[:8]}-")
    leases = [pool.lease() for _ in range(2)]
    prefixes = await asyncio.gather(*(lease.__aenter__() for lease in leases))
    for lease in leases:
        await lease.__aexit__(None, None, None)
    await pool.close()
    for prefix in prefixes:
        assert await _tables(client, prefix) == set()
