"""The base of every store adapter: the port's calls validated once, above the engines.

:class:`StoreAdapter` implements the public methods of
:class:`~prework.store.base.Store`. Each one runs the shared validation
(unknown table, key values, items and their 400 KB limit, conditions, updates,
queries and cursors, batch and transaction limits) and only then calls the
engine method of the same name with a leading underscore (``_get``, ``_put``,
...), handing it the call already checked and encoded. An adapter implements
those engine methods (and ``init``, ``ping``, ``close``); it never sees a call
that failed validation, so every backend rejects the same call with the same
error and message before anything is read or sent.

Write calls tell the listeners of :meth:`~StoreAdapter.watch_writes` which
items they touched, and :meth:`~StoreAdapter.modify_item` is implemented here
optimistically (read, plan, conditional transaction, again on a lost race);
engines that can run it atomically (SQLite's writer, the memory lock) override
``_modify_item``.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import random
import weakref
from collections.abc import Callable, Sequence
from typing import TypeAlias, TypeVar

from prework.errors import LimitExceeded, TransactionCanceled, ValidationFailed, WriteConflict
from prework.store._conditions import check_condition
from prework.store._items import Stored, check_key, encode_item, table_def
from prework.store._queries import (
    MergedSpec,
    QuerySpec,
    decode_cursor,
    encode_cursor,
    prepare_merged,
    prepare_query,
)
from prework.store._updates import PreparedUpdate, prepare_update
from prework.store._writes import ResolvedOp, prepare_batch_write, resolve_transaction
from prework.store.base import (
    MAX_BATCH_GET,
    Check,
    Condition,
    Item,
    Key,
    Page,
    Plan,
    Store,
    TransactOp,
    UpdateSpec,
    WriteListener,
)
from prework.store.schema import TableDef

__all__ = ["MERGE_CHUNK", "MODIFY_ATTEMPTS", "ResolvedPlan", "StoreAdapter"]

T = TypeVar("T")
# an optimistic modify_item (DynamoDB) reads and plans again this often at most
MODIFY_ATTEMPTS = 8
# an engine's _query_merged reads at most this many partitions (SQLite: one statement)
MERGE_CHUNK = 100
_MODIFY_BACKOFF = 0.005  # seconds, doubled per lost race, full jitter
# plan, its ops validated and encoded
ResolvedPlan: TypeAlias = Callable[[Item | None], tuple[list[ResolvedOp], T]]
_Ref: TypeAlias = Callable[[], WriteListener | None]


class StoreAdapter(Store):
    """A :class:`Store` whose public methods validate, then call the engine's."""

    _listeners: tuple[_Ref, ...] = ()

    # -- write listeners
    def watch_writes(self, listener: WriteListener) -> None:
        ref: _Ref
        if hasattr(listener, "__self__") and hasattr(listener, "__func__"):
            ref = weakref.WeakMethod(listener)
        else:
            ref = lambda: listener  # noqa: E731
        self._listeners = (*self._listeners, ref)

    def _written(self, table: str, keys: Sequence[tuple[str, str]]) -> None:
        dead = False
        for ref in self._listeners:
            listener = ref()
            if listener is None:
                dead = True
                continue
            for pk, sk in keys:
                listener(table, pk, sk)
        if dead:
            self._listeners = tuple(r for r in self._listeners if r() is not None)

    def _written_ops(self, ops: Sequence[ResolvedOp]) -> None:
        for rop in ops:
            if not isinstance(rop.op, Check):
                self._written(rop.table.name, [(rop.pk, rop.sk)])

    # -- single items
    async def get(self, table: str, key: Key, *, consistent: bool = True) -> Item | None:
        tdef = table_def(self.tables, table)
        pk, sk = check_key(key)
        return await self._get(tdef, pk, sk, consistent)

    async def put(self, table: str, item: Item, *, condition: Condition | None = None) -> None:
        tdef = table_def(self.tables, table)
        encoded = encode_item(tdef, item)
        check_condition(condition)
        try:
            await self._put(tdef, item, encoded, condition)
        finally:
            if self._listeners:
                self._written(tdef.name, [encoded[:2]])

    async def update(
        self,
        table: str,
        key: Key,
        spec: UpdateSpec,
        *,
        condition: Condition | None = None,
    ) -> Item:
        tdef = table_def(self.tables, table)
        pk, sk = check_key(key)
        prepared = prepare_update(tdef, spec)
        check_condition(condition)
        try:
            return await self._update(tdef, pk, sk, spec, prepared, condition)
        finally:
            if self._listeners:
                self._written(tdef.name, [(pk, sk)])

    async def delete(self, table: str, key: Key, *, condition: Condition | None = None) -> None:
        tdef = table_def(self.tables, table)
        pk, sk = check_key(key)
        check_condition(condition)
        try:
            await self._delete(tdef, pk, sk, condition)
        finally:
            if self._listeners:
                self._written(tdef.name, [(pk, sk)])

    # -- many items
    async def query(
        self,
        table: str,
        *,
        pk: str,
        index: str | None = None,
        sk_prefix: str | None = None,
        sk_gte: str | None = None,
        sk_lte: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        tdef = table_def(self.tables, table)
        spec = prepare_query(
            tdef,
            pk=pk,
            index=index,
            sk_prefix=sk_prefix,
            sk_gte=sk_gte,
            sk_lte=sk_lte,
            limit=limit,
            descending=descending,
        )
        after = None if cursor is None else decode_cursor(spec, cursor)
        return await self._query(tdef, spec, after)

    async def query_merged(
        self,
        table: str,
        *,
        index: str,
        pks: Sequence[str],
        sk_gte: str | None = None,
        sk_after: str | None = None,
        sk_lte: str | None = None,
        limit: int,
        cursor: str | None = None,
    ) -> Page:
        tdef = table_def(self.tables, table)
        spec = prepare_merged(
            tdef,
            index=index,
            pks=pks,
            sk_gte=sk_gte,
            sk_after=sk_after,
            sk_lte=sk_lte,
            limit=limit,
        )
        after = None if cursor is None else decode_cursor(spec, cursor)
        if len(spec.pks) <= MERGE_CHUNK:
            return await self._query_merged(tdef, spec, after)
        # a chunk's page holds its first `limit` items: the first `limit` of them all
        # are among those of the chunks
        found: list[tuple[tuple[str, str, str], Item]] = []
        more = False
        sk_attr = f"{index}sk"
        for start in range(0, len(spec.pks), MERGE_CHUNK):
            chunk = dataclasses.replace(
                spec, pks=spec.pks[start : start + MERGE_CHUNK], _fingerprint=""
            )
            page = await self._query_merged(tdef, chunk, after)
            more = more or page.cursor is not None
            found += [((str(i[sk_attr]), str(i["pk"]), str(i["sk"])), i) for i in page.items]
        found.sort(key=lambda entry: entry[0])
        more = more or len(found) > spec.limit
        del found[spec.limit :]
        next_cursor = encode_cursor(spec, found[-1][0]) if more and found else None
        return Page([item for _, item in found], next_cursor)

    async def batch_get(self, table: str, keys: Sequence[Key]) -> list[Item]:
        tdef = table_def(self.tables, table)
        if len(keys) > MAX_BATCH_GET:
            raise LimitExceeded(
                f"batch_get takes at most {MAX_BATCH_GET} keys, not {len(keys)}",
                details={"max": MAX_BATCH_GET, "given": len(keys)},
            )
        pairs = [check_key(key) for key in keys]
        if len(set(pairs)) != len(pairs):
            raise ValidationFailed("batch_get keys must be distinct", code="duplicate_key")
        return await self._batch_get(tdef, pairs)

    async def batch_write(
        self,
        table: str,
        *,
        puts: Sequence[Item] = (),
        deletes: Sequence[Key] = (),
    ) -> None:
        tdef = table_def(self.tables, table)
        writes = prepare_batch_write(tdef, puts, deletes)
        try:
            await self._batch_write(tdef, puts, writes)
        finally:
            if self._listeners:
                self._written(tdef.name, [(pk, sk) for pk, sk, _ in writes])

    async def transact_write(self, ops: Sequence[TransactOp]) -> None:
        resolved = resolve_transaction(self.tables, ops)
        try:
            await self._transact_write(resolved)
        finally:
            if self._listeners:
                self._written_ops(resolved)

    async def modify_item(self, table: str, key: Key, plan: Plan[T]) -> T:
        tdef = table_def(self.tables, table)
        pk, sk = check_key(key)
        planned: list[list[ResolvedOp]] = []

        def resolved_plan(current: Item | None) -> tuple[list[ResolvedOp], T]:
            ops, result = plan(current)
            resolved = resolve_transaction(self.tables, ops)
            planned.append(resolved)
            return resolved, result

        try:
            return await self._modify_item(tdef, pk, sk, resolved_plan)
        finally:
            if self._listeners:
                for resolved in planned:
                    self._written_ops(resolved)

    async def _modify_item(self, table: TableDef, pk: str, sk: str, plan: ResolvedPlan[T]) -> T:
        """Optimistic: read (strongly consistent), plan, write with the plan's
        conditions; on a lost race read and plan again (backoff with jitter)."""
        delay = _MODIFY_BACKOFF
        for attempt in range(MODIFY_ATTEMPTS):
            current = await self._get(table, pk, sk, True)
            ops, result = plan(current)
            try:
                await self._transact_write(ops)
            except (TransactionCanceled, WriteConflict):
                if attempt == MODIFY_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, delay))
                delay *= 2
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # -- what an engine implements: the calls above, validated
    @abc.abstractmethod
    async def _get(self, table: TableDef, pk: str, sk: str, consistent: bool) -> Item | None:
        """The visible item at ``(pk, sk)``, or None."""

    @abc.abstractmethod
    async def _put(
        self,
        table: TableDef,
        item: Item,
        encoded: tuple[str, str, Stored],
        condition: Condition | None,
    ) -> None:
        """Write ``item`` (``encoded``: its key and stored form) if ``condition`` holds."""

    @abc.abstractmethod
    async def _update(
        self,
        table: TableDef,
        pk: str,
        sk: str,
        spec: UpdateSpec,
        prepared: PreparedUpdate,
        condition: Condition | None,
    ) -> Item:
        """Apply ``spec`` (``prepared``: validated and encoded) if ``condition``
        holds; the whole item afterwards."""

    @abc.abstractmethod
    async def _delete(self, table: TableDef, pk: str, sk: str, condition: Condition | None) -> None:
        """Delete the item at ``(pk, sk)`` if ``condition`` holds."""

    @abc.abstractmethod
    async def _query(self, table: TableDef, spec: QuerySpec, after: tuple[str, ...] | None) -> Page:
        """One page of ``spec``, continuing after position ``after`` (from its cursor)."""

    async def _query_merged(
        self, table: TableDef, spec: MergedSpec, after: tuple[str, ...] | None
    ) -> Page:
        """One page of ``spec`` after position ``after``: each partition read with
        :meth:`_query` a batch at a time and merged (engines that can merge in
        one statement override this)."""
        runs = [_Run(self, table, spec, pk, after) for pk in spec.pks]
        want = spec.limit + 1  # one more: whether a next page exists
        first = min(want, max(_MERGE_BATCH, want // len(runs) + 1))
        await asyncio.gather(*(run.fill(first) for run in runs))
        out: list[tuple[tuple[str, str, str], Item]] = []
        more = False
        while len(out) < want:
            if len(out) == spec.limit:  # the page is full: is there anything after it?
                more = any(run.buffer or not run.done for run in runs)
                break
            refill = max(_MERGE_BATCH, want - len(out))
            for run in runs:  # a partition takes part with its next item, or has none
                while not run.buffer and not run.done:
                    await run.fill(refill)
            live = [run for run in runs if run.buffer]
            if not live:
                break
            head = min(live, key=_Run.head_key)
            # a partition whose run of the head's sort key is not read whole may
            # still hold a smaller item of that key (any partition's, not only the head's)
            unfinished = [
                run
                for run in live
                if run.buffer[0][0][0] == head.buffer[0][0][0] and not run.head_is_final()
            ]
            if unfinished:
                await asyncio.gather(*(run.fill(refill) for run in unfinished))
            else:
                out.append(head.buffer.pop(0))
        next_cursor = encode_cursor(spec, out[-1][0]) if more and out else None
        return Page([item for _, item in out], next_cursor)

    @abc.abstractmethod
    async def _batch_get(self, table: TableDef, keys: list[tuple[str, str]]) -> list[Item]:
        """The visible items among ``keys`` (distinct, at most 100, maybe none)."""

    @abc.abstractmethod
    async def _batch_write(
        self,
        table: TableDef,
        puts: Sequence[Item],
        writes: list[tuple[str, str, Stored | None]],
    ) -> None:
        """Unconditional writes: ``writes`` holds each item of ``puts`` encoded,
        in order, then each delete (its stored form None); maybe none."""

    @abc.abstractmethod
    async def _transact_write(self, ops: list[ResolvedOp]) -> None:
        """All of ``ops`` (validated, on distinct items, maybe none) or none."""


_MERGE_BATCH = 8  # the least a partition of a merged query reads at a time


class _Run:
    """One partition of a merged query: its items in (index sk, pk, sk) order,
    read a batch at a time. An engine orders items of equal index sort key as it
    likes, so an item is final (may be merged) only once an item of a greater
    sort key, or the partition's end, has been read."""

    def __init__(
        self,
        store: StoreAdapter,
        table: TableDef,
        spec: MergedSpec,
        pk: str,
        after: tuple[str, ...] | None,
    ) -> None:
        self.store, self.table, self.spec = store, table, spec
        self.query = spec.partition(pk)
        if after is not None and (self.query.lower is None or after[0] > self.query.lower):
            self.query.lower = after[0]  # read from the cursor's sort key on (ties filtered)
        self.after = after
        self.sk_attr = f"{spec.index}sk"
        self.buffer: list[tuple[tuple[str, str, str], Item]] = []
        self.position: tuple[str, ...] | None = None
        self.done = False

    def head_key(self) -> tuple[str, str, str]:
        return self.buffer[0][0]

    def head_is_final(self) -> bool:
        return self.done or self.buffer[-1][0][0] != self.buffer[0][0][0]

    async def fill(self, size: int) -> None:
        if self.done:
            return
        self.query.limit = size  # this run's own spec
        page = await self.store._query(self.table, self.query, self.position)
        self.done = page.cursor is None
        if page.cursor is not None:
            self.position = decode_cursor(self.query, page.cursor)
        spec, after, sk_attr = self.spec, self.after, self.sk_attr
        for item in page.items:
            key = (str(item[sk_attr]), str(item["pk"]), str(item["sk"]))
            if not spec.sk_matches(key[0]):
                continue
            if after is not None and key <= after:
                continue
            self.buffer.append((key, item))
        # code point order is UTF-8 byte order, the engines' order of sort keys
        self.buffer.sort(key=lambda entry: entry[0])
