"""Prework's DynamoDB tables for tests: created once per session, emptied between tests.

Creating the ten tables (and their indexes) costs DynamoDB Local over a second,
so a session keeps a pool of table sets, each under its own prefix::

    pool = TablePool(endpoint, prefix="t1a2b3c-")
    async with pool.lease() as prefix:      # "t1a2b3c-0-": tables exist, every one empty
        store = DynamoStore(endpoint=endpoint, region=pool.region, prefix=prefix)
        ...
    await pool.close()                      # drops every table the pool made

A lease is a whole set of tables, so isolation is exact: no test sees another
test's items, whatever its keys (``EMAIL#...`` guards, ``RATE#...`` counters,
sessions). When a lease ends, every table of the set is emptied (a consistent
scan, batch deletes, then scans again until a scan finds nothing); only then
does the set go back to the pool. A set that cannot be emptied is dropped
instead of reused. Concurrent leases get different sets (the pool grows).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiobotocore.session import get_session

from prework.store.dynamodb.store import DynamoStore
from prework.store.schema import TABLES, TableDef

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["TablePool"]

_BATCH = 25  # BatchWriteItem's limit
_EMPTY_ROUNDS = 10
_LOCAL_KEY = "prework"  # DynamoDB Local accepts any alphanumeric key


class TablePool:
    """Sets of ``tables`` under prefixes ``<prefix><n>-`` on the DynamoDB at ``endpoint``."""

    def __init__(
        self,
        endpoint: str,
        *,
        prefix: str,
        region: str = "us-east-1",
        tables: Mapping[str, TableDef] = TABLES,
        access_key: str = _LOCAL_KEY,
        secret_key: str = _LOCAL_KEY,
    ) -> None:
        self.endpoint = endpoint
        self.prefix = prefix
        self.region = region
        self.tables = tables
        self._access_key = access_key
        self._secret_key = secret_key
        self._free: list[str] = []
        self._made: list[str] = []
        self._lock = asyncio.Lock()
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: DynamoDBClient | None = None
        self.created = 0  # table sets made (a measure of reuse)

    def __repr__(self) -> str:
        return f"TablePool(endpoint={self.endpoint!r}, prefix={self.prefix!r})"

    async def _dynamodb(self) -> DynamoDBClient:
        if self._client is None:
            stack = contextlib.AsyncExitStack()
            self._client = await stack.enter_async_context(
                get_session().create_client(
                    "dynamodb",
                    endpoint_url=self.endpoint,
                    region_name=self.region,
                    aws_access_key_id=self._access_key,
                    aws_secret_access_key=self._secret_key,
                )
            )
            self._stack = stack
        return self._client

    # -- leases
    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[str]:
        """A table prefix of the caller's own until the block ends; every table empty."""
        prefix = await self.checkout()
        try:
            yield prefix
        finally:
            await self.give_back(prefix)

    async def checkout(self) -> str:
        """A prefix whose tables exist and are empty, reserved until :meth:`give_back`."""
        async with self._lock:
            if self._free:
                return self._free.pop()
            prefix = f"{self.prefix}{len(self._made)}-"
            self._made.append(prefix)
        store = DynamoStore(
            endpoint=self.endpoint,
            region=self.region,
            prefix=prefix,
            tables=self.tables,
            access_key=self._access_key,
            secret_key=self._secret_key,
        )
        try:
            await store.init()
        finally:
            await store.close()
        self.created += 1
        return prefix

    async def give_back(self, prefix: str) -> None:
        """Empty every table of ``prefix`` and make it available again.

        If emptying fails, the tables are dropped (best effort) and the error
        propagates: a set that may hold items is never leased again.
        """
        try:
            await self.empty(prefix)
        except BaseException:
            with contextlib.suppress(Exception):
                await self._drop(prefix)
            raise
        async with self._lock:
            self._free.append(prefix)

    async def empty(self, prefix: str) -> None:
        """Delete every item of every table under ``prefix``; return once all are empty."""
        await asyncio.gather(*(self._empty_table(prefix + t.name) for t in self.tables.values()))

    async def _empty_table(self, name: str) -> None:
        client = await self._dynamodb()
        for _ in range(_EMPTY_ROUNDS):
            keys = await self._keys_of(client, name)
            if not keys:
                return
            for start in range(0, len(keys), _BATCH):
                await self._delete(client, name, keys[start : start + _BATCH])
        raise RuntimeError(f"table {name} is still not empty after {_EMPTY_ROUNDS} rounds")

    @staticmethod
    async def _keys_of(client: DynamoDBClient, name: str) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": name,
            "ConsistentRead": True,
            "ProjectionExpression": "#pk, #sk",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
        }
        while True:
            page = await client.scan(**params)
            keys.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last:
                return keys
            params["ExclusiveStartKey"] = last

    @staticmethod
    async def _delete(client: DynamoDBClient, name: str, keys: Sequence[dict[str, Any]]) -> None:
        requests: Sequence[Any] = [{"DeleteRequest": {"Key": key}} for key in keys]
        for attempt in range(_EMPTY_ROUNDS):
            response = await client.batch_write_item(RequestItems={name: requests})
            requests = response.get("UnprocessedItems", {}).get(name, [])
            if not requests:
                return
            await asyncio.sleep(0.05 * (attempt + 1))
        # what is left is found by the next scan of _empty_table

    # -- teardown
    async def _drop(self, prefix: str) -> None:
        client = await self._dynamodb()
        for tdef in self.tables.values():
            with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                await client.delete_table(TableName=prefix + tdef.name)

    async def close(self) -> None:
        """Drop every table the pool made (the engine may outlive the session)."""
        try:
            async with self._lock:
                made, self._made, self._free = self._made, [], []
            for prefix in made:
                await self._drop(prefix)
        finally:
            stack, self._stack, self._client = self._stack, None, None
            if stack is not None:
                await stack.aclose()
