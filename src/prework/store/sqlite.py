"""The embedded store: one SQLite file, DynamoDB's rules.

Each logical table is one SQLite table::

    pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk, expires_at, data
    PRIMARY KEY (pk, sk), an index on (gsiNpk, gsiNsk) per declared index

``data`` is the item in the codec's stored form (compact JSON bytes, typed
only where a value is not plain JSON: see :mod:`prework.store.codec`), so
values round-trip as on DynamoDB; the other columns are copies kept for lookups
(an index's columns are set only when the item has both index keys, which is
what makes the indexes sparse). ``PRAGMA user_version`` holds the format
(:data:`FORMAT`); a file of another format is refused, not misread. The file
runs in WAL mode with ``synchronous=NORMAL``.

Writes go to ONE writer thread with its own connection, which serializes
them; a write runs its read-check-write inside a ``BEGIN IMMEDIATE``
transaction (shared with the writes queued beside it: :class:`~prework.store._lanes.WriterLane`), so
conditions, transactions and :meth:`modify_item` are atomic (also against other
processes using the file). Reads (get, query, batch_get,
ping) run inline on the event loop's thread, on a connection of its own that
never waits: WAL readers take no lock a writer holds, its busy timeout is 0,
and a progress handler aborts a statement past ``inline_budget`` seconds
(:data:`INLINE_BUDGET`);
a read that is refused either way (busy, aborted) runs again on one of a few
reader threads (the first idle one, so that calls one after another keep to
one warm thread). Why inline, with the figures: docs/architecture.md,
"Request flow". ``inline_reads=False`` sends every read to the reader
threads. No sqlite3 call that can wait on a lock or run long runs on the
loop; the connections themselves are opened in the threads. sqlite3 errors surface as
:class:`~prework.errors.Unavailable` (or :class:`~prework.errors.Internal`
for misuse), with the sqlite3 error as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from prework.errors import Internal, PreworkError, Unavailable
from prework.store._items import Stored, decode_many, decode_stored
from prework.store._lanes import Lane, WriterLane
from prework.store._queries import MergedSpec, QuerySpec, encode_cursor
from prework.store._sqlite_sql import Sql
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

__all__ = ["FORMAT", "INLINE_BUDGET", "SqliteStore"]

P = ParamSpec("P")
T = TypeVar("T")

FORMAT = 2  # the file format (user_version); 0: a new file; 1: typed JSON text
_PURGE_EVERY = 300.0  # seconds between sweeps of expired rows
# an inline read is aborted (and sent to a reader thread) past this many seconds
INLINE_BUDGET: Final = 0.002
_INLINE_STEPS = 1000  # SQLite VM steps between two looks at the clock
# refused inline reads: sent again to a reader thread
_RETRY_ELSEWHERE = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT})


class _Inline:
    """A reader connection for one event loop thread, and its deadline."""

    __slots__ = ("conn", "deadline")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.deadline = 0.0
        conn.set_progress_handler(self._past_deadline, _INLINE_STEPS)

    def _past_deadline(self) -> bool:
        return time.perf_counter() > self.deadline


class _Rows(Rows):
    """Row access for the write flows, inside the writer's transaction."""

    def __init__(self, conn: sqlite3.Connection, sql: Mapping[str, Sql]) -> None:
        self.conn = conn
        self._sql = sql

    def read(self, table: TableDef, pk: str, sk: str, now: float) -> bytes | None:
        row = self.conn.execute(self._sql[table.name].get, (pk, sk, now)).fetchone()
        if row is None:
            return None
        data: bytes = row[0]
        return data

    def write(self, table: TableDef, pk: str, sk: str, item: Stored) -> None:
        sql = self._sql[table.name]
        self.conn.execute(sql.put, sql.row(pk, sk, item))

    def remove(self, table: TableDef, pk: str, sk: str) -> None:
        self.conn.execute(self._sql[table.name].delete, (pk, sk))


def _translate(exc: BaseException) -> PreworkError:
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return Internal(f"SQLite misuse: {exc}")
    return Unavailable(f"SQLite is unavailable: {exc}")


