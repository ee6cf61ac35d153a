"""The store port: DynamoDB's data model behind a narrow async interface.

Every table has a string partition key ``pk`` and a string sort key ``sk``.
Secondary indexes are sparse: an item is in index ``gsi1`` only if it has both
``gsi1pk`` and ``gsi1sk`` (string) attributes, and likewise for ``gsi2``/``gsi3``.
A table with TTL keeps the expiry, in whole epoch seconds, in ``expires_at``.

Values an item may hold: ``str``, ``int``, ``float``, ``bool``, ``None``,
``bytes``, ``list``, ``dict`` (string keys) and ``set[str]``/``frozenset[str]``
(a DynamoDB string set; never empty: an emptied set is removed). Numbers come
back as ``int`` when integral (``1.0`` reads back as ``1``), as on DynamoDB.

Key values are non-empty strings of UTF-8 text, at most
:data:`MAX_PARTITION_KEY_BYTES` (2048) bytes for a partition key and
:data:`MAX_SORT_KEY_BYTES` (1024) bytes for a sort key, counted in UTF-8, as on
DynamoDB. The same holds for an index's key attributes (``gsiNpk`` at most 2048
bytes, ``gsiNsk`` at most 1024) on a table that declares the index, whenever an
item has one of them, and for a query's partition key and sort-key bounds. Any
other key value raises :class:`~prework.errors.ValidationFailed` with code
``invalid_key`` (a 4xx, never :class:`~prework.errors.TooLarge`: a key is not an
item), from ``get``, ``put``, ``update``, ``delete``, ``query``, ``batch_get``,
``batch_write`` and ``transact_write`` alike. An index key attribute cannot be
the target of ``add``, ``add_to_set`` or ``remove_from_set``.

Rules every backend keeps, so that code passing on the embedded engine passes
on AWS (the contract suite in ``tests/contract`` checks each one):

* An item is at most 400 KB (:data:`MAX_ITEM_BYTES`, DynamoDB's size rules):
  bigger raises :class:`~prework.errors.TooLarge`, nothing written.
* ``batch_get`` takes at most 100 keys; ``transact_write`` at most 100
  operations, no two on the same item: more raises
  :class:`~prework.errors.LimitExceeded`. ``batch_write`` takes any number and
  sends them in chunks of 25, retrying unprocessed items with backoff.
* An expired item (``expires_at <= now``) is invisible: ``get``,
  ``batch_get`` and ``query`` never return it, a condition treats it as absent,
  and ``update`` on it starts from an empty item, even before DynamoDB's
  sweeper deleted it.
* A failed condition raises :class:`~prework.errors.ConditionFailed` (a
  transaction: :class:`~prework.errors.TransactionCanceled` naming the failed
  positions) and writes nothing.
* Validation is shared and runs before anything is read or sent, so every
  backend rejects the same call with the same error and message, whatever the
  engine would have said; errors that reach a client never carry an engine's
  own text (it stays in ``__cause__`` and the log).
* Engine trouble (unreachable, throttled after retries) raises
  :class:`~prework.errors.Unavailable`. A cursor that is malformed, belongs to
  another query, or whose position is not a valid key inside the query's
  key range raises :class:`~prework.errors.ValidationFailed` with code
  ``invalid_cursor``; the shape of a query itself (exclusive bounds, a reversed
  range, a bad limit) is ``invalid_query``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from prework.store.schema import TableDef

Item: TypeAlias = dict[str, Any]
Key: TypeAlias = Mapping[str, str]  # {"pk": ..., "sk": ...}

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048  # pk, gsiNpk and a query's partition key
MAX_SORT_KEY_BYTES = 1024  # sk, gsiNsk, a query's sort-key bounds
MAX_BATCH_GET = 100
BATCH_WRITE_CHUNK = 25
MAX_TRANSACT_ITEMS = 100
KEY_ATTRS = ("pk", "sk")
TTL_ATTR = "expires_at"


# --------------------------------------------------------------------------- conditions
@dataclass(frozen=True, slots=True)
class ItemExists:
    """The item exists (and is not expired)."""


@dataclass(frozen=True, slots=True)
class ItemNotExists:
    """The item does not exist (or is expired)."""


@dataclass(frozen=True, slots=True)
class AttrExists:
    name: str


@dataclass(frozen=True, slots=True)
class AttrNotExists:
    name: str


@dataclass(frozen=True, slots=True)
class AttrEquals:
    """Attribute ``name`` exists and equals ``value``."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class AttrNotEquals:
    """Attribute ``name`` is missing or differs from ``value``."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class AttrLessThan:
    """Attribute ``name`` exists and is ``< value`` (numbers or strings)."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class AttrGreaterThan:
    """Attribute ``name`` exists and is ``> value`` (numbers or strings)."""

    name: str
    value: Any


