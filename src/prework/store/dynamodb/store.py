"""The store port on DynamoDB (AWS itself, or DynamoDB Local), through aiobotocore.

One :class:`~aiobotocore.session.AioSession` per store; its client is created on
first use and reused (one connection pool), :meth:`DynamoStore.close` releases it.
The physical table name is ``prefix + logical name``.

Every rule of :mod:`prework.store.base` holds as on the embedded backends: the
same validation runs first (:class:`~prework.store.adapter.StoreAdapter`: keys,
values, sizes, limits, conditions), so a bad call fails with the same error
before anything is sent, and what only DynamoDB can check is translated by
:func:`~prework.store.dynamodb.errors.translate`.

Conditions become ``ConditionExpression`` with placeholders for every attribute
name and value. TTL tables need care because DynamoDB's sweeper deletes expired
items late, while the port says an expired item (``expires_at <= now``) is absent:

* reads (``get``, ``batch_get``, ``query``) drop expired items; a query filters
  them with a ``FilterExpression`` and keeps reading until the page is full
  (``Limit`` counts items before the filter), reading one item more than asked
  to know whether a next page exists, so ``cursor`` is None on the last page.
* a condition on a TTL table holds on an expired item exactly when it holds on
  an absent one: ``expires_at <= :now OR (cond)`` if it holds on an absent item,
  ``NOT (expires_at <= :now) AND (cond)`` if it does not.
* ``update`` must start from an empty item when the stored one is expired. It
  is sent with ``NOT (expires_at <= :now) AND (cond)`` and
  ``ReturnValuesOnConditionCheckFailure=ALL_OLD``. When that fails on an expired
  item, the item is deleted on condition that it is still expired and the
  update is sent again (a few times at most; then :class:`Conflict`). A
  transaction whose update met an expired item does the same for that item and
  is sent again.

Cursors are the embedded backends' (:func:`prework.store._queries.encode_cursor`):
they hold the last item's position and are bound to the query that made them,
so the same cursor works on every backend; the position becomes the
``ExclusiveStartKey``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from prework.errors import (
    ConditionFailed,
    Conflict,
    TransactionCanceled,
    Unavailable,
    WriteConflict,
)
from prework.store._conditions import evaluate
from prework.store._items import Stored, expiry, is_expired, table_def
from prework.store._queries import QuerySpec, encode_cursor
from prework.store._updates import PreparedUpdate
from prework.store._writes import ResolvedOp
from prework.store.adapter import StoreAdapter
from prework.store.base import (
    BATCH_WRITE_CHUNK,
    Check,
    Condition,
    Delete,
    Item,
    Page,
    Put,
    Update,
    UpdateSpec,
)
from prework.store.codec import item_from_av, item_to_av
from prework.store.dynamodb.errors import VENDOR_ERRORS, error_code, translate, validation_error
from prework.store.dynamodb.expressions import AV, Expr
from prework.store.dynamodb.tables import init_table
from prework.store.schema import TABLES, TableDef

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

__all__ = ["DynamoStore"]


# the keys used against a local engine when none are given (DynamoDB Local
# accepts any key of letters and digits and checks no signature)
_LOCAL_KEY: Final = "prework"

# our own bounded loop for items a batch call left unprocessed
_BATCH_ATTEMPTS: Final = 8
_BATCH_BASE_DELAY: Final = 0.05
_BATCH_MAX_DELAY: Final = 2.0
_BATCH_WRITE_PARALLEL: Final = 4
# an attribute name no item has (an empty update in a transaction removes it)
_NOOP_ATTR: Final = "prework:noop"
# how often an update (or a transaction) is re-sent after clearing an expired item
_EXPIRED_RETRIES: Final = 3


def _old_item(response: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The item a failed condition returned (ReturnValuesOnConditionCheckFailure)."""
    item = response.get("Item")
    return item if isinstance(item, Mapping) else None