def _private_files(path: Path) -> None:
    """Make the database file (created here if absent) and its ``-wal``/``-shm``
    readable by the owner only (0600), as ``secret.key`` is: it holds password
    hashes and every tenant's data. SQLite creates its ``-wal`` and ``-shm``
    files with the database file's mode, so a new database is private from the
    start; an existing one with a wider mode (an older release) is tightened."""
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # no directory, or not writable: sqlite3 reports it as it connects
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


class SqliteStore(StoreAdapter):
    """The store port over one SQLite file (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        tables: Mapping[str, TableDef] = TABLES,
        *,
        readers: int = 3,
        busy_timeout: float = 5.0,
        inline_reads: bool = True,
        inline_budget: float = INLINE_BUDGET,
    ) -> None:
        self.path = Path(path)
        self.tables = tables
        self._sql = {name: Sql(tdef) for name, tdef in tables.items()}
        self._reader_count = max(1, readers)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._writer: WriterLane[_Rows] | None = None
        self._readers: list[Lane] | None = None
        self._busy = [0] * self._reader_count  # calls in flight per reader
        self._wconn: sqlite3.Connection | None = None
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._closed = False
        self._last_purge = 0.0
        self._inline_reads = inline_reads
        self._inline_budget = inline_budget
        self._inline: dict[int, _Inline] = {}  # by thread id

    # ------------------------------------------------------------------ threads
    def _executors(self) -> tuple[WriterLane[_Rows], list[Lane]]:
        writer, readers = self._writer, self._readers
        if writer is not None and readers is not None:
            return writer, readers
        with self._lock:
            if self._closed:
                raise Unavailable("the store is closed")
            if self._writer is None:
                self._writer = WriterLane("prework-sqlite-w", self._run_batch)
            if self._readers is None:
                self._readers = [Lane(f"prework-sqlite-r{i}") for i in range(self._reader_count)]
            return self._writer, self._readers

    def _connect(self, *, writer: bool) -> sqlite3.Connection:
        _private_files(self.path)
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            if not writer:
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._conns.append(conn)
        return conn

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(writer=False)
        return conn

    def _in_reader(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Runs in a reader thread."""
        try:
            return fn(self._reader_conn(), *args, **kw)
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def _in_transaction(self, body: Callable[[_Rows], T]) -> T:
        """Runs in the writer thread: ``body`` inside one immediate transaction
        (sqlite3 errors raised as they are)."""
        conn = self._wconn
        if conn is None:
            conn = self._wconn = self._connect(writer=True)
        self._maybe_purge(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body(_Rows(conn, self._sql))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _in_writer(
        self, fn: Callable[Concatenate[_Rows, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        """Runs in the writer thread: ``fn`` inside one immediate transaction."""
        try:
            return self._in_transaction(lambda rows: fn(rows, *args, **kw))
        except sqlite3.Error as exc:
            raise _translate(exc) from exc

    def _run_batch(
        self, fns: list[Callable[[_Rows], Any]]
    ) -> list[tuple[Any, BaseException | None]]:
        """Runs in the writer thread: the writes ``fns`` in one transaction, each
        one's result or error (see :class:`~prework.store._lanes.WriterLane`)."""
        if len(fns) == 1:
            return [self._alone(fns[0])]

        def each(rows: _Rows) -> list[tuple[Any, BaseException | None]]:
            outcomes: list[tuple[Any, BaseException | None]] = []
            for fn in fns:
                try:
                    outcomes.append((fn(rows), None))
                except sqlite3.Error:
                    raise
                except Exception as exc:  # it checked before writing: it wrote nothing
                    outcomes.append((None, exc))
            return outcomes

        try:
            return self._in_transaction(each)
        except sqlite3.Error:  # nothing of the batch was written: each write alone
            return [self._alone(fn) for fn in fns]

    def _alone(self, fn: Callable[[_Rows], Any]) -> tuple[Any, BaseException | None]:
        try:
            return self._in_writer(fn), None
        except Exception as exc:
            return None, exc

    def _maybe_purge(self, conn: sqlite3.Connection) -> None:
        """Delete expired rows now and then (they are invisible already)."""
        now = time.time()
        if now - self._last_purge < _PURGE_EVERY:
            return
        self._last_purge = now
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._purge(conn, now)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _purge(self, conn: sqlite3.Connection, now: float) -> None:
        for sql in self._sql.values():
            if sql.tdef.ttl:
                conn.execute(sql.purge, (now,))

    async def _read(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> T:
        _, readers = self._executors()
        if self._inline_reads:
            inline = self._inline.get(threading.get_ident())
            if inline is None:
                inline = await self._open_inline(readers[0])
            inline.deadline = time.perf_counter() + self._inline_budget
            try:
                return fn(inline.conn, *args, **kw)
            except sqlite3.Error as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _RETRY_ELSEWHERE:
                    raise _translate(exc) from exc
        return await self._read_in_thread(readers, fn, *args, **kw)

    async def _open_inline(self, lane: Lane) -> _Inline:
        """This thread's inline connection, opened in a reader thread (opening
        may wait on the file)."""

        def connect() -> _Inline:
            try:
                conn = self._connect(writer=False)
                conn.execute("PRAGMA busy_timeout = 0")  # never wait: a reader thread will
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            return _Inline(conn)

        inline = await lane.run(connect)
        return self._inline.setdefault(threading.get_ident(), inline)

    async def _read_in_thread(
        self,
        readers: list[Lane],
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kw: P.kwargs,
    ) -> T:
        # the first idle reader thread, else the least busy: calls one after
        # another keep to one warm thread (a shared pool hands them round its
        # idle threads, which costs about a third more per call)
        with self._lock:
            busy = self._busy
            slot = busy.index(min(busy))
            busy[slot] += 1
        try:
            result: T = await readers[slot].run(lambda: self._in_reader(fn, *args, **kw))
            return result
        finally:
            with self._lock:
                busy[slot] -= 1

    async def _write(self, fn: Callable[[_Rows], T]) -> T:
        """``fn`` in a write transaction of the writer thread (with the writes queued
        beside it: :class:`~prework.store._lanes.WriterLane`)."""
        writer, _ = self._executors()
        result: T = await writer.write(fn)
        return result

    async def _hop_writer(self, job: Callable[[], T]) -> T:
        """Run ``job`` (:meth:`_in_writer`, or :meth:`_init_sync`) in the writer thread."""
        writer, _ = self._executors()
        result: T = await writer.run(job)
        return result

    # ------------------------------------------------------------------ lifecycle
    async def init(self) -> None:
        await self._hop_writer(self._init_sync)

    def _init_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise Unavailable(f"cannot create {self.path.parent}: {exc}") from exc

        def create(rows: _Rows) -> None:
            (version,) = rows.conn.execute("PRAGMA user_version").fetchone()
            names = list(self._sql)
            marks = ", ".join("?" * len(names))
            if (
                version == 0
                and rows.conn.execute(
                    f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",  # noqa: S608
                    names,
                ).fetchone()
            ):
                version = 1  # our tables, from before the format was recorded
            if version not in (0, FORMAT):
                raise Unavailable(
                    f"{self.path} holds store format {version}, this code reads format "
                    f"{FORMAT} and does not migrate: move the file away to start afresh"
                )
            rows.conn.execute(f"PRAGMA user_version = {FORMAT}")
            for sql in self._sql.values():
                for statement in sql.ddl:
                    rows.conn.execute(statement)
            self._purge(rows.conn, time.time())

        self._last_purge = time.time()  # the first sweep runs inside create
        self._in_writer(create)

    async def ping(self) -> None:
        def probe(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()

        await self._read(probe)

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            lanes = [*([self._writer] if self._writer else []), *(self._readers or [])]
            self._writer, self._readers = None, None
            self._inline = {}
        if lanes:
            await asyncio.to_thread(self._shutdown, lanes)

    def _shutdown(self, lanes: list[Lane]) -> None:
        for lane in lanes:
            lane.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    # ------------------------------------------------------------------ single items
    async def _get(self, table: TableDef, pk: str, sk: str, consistent: bool) -> Item | None:
        sql = self._sql[table.name]

        def run(conn: sqlite3.Connection) -> Item | None:
            row = conn.execute(sql.get, (pk, sk, time.time())).fetchone()
            return None if row is None else decode_stored(row[0])

        return await self._read(run)

    async def _put(
        self,
        table: TableDef,
        item: Item,
        encoded: tuple[str, str, Stored],
        condition: Condition | None,
    ) -> None:
        def run(rows: _Rows) -> None:
            put_flow(rows, table, encoded, condition, time.time())

        await self._write(run)

    async def _update(
        self,
        table: TableDef,
        pk: str,
        sk: str,
        spec: UpdateSpec,
        prepared: PreparedUpdate,
        condition: Condition | None,
    ) -> Item:
        def run(rows: _Rows) -> Item:
            return update_flow(rows, table, pk, sk, prepared, condition, time.time())

        return await self._write(run)

    async def _delete(self, table: TableDef, pk: str, sk: str, condition: Condition | None) -> None:
        def run(rows: _Rows) -> None:
            delete_flow(rows, table, pk, sk, condition, time.time())

        await self._write(run)

    # ------------------------------------------------------------------ many items
    async def _query(self, table: TableDef, spec: QuerySpec, after: tuple[str, ...] | None) -> Page:
        limit = spec.limit
        statement, args = self._sql[table.name].query(spec, after)
        args.append(time.time())
        args.append(-1 if limit is None else limit + 1)
        width = spec.key_width

        def run(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(statement, args).fetchall()
            more = limit is not None and len(rows) > limit
            if more:
                del rows[limit:]
            items = decode_many([row[-1] for row in rows])
            position = rows[-1][:width] if more else None
            return Page(items, None if position is None else encode_cursor(spec, position))

        return await self._read(run)

    async def _query_merged(
        self, table: TableDef, spec: MergedSpec, after: tuple[str, ...] | None
    ) -> Page:
        statement, args = self._sql[table.name].merged(spec, after, time.time())
        limit = spec.limit
        args.append(limit + 1)

        def run(conn: sqlite3.Connection) -> Page:
            rows = conn.execute(statement, args).fetchall()
            more = len(rows) > limit
            if more:
                del rows[limit:]
            items = decode_many([row[-1] for row in rows])
            return Page(items, encode_cursor(spec, rows[-1][:3]) if more else None)

        return await self._read(run)

    async def _batch_get(self, table: TableDef, keys: list[tuple[str, str]]) -> list[Item]:
        if not keys:
            return []
        sql = self._sql[table.name]

        def run(conn: sqlite3.Connection) -> list[Item]:
            now = time.time()
            found: list[bytes] = []
            for pk, sk in keys:
                row = conn.execute(sql.get, (pk, sk, now)).fetchone()
                if row is not None:
                    found.append(row[0])
            return decode_many(found)

        return await self._read(run)

    async def _batch_write(
        self,
        table: TableDef,
        puts: Sequence[Item],
        writes: list[tuple[str, str, Stored | None]],
    ) -> None:
        if not writes:
            return

        def run(rows: _Rows) -> None:
            for pk, sk, item in writes:
                if item is None:
                    rows.remove(table, pk, sk)
                else:
                    rows.write(table, pk, sk, item)

        await self._write(run)

    async def _transact_write(self, ops: list[ResolvedOp]) -> None:
        if not ops:
            return

        def run(rows: _Rows) -> None:
            transact_flow(rows, ops, time.time())

        await self._write(run)

    async def _modify_item(self, table: TableDef, pk: str, sk: str, plan: ResolvedPlan[T]) -> T:
        def run(rows: _Rows) -> T:
            # one writer transaction: the read, the plan and the write
            now = time.time()
            data = rows.read(table, pk, sk, now)
            ops, result = plan(None if data is None else decode_stored(data))
            if ops:
                transact_flow(rows, ops, now)
            return result

        return await self._write(run)
