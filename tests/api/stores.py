"""Stores of the API tests that fail on purpose: the real store, wrapped at the port.

:class:`DelegatingStore` hands every call to the store it wraps; a test subclasses it
and overrides the call it breaks (a batch writer killed between chunks, a transaction
whose answer is lost after it committed), so the failure is one the engines really
have, and storage is the real engine's to read back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from prework.errors import Unavailable
from prework.store.base import (
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

__all__ = ["DelegatingStore", "LostAnswerStore"]

T = TypeVar("T")


class DelegatingStore(Store):
    """``inner``'s calls, one for one (its lifecycle belongs to its fixture)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.tables: Mapping[str, TableDef] = inner.tables

    async def init(self) -> None:
        await self.inner.init()

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        """The inner store belongs to its fixture."""

    async def get(self, table: str, key: Key, *, consistent: bool = True) -> Item | None:
        return await self.inner.get(table, key, consistent=consistent)

    async def put(self, table: str, item: Item, *, condition: Condition | None = None) -> None:
        await self.inner.put(table, item, condition=condition)

    async def update(
        self, table: str, key: Key, spec: UpdateSpec, *, condition: Condition | None = None
    ) -> Item:
        return await self.inner.update(table, key, spec, condition=condition)

    async def delete(self, table: str, key: Key, *, condition: Condition | None = None) -> None:
        await self.inner.delete(table, key, condition=condition)

    async def query(self, table: str, **kwargs: Any) -> Page:
        return await self.inner.query(table, **kwargs)

    async def query_merged(self, table: str, **kwargs: Any) -> Page:
        return await self.inner.query_merged(table, **kwargs)

    async def batch_get(self, table: str, keys: Sequence[Key]) -> list[Item]:
        return await self.inner.batch_get(table, keys)

    async def batch_write(
        self, table: str, *, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()
    ) -> None:
        await self.inner.batch_write(table, puts=puts, deletes=deletes)

    async def transact_write(self, ops: Sequence[TransactOp]) -> None:
        await self.inner.transact_write(ops)

    async def modify_item(self, table: str, key: Key, plan: Plan[T]) -> T:
        return await self.inner.modify_item(table, key, plan)

    def watch_writes(self, listener: WriteListener) -> None:
        self.inner.watch_writes(listener)


class LostAnswerStore(DelegatingStore):
    """While ``lose_next`` is set, the next transaction commits and then fails as if
    its answer were lost on the way (DynamoDB's request timed out after the write)."""

    lose_next = False
    lost = 0

    async def transact_write(self, ops: Sequence[TransactOp]) -> None:
        await self.inner.transact_write(ops)
        if self.lose_next:
            self.lose_next = False
            self.lost += 1
            raise Unavailable("the store's answer was lost")