def _key_av(pk: str, sk: str) -> AV:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _is_expired(tdef: TableDef, av_item: Mapping[str, Any] | None, now: float) -> bool:
    return av_item is not None and is_expired(expiry(tdef, dict(av_item)), now)


async def _all(calls: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``calls`` concurrently; the first failure cancels the rest and is raised
    as itself (not wrapped in an ExceptionGroup)."""
    try:
        async with asyncio.TaskGroup() as group:
            for call in calls:
                group.create_task(call)
    except BaseExceptionGroup as group_error:
        first: BaseException = group_error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from first.__cause__


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter for the unprocessed-items loops."""
    ceiling = min(_BATCH_MAX_DELAY, _BATCH_BASE_DELAY * 2.0**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


# --------------------------------------------------------------------------- the store
class DynamoStore(StoreAdapter):
    """The store port over DynamoDB tables named ``prefix + logical name``.

    ``endpoint`` None means AWS itself, with credentials from the usual chain
    (environment, profile, instance role) unless keys are given. With an
    ``endpoint`` (DynamoDB Local) and no keys, fixed local keys are used.
    """

    def __init__(
        self,
        *,
        endpoint: str | None,
        region: str,
        prefix: str,
        tables: Mapping[str, TableDef] = TABLES,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.tables = tables
        self.endpoint = endpoint
        self.region = region
        self.prefix = prefix
        if access_key is None and secret_key is None and endpoint is not None:
            access_key = secret_key = _LOCAL_KEY
        self._access_key = access_key
        self._secret_key = secret_key
        self._session = get_session()
        self._client: DynamoDBClient | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        where = self.endpoint or f"aws:{self.region}"
        return f"DynamoStore(endpoint={where!r}, prefix={self.prefix!r})"

    def physical(self, table: str) -> str:
        """The DynamoDB table name of logical table ``table``."""
        return self.prefix + table_def(self.tables, table).name

    # -- client
    async def _get_client(self) -> DynamoDBClient:
        if self._closed:
            raise Unavailable("the store is closed")
        if self._client is not None:
            return self._client
        async with self._opening:
            if self._client is None:
                config = AioConfig(
                    retries={"mode": "standard", "max_attempts": 3},
                    connect_timeout=5,
                    read_timeout=30,
                    max_pool_connections=64,
                    warm_up_loader_caches=True,  # read the API model in a thread
                )
                stack = contextlib.AsyncExitStack()
                try:
                    client = await stack.enter_async_context(
                        self._session.create_client(
                            "dynamodb",
                            region_name=self.region,
                            endpoint_url=self.endpoint,
                            aws_access_key_id=self._access_key,
                            aws_secret_access_key=self._secret_key,
                            config=config,
                        )
                    )
                except VENDOR_ERRORS as exc:
                    await stack.aclose()
                    raise translate(exc) from exc
                if self._closed:  # closed while the client was being made
                    await stack.aclose()
                    raise Unavailable("the store is closed")
                self._stack, self._client = stack, client
        return self._client

    async def _send(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``operation``; vendor errors propagate (see :meth:`_call`)."""
        client = await self._get_client()
        method = getattr(client, operation)
        response: dict[str, Any] = await method(**params)
        return response

    async def _call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``operation`` and translate vendor errors."""
        try:
            return await self._send(operation, params)
        except VENDOR_ERRORS as exc:
            raise translate(exc) from exc

    # -- lifecycle
    async def init(self) -> None:
        await _all(
            init_table(self._send, self.prefix + tdef.name, tdef) for tdef in self.tables.values()
        )

    async def ping(self) -> None:
        await self._call("list_tables", {"Limit": 1})

    async def close(self) -> None:
        self._closed = True
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    # -- single items
    async def _get(self, tdef: TableDef, pk: str, sk: str, consistent: bool) -> Item | None:
        response = await self._call(
            "get_item",
            {
                "TableName": self.prefix + tdef.name,
                "Key": _key_av(pk, sk),
                "ConsistentRead": consistent,
            },
        )
        found = response.get("Item")
        if found is None or _is_expired(tdef, found, time.time()):
            return None
        return item_from_av(found)

    async def _put(
        self,
        tdef: TableDef,
        item: Item,
        encoded: tuple[str, str, Stored],
        condition: Condition | None,
    ) -> None:
        expr = Expr()
        params: dict[str, Any] = {"TableName": self.prefix + tdef.name, "Item": item_to_av(item)}
        cond = expr.write_condition(tdef, condition, time.time())
        if cond is not None:
            params["ConditionExpression"] = cond
        await self._call("put_item", {**params, **expr.params()})

    async def _update(
        self,
        tdef: TableDef,
        pk: str,
        sk: str,
        spec: UpdateSpec,
        prepared: PreparedUpdate,
        condition: Condition | None,
    ) -> Item:
        name = self.prefix + tdef.name
        for _ in range(_EXPIRED_RETRIES):
            now = time.time()
            expr = Expr()
            params: dict[str, Any] = {
                "TableName": name,
                "Key": _key_av(pk, sk),
                "ReturnValues": "ALL_NEW",
            }
            update = expr.update(spec, prepared)
            if update is not None:
                params["UpdateExpression"] = update
            cond = expr.update_condition(tdef, condition, now)
            if cond is not None:
                params["ConditionExpression"] = cond
                params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            try:
                response = await self._send("update_item", {**params, **expr.params()})
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise translate(exc) from exc
                if not _is_expired(tdef, _old_item(exc.response), now):
                    raise ConditionFailed(
                        "the write condition did not hold; nothing was written",
                        details={"condition": repr(condition)},
                    ) from exc
                await self._delete_if_expired(name, pk, sk, now)
                continue
            except VENDOR_ERRORS as exc:
                raise translate(exc) from exc
            return item_from_av(response.get("Attributes") or _key_av(pk, sk))
        raise Conflict("the item kept changing; try again", code="write_conflict")

    async def _delete_if_expired(self, name: str, pk: str, sk: str, now: float) -> None:
        """Delete an item DynamoDB has not swept yet, unless it was rewritten meanwhile."""
        expr = Expr()
        params = {
            "TableName": name,
            "Key": _key_av(pk, sk),
            "ConditionExpression": expr.expired(now),
            **expr.params(),
        }
        try:
            await self._send("delete_item", params)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc) from exc
        except VENDOR_ERRORS as exc:
            raise translate(exc) from exc

    async def _delete(self, tdef: TableDef, pk: str, sk: str, condition: Condition | None) -> None:
        expr = Expr()
        params: dict[str, Any] = {"TableName": self.prefix + tdef.name, "Key": _key_av(pk, sk)}
        cond = expr.write_condition(tdef, condition, time.time())
        if cond is not None:
            params["ConditionExpression"] = cond
        await self._call("delete_item", {**params, **expr.params()})

    # -- many items
    async def _query(self, tdef: TableDef, spec: QuerySpec, after: tuple[str, ...] | None) -> Page:
        pk, index, limit, descending = spec.pk, spec.index, spec.limit, spec.descending
        sk_prefix = spec.sk_prefix
        # without a prefix, the bounds are the query's own sk_gte / sk_lte
        sk_gte, sk_lte = (None, None) if sk_prefix is not None else (spec.lower, spec.upper)
        pk_attr, sk_attr = ("pk", "sk") if index is None else (f"{index}pk", f"{index}sk")
        now = time.time()
        expr = Expr()
        key_cond = f"{expr.name(pk_attr)} = {expr.value({'S': pk})}"
        sk_name = expr.name(sk_attr) if (sk_prefix or sk_gte or sk_lte) is not None else ""
        if sk_prefix is not None:
            key_cond += f" AND begins_with({sk_name}, {expr.value({'S': sk_prefix})})"
        elif sk_gte is not None and sk_lte is not None:
            low, high = expr.value({"S": sk_gte}), expr.value({"S": sk_lte})
            key_cond += f" AND {sk_name} BETWEEN {low} AND {high}"
        elif sk_gte is not None:
            key_cond += f" AND {sk_name} >= {expr.value({'S': sk_gte})}"
        elif sk_lte is not None:
            key_cond += f" AND {sk_name} <= {expr.value({'S': sk_lte})}"
        params: dict[str, Any] = {
            "TableName": self.prefix + tdef.name,
            "KeyConditionExpression": key_cond,
            "ScanIndexForward": not descending,
            # an index cannot be read consistently; the table can, as the embedded backends do
            "ConsistentRead": index is None,
        }
        if index is not None:
            params["IndexName"] = index
        if tdef.ttl:
            params["FilterExpression"] = f"NOT ({expr.expired(now)})"
        params.update(expr.params())
        if after is not None:
            params["ExclusiveStartKey"] = (
                {"pk": {"S": pk}, "sk": {"S": after[0]}}
                if index is None
                else {
                    pk_attr: {"S": pk},
                    sk_attr: {"S": after[0]},
                    "pk": {"S": after[1]},
                    "sk": {"S": after[2]},
                }
            )

        # read until the page is full plus one item (to know a next page exists)
        found: list[AV] = []
        while True:
            if limit is not None:
                params["Limit"] = limit + 1 - len(found)
            response = await self._call("query", params)
            found.extend(response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if last is None or (limit is not None and len(found) > limit):
                break
            params["ExclusiveStartKey"] = last
        found = [av for av in found if not _is_expired(tdef, av, now)]  # belt and braces
        more = limit is not None and len(found) > limit
        page = found[:limit] if limit is not None else found
        next_cursor = None
        if more and page:
            tail = page[-1]
            position = (
                (tail["sk"]["S"],)
                if index is None
                else (tail[sk_attr]["S"], tail["pk"]["S"], tail["sk"]["S"])
            )
            next_cursor = encode_cursor(spec, position)
        return Page(items=[item_from_av(av) for av in page], cursor=next_cursor)

    async def _batch_get(self, tdef: TableDef, pairs: list[tuple[str, str]]) -> list[Item]:
        if not pairs:
            return []
        name = self.prefix + tdef.name
        request: dict[str, Any] = {
            name: {"Keys": [_key_av(pk, sk) for pk, sk in pairs], "ConsistentRead": True}
        }
        found: list[AV] = []
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_backoff(attempt))
            response = await self._call("batch_get_item", {"RequestItems": request})
            found.extend(response.get("Responses", {}).get(name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        else:
            raise Unavailable("DynamoDB kept leaving keys unprocessed; try again")
        now = time.time()
        return [item_from_av(av) for av in found if not _is_expired(tdef, av, now)]

    async def _batch_write(
        self,
        tdef: TableDef,
        puts: Sequence[Item],
        writes: list[tuple[str, str, Stored | None]],
    ) -> None:
        requests: list[AV] = [{"PutRequest": {"Item": item_to_av(item)}} for item in puts]
        deletes = writes[len(puts) :]  # writes: the puts, then the deletes
        requests += [{"DeleteRequest": {"Key": _key_av(pk, sk)}} for pk, sk, _ in deletes]
        chunks = [
            requests[i : i + BATCH_WRITE_CHUNK] for i in range(0, len(requests), BATCH_WRITE_CHUNK)
        ]
        name = self.prefix + tdef.name
        if len(chunks) == 1:
            await self._write_chunk(name, chunks[0])
            return
        gate = asyncio.Semaphore(_BATCH_WRITE_PARALLEL)

        async def write(chunk: list[AV]) -> None:
            async with gate:
                await self._write_chunk(name, chunk)

        await _all(write(chunk) for chunk in chunks)

    async def _write_chunk(self, name: str, chunk: list[AV]) -> None:
        """One BatchWriteItem, re-sending unprocessed items with backoff, boundedly."""
        request: dict[str, Any] = {name: chunk}
        for attempt in range(_BATCH_ATTEMPTS):
            if attempt:
                await asyncio.sleep(_backoff(attempt))
            response = await self._call("batch_write_item", {"RequestItems": request})
            request = response.get("UnprocessedItems") or {}
            if not request:
                return
        raise Unavailable("DynamoDB kept leaving items unprocessed; try again")

    async def _transact_write(self, resolved: list[ResolvedOp]) -> None:
        if not resolved:
            return
        for _ in range(_EXPIRED_RETRIES):
            now = time.time()
            items = [self._transact_item(rop, now) for rop in resolved]
            try:
                await self._send("transact_write_items", {"TransactItems": items})
            except ClientError as exc:
                if error_code(exc) != "TransactionCanceledException":
                    raise translate(exc) from exc
                expired = self._canceled(exc, resolved, now)
                for rop in expired:
                    await self._delete_if_expired(self.prefix + rop.table.name, rop.pk, rop.sk, now)
                continue
            except VENDOR_ERRORS as exc:
                raise translate(exc) from exc
            return
        raise Conflict("the items kept changing; try again", code="write_conflict")

    def _transact_item(self, rop: ResolvedOp, now: float) -> AV:
        op, tdef = rop.op, rop.table
        expr = Expr()
        body: dict[str, Any] = {"TableName": self.prefix + tdef.name}
        cond: str | None
        if isinstance(op, Put):
            body["Item"] = item_to_av(op.item)
            cond = expr.write_condition(tdef, op.condition, now)
        elif isinstance(op, Update):
            body["Key"] = _key_av(rop.pk, rop.sk)
            assert rop.update is not None
            update = expr.update(op.spec, rop.update)
            if update is None:
                # TransactWriteItems needs an update expression: removing an attribute
                # no item has changes nothing (and creates the item if absent)
                update = f"REMOVE {expr.name(_NOOP_ATTR)}"
            body["UpdateExpression"] = update
            cond = expr.update_condition(tdef, op.condition, now)
            if cond is not None:
                body["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        else:
            body["Key"] = _key_av(rop.pk, rop.sk)
            cond = expr.write_condition(tdef, op.condition, now)
            if isinstance(op, Check) and cond is None:
                cond = expr.always(True)
        if cond is not None:
            body["ConditionExpression"] = cond
        body.update(expr.params())
        kind = {Put: "Put", Update: "Update", Delete: "Delete", Check: "ConditionCheck"}[type(op)]
        return {kind: body}

    @staticmethod
    def _canceled(exc: ClientError, resolved: Sequence[ResolvedOp], now: float) -> list[ResolvedOp]:
        """The updates that met an expired item (to clear, then send again); raise
        the error for any other reason the transaction was canceled."""
        reasons = exc.response.get("CancellationReasons") or []
        failed: list[int] = []
        expired: list[ResolvedOp] = []
        other: str | None = None
        for position, (reason, rop) in enumerate(zip(reasons, resolved, strict=False)):
            code = reason.get("Code") or "None"
            if code == "None":
                continue
            if code != "ConditionalCheckFailed":
                other = other or code
                continue
            if (
                isinstance(rop.op, Update)
                and _is_expired(rop.table, _old_item(reason), now)
                and evaluate(rop.op.condition, None)
            ):
                expired.append(rop)
            else:
                failed.append(position)
        if failed:
            raise TransactionCanceled(
                f"the transaction was canceled: the conditions of operations {failed} did not hold",
                failed_indexes=failed,
            ) from exc
        if other == "TransactionConflict":
            raise WriteConflict(
                "another transaction is writing one of the items; try again"
            ) from exc
        if other == "ValidationError":
            messages = [str(r.get("Message", "")) for r in reasons if r.get("Code") == other]
            raise validation_error("; ".join(messages)) from exc
        if other is not None:
            raise Unavailable(f"DynamoDB canceled the transaction ({other})") from exc
        if not expired:
            raise TransactionCanceled("the transaction was canceled") from exc
        return expired