@dataclass(frozen=True, slots=True)
class All:
    """Every one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        object.__setattr__(self, "conditions", tuple(conditions))


@dataclass(frozen=True, slots=True)
class Any_:
    """At least one of ``conditions`` holds."""

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        object.__setattr__(self, "conditions", tuple(conditions))


Condition: TypeAlias = (
    ItemExists
    | ItemNotExists
    | AttrExists
    | AttrNotExists
    | AttrEquals
    | AttrNotEquals
    | AttrLessThan
    | AttrGreaterThan
    | All
    | Any_
)


def version_equals(version: int) -> Condition:
    """Optimistic locking: the stored ``version`` attribute equals ``version``."""
    return AttrEquals("version", version)


# --------------------------------------------------------------------------- updates
@dataclass(frozen=True, slots=True)
class UpdateSpec:
    """What an ``update`` does, applied in this order to the stored item.

    ``set``: attribute -> new value. ``add``: attribute -> number added to it
    (a missing attribute counts as 0). ``add_to_set`` / ``remove_from_set``:
    attribute -> strings added to / removed from a string set (an emptied set is
    removed). ``remove``: attributes deleted. Key attributes cannot be changed;
    an attribute may appear in only one of these.
    """

    set: Mapping[str, Any] = field(default_factory=dict)
    add: Mapping[str, int | float] = field(default_factory=dict)
    add_to_set: Mapping[str, Iterable[str]] = field(default_factory=dict)
    remove_from_set: Mapping[str, Iterable[str]] = field(default_factory=dict)
    remove: Sequence[str] = ()


# --------------------------------------------------------------------------- transactions
@dataclass(frozen=True, slots=True)
class Put:
    table: str
    item: Item
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Update:
    table: str
    key: Key
    spec: UpdateSpec
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    table: str
    key: Key
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """A condition on an item that the transaction does not write."""

    table: str
    key: Key
    condition: Condition


TransactOp: TypeAlias = Put | Update | Delete | Check

T = TypeVar("T")
# what modify_item hands the current item to: the ops to write and a result
Plan: TypeAlias = Callable[[Item | None], tuple[Sequence[TransactOp], T]]
# told (logical table, pk, sk) after every write call that may have changed the item
WriteListener: TypeAlias = Callable[[str, str, str], None]


# --------------------------------------------------------------------------- queries
@dataclass(frozen=True, slots=True)
class Page:
    """One page of a query; ``cursor`` is None on the last page."""

    items: list[Item]
    cursor: str | None


class Store(abc.ABC):
    """Async port over a DynamoDB-shaped store.

    ``table`` arguments are logical table names from :mod:`prework.store.schema`
    (``"users"``, ``"audit-log"``, ...); the adapter maps them to physical names
    (``pre-work-users``). An unknown table raises ``ValueError`` (a bug, not
    user input).
    """

    tables: Mapping[str, TableDef]

    # -- lifecycle
    @abc.abstractmethod
    async def init(self) -> None:
        """Create tables, indexes and TTL settings that are missing. Idempotent."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the engine answers; raise :class:`Unavailable` if not."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads. The store is unusable afterwards."""

    # -- single items
    @abc.abstractmethod
    async def get(self, table: str, key: Key, *, consistent: bool = True) -> Item | None:
        """The item at ``key``, or None if absent or expired."""

    @abc.abstractmethod
    async def put(self, table: str, item: Item, *, condition: Condition | None = None) -> None:
        """Create or replace the whole item. Raises ConditionFailed / TooLarge."""

    @abc.abstractmethod
    async def update(
        self,
        table: str,
        key: Key,
        spec: UpdateSpec,
        *,
        condition: Condition | None = None,
    ) -> Item:
        """Apply ``spec`` to the item (created if absent, unless the condition
        says otherwise) and return the whole item as stored afterwards."""

    @abc.abstractmethod
    async def delete(self, table: str, key: Key, *, condition: Condition | None = None) -> None:
        """Delete the item; deleting an absent item is not an error (unless a
        condition requires it to exist)."""

    # -- many items
    @abc.abstractmethod
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
        """Items whose partition key (of ``index``, if given) is ``pk``, ordered
        by sort key. ``sk_prefix`` and the range bounds are exclusive of each
        other; ``sk_gte``/``sk_lte`` are inclusive and may be given alone.
        ``limit`` caps the page; ``cursor`` continues after a previous page.
        A cursor only continues the query that produced it."""

    @abc.abstractmethod
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
        """The items of several partitions of ``index`` (``pks``: one or more,
        distinct) as one sequence, ascending by the index's
        sort key, then by table key (``pk``, ``sk``): what querying each partition
        and merging the results gives, in one call. Bounds apply to the index's
        sort key: ``sk_gte`` and ``sk_lte`` inclusive, ``sk_after`` exclusive (a
        caller continuing after a sort key of its own); any may be given alone
        or together. ``limit`` caps the page; ``cursor`` continues after the
        previous page's last item exactly (ties on the sort key included), and
        only the same merged query (same table, index, partitions in any order,
        bounds)."""

    @abc.abstractmethod
    async def batch_get(self, table: str, keys: Sequence[Key]) -> list[Item]:
        """The existing, unexpired items among ``keys`` (at most 100), in no
        particular order."""

    @abc.abstractmethod
    async def batch_write(
        self,
        table: str,
        *,
        puts: Sequence[Item] = (),
        deletes: Sequence[Key] = (),
    ) -> None:
        """Unconditional puts and deletes, any number, in chunks of 25. Not
        atomic across chunks; each item is written exactly once."""

    @abc.abstractmethod
    async def transact_write(self, ops: Sequence[TransactOp]) -> None:
        """All of ``ops`` (at most 100, each on a distinct item) or none.
        A failed condition raises TransactionCanceled naming the positions."""

    @abc.abstractmethod
    async def modify_item(self, table: str, key: Key, plan: Plan[T]) -> T:
        """Read-check-write of one item: ``plan(current)`` (the item at ``key``,
        or None) returns the ops to write as one ``transact_write`` (maybe none)
        and a result, which is returned once they are written.

        ``plan`` is pure and quick (it may run on a store thread, under a lock)
        and may raise (nothing is written). On SQLite and in memory the read,
        ``plan`` and the write are one atomic step: no other write lands in
        between, so conditions on what ``plan`` read always hold. On DynamoDB
        the read is strongly consistent and the ops carry ``plan``'s
        conditions; when one fails (another write landed in between) or the
        write conflicts, the item is read and planned again, a few times with
        backoff, then TransactionCanceled / WriteConflict is raised."""

    @abc.abstractmethod
    def watch_writes(self, listener: WriteListener) -> None:
        """Call ``listener(table, pk, sk)`` (logical table name) after each write
        call of this store object that may have changed that item (also when the
        call failed: it may have committed). Kept by weak reference when it is a
        bound method, so a watcher that goes away is dropped. For caches of this
        process; other processes' writes are never seen."""
