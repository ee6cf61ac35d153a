"""The tables Prework keeps, in one place.

Every table has string keys ``pk`` (partition) and ``sk`` (sort). Each listed
index ``gsiN`` is a global secondary index keyed by the string attributes
``gsiNpk``/``gsiNsk``, projecting all attributes. Tables with ``ttl`` expire
items by the epoch-seconds attribute ``expires_at``.

The physical name is ``<prefix><name>``; with the default prefix ``pre-work-``
these are the seed's tables (``pre-work-users``, ``pre-work-audit-log``, ...).
``docs/data-model.md`` lists the item shapes and access patterns of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

INDEX_NAMES = ("gsi1", "gsi2", "gsi3")


@dataclass(frozen=True, slots=True)
class TableDef:
    name: str
    indexes: tuple[str, ...] = ()
    ttl: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.indexes) - set(INDEX_NAMES)
        if unknown:
            raise ValueError(f"unknown index names {sorted(unknown)}")


TABLES: Mapping[str, TableDef] = {
    t.name: t
    for t in (
        # organizations and their invitations (invitations expire); no index:
        # every read is by key (see docs/data-model.md). A table made when it
        # had gsi1 keeps it: init adds missing indexes and leaves others alone
        TableDef("organizations", ttl=True),
        # users, plus one EMAIL#<email> guard item per user for uniqueness
        TableDef("users", indexes=("gsi1", "gsi2"), ttl=False),
        TableDef("profiles", indexes=("gsi1",)),
        # teams and team memberships
        TableDef("teams", indexes=("gsi1",)),
        TableDef("templates", indexes=("gsi1",)),
        TableDef("assignments", indexes=("gsi1", "gsi2")),
        # auth sessions, collaboration sessions and rate-limit counters (all expire)
        TableDef("sessions", indexes=("gsi1",), ttl=True),
        TableDef("submissions", indexes=("gsi1", "gsi2")),
        TableDef("media", indexes=("gsi1",), ttl=True),
        TableDef("audit-log", indexes=("gsi1", "gsi2", "gsi3")),
    )
}
