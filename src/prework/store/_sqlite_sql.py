"""The SQL of the embedded store (:mod:`prework.store.sqlite`): each logical table's
statements, built once per table and per query shape. Identifiers come from the
schema (quoted); every value is a bound parameter."""

from __future__ import annotations

from typing import Any

from prework.store._items import Stored
from prework.store._queries import MergedSpec, QuerySpec
from prework.store.schema import INDEX_NAMES, TableDef

__all__ = ["COLUMNS", "VISIBLE", "Sql"]

COLUMNS = ("pk", "sk", *(f"{i}{part}" for i in INDEX_NAMES for part in ("pk", "sk")))
VISIBLE = "(expires_at IS NULL OR expires_at > ?)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Sql:
    """The statements of one table. Identifiers come from the schema (quoted);
    every value is a bound parameter."""

    def __init__(self, tdef: TableDef) -> None:
        t = _quote(tdef.name)
        self.tdef = tdef
        self.table = t
        cols = ", ".join((*COLUMNS, "expires_at", "data"))
        self.ddl = [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "pk TEXT NOT NULL, sk TEXT NOT NULL, "
            + "".join(f"{i}pk TEXT, {i}sk TEXT, " for i in INDEX_NAMES)
            + "expires_at REAL, data BLOB NOT NULL, PRIMARY KEY (pk, sk)) WITHOUT ROWID",
            *(
                f"CREATE INDEX IF NOT EXISTS {_quote(tdef.name + '_' + i)} "
                f"ON {t} ({i}pk, {i}sk) WHERE {i}pk IS NOT NULL"
                for i in tdef.indexes
            ),
        ]
        if tdef.ttl:
            self.ddl.append(
                f"CREATE INDEX IF NOT EXISTS {_quote(tdef.name + '_expires_at')} "
                f"ON {t} (expires_at) WHERE expires_at IS NOT NULL"
            )
        self.get = f"SELECT data FROM {t} WHERE pk = ? AND sk = ? AND {VISIBLE}"  # noqa: S608
        marks = ", ".join("?" * 10)
        self.put = f"INSERT OR REPLACE INTO {t} ({cols}) VALUES ({marks})"  # noqa: S608
        self.delete = f"DELETE FROM {t} WHERE pk = ? AND sk = ?"  # noqa: S608
        self.purge = f"DELETE FROM {t} WHERE expires_at <= ?"  # noqa: S608
        self._queries: dict[tuple[Any, ...], str] = {}  # query statements by shape

    def row(self, pk: str, sk: str, item: Stored) -> tuple[Any, ...]:
        keys = item.indexes
        if not keys:
            return (pk, sk, None, None, None, None, None, None, item.expires_at, item.data)
        values: list[Any] = [pk, sk]
        for index in INDEX_NAMES:
            values.extend(keys.get(index, (None, None)))
        values.append(item.expires_at)
        values.append(item.data)
        return tuple(values)

    def query(self, spec: QuerySpec, after: tuple[str, ...] | None) -> tuple[str, list[Any]]:
        """The statement of ``spec`` (continuing after ``after``) and its
        arguments up to, not including, the time and the limit."""
        args: list[Any] = [spec.pk]
        if spec.lower is not None:
            args.append(spec.lower)
        if spec.upper is not None:
            args.append(spec.upper)
        if after is not None:
            args.extend(after)
        shape = (
            spec.index,
            spec.lower is not None,
            spec.upper is not None and spec.upper_inclusive,
            spec.upper is not None and not spec.upper_inclusive,
            after is not None,
            spec.descending,
        )
        statement = self._queries.get(shape)
        if statement is None:
            statement = self._queries[shape] = self._query_statement(spec, after is not None)
        return statement, args

    def _query_statement(self, spec: QuerySpec, after: bool) -> str:
        if spec.index is None:
            part, sort, order = "pk", "sk", ["sk"]
        else:
            part, sort = f"{spec.index}pk", f"{spec.index}sk"
            order = [sort, "pk", "sk"]
        where = [f"{part} = ?"]
        if spec.lower is not None:
            where.append(f"{sort} >= ?")
        if spec.upper is not None:
            where.append(f"{sort} {'<=' if spec.upper_inclusive else '<'} ?")
        if after:
            where.append(
                f"({', '.join(order)}) {'<' if spec.descending else '>'} "
                f"({', '.join('?' * len(order))})"
            )
        where.append(VISIBLE)
        direction = " DESC" if spec.descending else ""
        columns = ", ".join(order)
        conditions = " AND ".join(where)
        ordering = ", ".join(c + direction for c in order)
        sql = f"SELECT {columns}, data FROM {self.table} WHERE {conditions} ORDER BY {ordering}"  # noqa: S608
        return sql + " LIMIT ?"

    def merged(
        self, spec: MergedSpec, after: tuple[str, ...] | None, now: float
    ) -> tuple[str, list[Any]]:
        """The statement of a merged query: one index scan per partition, merged
        by SQLite (``UNION ALL`` ordered by the scans' own order: no sort), and its
        arguments up to, not including, the limit."""
        i = spec.index
        where = [f"{i}pk = ?"]
        bounds: list[Any] = []
        if spec.lower is not None:
            where.append(f"{i}sk >= ?")
            bounds.append(spec.lower)
        if spec.after is not None:
            where.append(f"{i}sk > ?")
            bounds.append(spec.after)
        if spec.upper is not None:
            where.append(f"{i}sk <= ?")
            bounds.append(spec.upper)
        if after is not None:
            where.append(f"({i}sk, pk, sk) > (?, ?, ?)")
            bounds.extend(after)
        where.append(VISIBLE)
        bounds.append(now)
        shape = ("merged", i, len(spec.pks), spec.lower is not None, spec.after is not None,
                 spec.upper is not None, after is not None)  # fmt: skip
        statement = self._queries.get(shape)
        if statement is None:
            arm = f"SELECT {i}sk, pk, sk, data FROM {self.table} WHERE {' AND '.join(where)}"  # noqa: S608
            statement = " UNION ALL ".join([arm] * len(spec.pks)) + " ORDER BY 1, 2, 3 LIMIT ?"
            self._queries[shape] = statement
        args: list[Any] = []
        for pk in spec.pks:
            args.append(pk)
            args.extend(bounds)
        return statement, args
