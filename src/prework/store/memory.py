"""An in-process store: the fast fake for tests and single-process demos.

Items are kept in the codec's stored form (compact JSON bytes, as in the
SQLite backend), so a value round-trips exactly as it does through SQLite or
DynamoDB, and no caller's object is kept. All rules of
:mod:`prework.store.base` hold (limits, checked by
:class:`~prework.store.adapter.StoreAdapter`; TTL visibility, conditions,
all-or-nothing transactions); one lock makes every call atomic, also across
threads. Nothing is persisted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from prework.errors import Unavailable
from prework.store._items import Stored, decode_many, decode_stored, is_expired
from prework.store._queries import QuerySpec, encode_cursor
from prework.store._updates import PreparedUpdate
from prework.store._writes import (
    ResolvedOp,
    Rows,
    delete_flow,
    put_flow,
    transact_flow,
    update_flow,
)
from prework.store.adapter import ResolvedPlan, StoreAdapter
from prework.store.base import Condition, Item, Page, UpdateSpec
from prework.store.schema import TABLES, TableDef

__all__ = ["MemoryStore"]

T = TypeVar("T")


_Row = Stored  # immutable: kept as the write flows made it


class _Table:
    """One table: rows by partition then sort key, plus the index entries."""

    def __init__(self, tdef: TableDef) -> None:
        self.tdef = tdef
        self.partitions: dict[str, dict[str, _Row]] = {}
        # index -> index partition key -> {(pk, sk): index sort key}
        self.indexes: dict[str, dict[str, dict[tuple[str, str], str]]] = {
            name: {} for name in tdef.indexes
        }

    def row(self, pk: str, sk: str) -> _Row | None:
        partition = self.partitions.get(pk)
        return None if partition is None else partition.get(sk)

    def put(self, pk: str, sk: str, row: _Row) -> None:
        self.remove(pk, sk)
        self.partitions.setdefault(pk, {})[sk] = row
        for index, (ipk, isk) in row.indexes.items():
            self.indexes[index].setdefault(ipk, {})[(pk, sk)] = isk

    def remove(self, pk: str, sk: str) -> None:
        partition = self.partitions.get(pk)
        if partition is None:
            return
        row = partition.pop(sk, None)
        if not partition:
            del self.partitions[pk]
        if row is None:
            return
        for index, (ipk, _) in row.indexes.items():
            entries = self.indexes[index][ipk]
            del entries[(pk, sk)]
            if not entries:
                del self.indexes[index][ipk]


class _Rows(Rows):
    def __init__(self, tables: Mapping[str, _Table]) -> None:
        self._tables = tables

    def read(self, table: TableDef, pk: str, sk: str, now: float) -> bytes | None:
        row = self._tables[table.name].row(pk, sk)
        if row is None or is_expired(row.expires_at, now):
            return None
        return row.data

    def write(self, table: TableDef, pk: str, sk: str, item: Stored) -> None:
        self._tables[table.name].put(pk, sk, item)

    def remove(self, table: TableDef, pk: str, sk: str) -> None:
        self._tables[table.name].remove(pk, sk)


class MemoryStore(StoreAdapter):
    """The store port over dictionaries in this process."""

    def __init__(self, tables: Mapping[str, TableDef] = TABLES) -> None:
        self.tables = tables
        self._data = {name: _Table(tdef) for name, tdef in tables.items()}
        self._rows = _Rows(self._data)
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle
    async def init(self) -> None:
        self._check_open()

    async def ping(self) -> None:
        self._check_open()

    async def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the store is closed")

    # -- single items
    async def _get(self, table: TableDef, pk: str, sk: str, consistent: bool) -> Item | None:
        with self._lock:
            self._check_open()
            data = self._rows.read(table, pk, sk, time.time())
        return None if data is None else decode_stored(data)

    async def _put(
        self,
        table: TableDef,
        item: Item,
        encoded: tuple[str, str, Stored],
        condition: Condition | None,
    ) -> None:
        with self._lock:
            self._check_open()
            put_flow(self._rows, table, encoded, condition, time.time())

    async def _update(
        self,
        table: TableDef,
        pk: str,
        sk: str,
        spec: UpdateSpec,
        prepared: PreparedUpdate,
        condition: Condition | None,
    ) -> Item:
        with self._lock:
            self._check_open()
            return update_flow(self._rows, table, pk, sk, prepared, condition, time.time())

    async def _delete(self, table: TableDef, pk: str, sk: str, condition: Condition | None) -> None:
        with self._lock:
            self._check_open()
            delete_flow(self._rows, table, pk, sk, condition, time.time())

    # -- many items
    async def _query(self, table: TableDef, spec: QuerySpec, after: tuple[str, ...] | None) -> Page:
        limit, descending = spec.limit, spec.descending
        with self._lock:
            self._check_open()
            now = time.time()
            data = self._data[table.name]
            found: list[tuple[tuple[str, ...], bytes]] = []
            for position, row in self._candidates(data, spec):
                if is_expired(row.expires_at, now):
                    continue
                if after is not None and (
                    position <= after if not descending else position >= after
                ):
                    continue
                found.append((position, row.data))
        found.sort(key=lambda pair: pair[0], reverse=descending)
        more = limit is not None and len(found) > limit
        page = found[:limit] if limit is not None else found
        items = decode_many([text for _, text in page])
        next_cursor = encode_cursor(spec, page[-1][0]) if more and page else None
        return Page(items=items, cursor=next_cursor)

    @staticmethod
    def _candidates(data: _Table, spec: QuerySpec) -> Iterator[tuple[tuple[str, ...], _Row]]:
        if spec.index is None:
            for sk, row in data.partitions.get(spec.pk, {}).items():
                if spec.sk_matches(sk):
                    yield (sk,), row
            return
        for (pk, sk), isk in data.indexes[spec.index].get(spec.pk, {}).items():
            entry = data.row(pk, sk)
            if entry is not None and spec.sk_matches(isk):
                yield (isk, pk, sk), entry

    async def _batch_get(self, table: TableDef, keys: list[tuple[str, str]]) -> list[Item]:
        with self._lock:
            self._check_open()
            now = time.time()
            found = [self._rows.read(table, pk, sk, now) for pk, sk in keys]
        return decode_many([data for data in found if data is not None])

    async def _batch_write(
        self,
        table: TableDef,
        puts: Sequence[Item],
        writes: list[tuple[str, str, Stored | None]],
    ) -> None:
        with self._lock:
            self._check_open()
            for pk, sk, item in writes:
                if item is None:
                    self._rows.remove(table, pk, sk)
                else:
                    self._rows.write(table, pk, sk, item)

    async def _transact_write(self, ops: list[ResolvedOp]) -> None:
        if not ops:
            return
        with self._lock:
            self._check_open()
            transact_flow(self._rows, ops, time.time())

    async def _modify_item(self, table: TableDef, pk: str, sk: str, plan: ResolvedPlan[T]) -> T:
        with self._lock:  # the read, the plan and the write: one atomic step
            self._check_open()
            now = time.time()
            data = self._rows.read(table, pk, sk, now)
            ops, result = plan(None if data is None else decode_stored(data))
            if ops:
                transact_flow(self._rows, ops, now)
        return result
