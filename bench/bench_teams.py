"""Creating a 1,000-member team, on the embedded default (SQLite) and on DynamoDB Local.

Each round creates one team of 1,000 members through the teams service (as the
route does: permission check, member lookup, the ``creating`` team with its audit
event, the memberships by batch writes, the flip to ``active``), and, as the
baseline of the same round, writes the same 1,000 membership items with one bare
``store.batch_write`` (the floor: what the memberships cost alone). Engines and the
two measures alternate round by round, so a busy machine slows both alike; the
figures are the median and the spread (min..max) of the rounds.

It counts the batch calls: on DynamoDB the ``BatchWriteItem`` requests the adapter
sends (expect 40: 1,000 items in chunks of 25, plus any re-sent unprocessed items),
on SQLite the ``batch_write`` calls at the port (one per team; the adapter writes
them in one SQLite transaction).

DynamoDB Local is ``PREWORK_TEST_DYNAMODB_ENDPOINT`` or one started for the run
(``prework.testing.engines.dynamodb_local``). Run:
``python bench/bench_teams.py [--rounds N] [--no-dynamodb]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from prework.core.clock import iso, system_clock
from prework.core.principal import Principal, RequestContext, Role
from prework.identity import repository as identity_repo
from prework.pubsub.memory import MemoryPubSub
from prework.store.base import Item, Key, Store
from prework.store.dynamodb.store import DynamoStore
from prework.store.sqlite import SqliteStore
from prework.teams import repository as team_repo
from prework.teams.models import NewMember
from prework.teams.service import TeamService

MEMBERS = 1000
EXPECTED_DYNAMODB_CALLS = 40
CTX = RequestContext(request_id="bench", client_ip="127.0.0.1", user_agent="bench")


class CountingDynamo(DynamoStore):
    """DynamoStore counting the BatchWriteItem requests it sends."""

    batch_calls = 0

    async def _call(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if operation == "batch_write_item":
            self.batch_calls += 1
        return await super()._call(operation, params)


class CountingSqlite(SqliteStore):
    """SqliteStore counting the batch writes at its port."""

    batch_calls = 0

    async def batch_write(
        self, table: str, *, puts: Sequence[Item] = (), deletes: Sequence[Key] = ()
    ) -> None:
        self.batch_calls += 1
        await super().batch_write(table, puts=puts, deletes=deletes)


@contextlib.contextmanager
def dynamodb_endpoint() -> Iterator[str]:
    given = os.environ.get("PREWORK_TEST_DYNAMODB_ENDPOINT")
    if given:
        yield given
        return
    from prework.testing.engines.dynamodb_local import start_dynamodb_local

    with start_dynamodb_local() as engine:
        yield engine.endpoint


async def seed_org(store: Store) -> tuple[Principal, list[str]]:
    """An organization's supervisor and 1,000 active workers, straight into the store."""
    org = uuid.uuid4().hex
    now = iso(system_clock())
    ids = [uuid.uuid4().hex for _ in range(MEMBERS)]
    await store.batch_write(
        identity_repo.USERS,
        puts=[
            identity_repo.user_item(
                org_id=org,
                user_id=u,
                email=f"{u}@example.com",
                role=Role.WORKER,
                password_hash="$argon2id$bench",
                now=now,
            )
            for u in ids
        ],
    )
    boss = Principal(
        user_id=uuid.uuid4().hex, org_id=org, role=Role.SUPERVISOR, session_id="s", email="b@x"
    )
    return boss, ids


def counted(store: Store) -> int:
    return int(getattr(store, "batch_calls", 0))


async def one_round(store: Store, service: TeamService) -> dict[str, float]:
    boss, ids = await seed_org(store)
    members = [NewMember(u) for u in ids]
    # baseline: the same memberships, one bare batch write
    items = [
        team_repo.membership_item(
            org_id=boss.org_id, team_id=uuid.uuid4().hex, member=m, added_by="b", now="t"
        )
        for m in members
    ]
    start = time.perf_counter()
    await store.batch_write(team_repo.TEAMS, puts=items)
    baseline = time.perf_counter() - start
    before = counted(store)
    start = time.perf_counter()
    team = await service.create(principal=boss, ctx=CTX, name="Bench crew", members=members)
    create = time.perf_counter() - start
    assert team.member_count == MEMBERS
    return {"create": create, "baseline": baseline, "calls": counted(store) - before}


def summary(name: str, rounds: list[dict[str, float]]) -> str:
    def ms(key: str) -> str:
        values = [r[key] * 1000 for r in rounds]
        return f"{statistics.median(values):8.0f} ms ({min(values):.0f}..{max(values):.0f})"

    ratios = [r["create"] / r["baseline"] for r in rounds]
    calls = sorted({int(r["calls"]) for r in rounds})
    return (
        f"{name:<10} create {ms('create')}   bare batch_write {ms('baseline')}   "
        f"ratio {statistics.median(ratios):.2f} ({min(ratios):.2f}..{max(ratios):.2f})   "
        f"batch calls per team {calls}"
    )


async def main(rounds: int, skip_dynamodb: bool) -> int:
    results: dict[str, list[dict[str, float]]] = {"sqlite": [], "dynamodb": []}
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        bus = MemoryPubSub()
        sqlite = CountingSqlite(Path(tmp) / "bench.db")
        await sqlite.init()
        engines: list[tuple[str, Store]] = [("sqlite", sqlite)]
        prefix = f"bench-teams-{os.getpid()}-"
        if not skip_dynamodb:
            endpoint = stack.enter_context(dynamodb_endpoint())
            key = "prework"
            ddb = CountingDynamo(
                endpoint=endpoint, region="us-east-1", prefix=prefix, access_key=key, secret_key=key
            )
            await ddb.init()
            engines.append(("dynamodb", ddb))
        try:
            for _ in range(rounds):
                for name, store in engines:
                    service = TeamService(store, bus)
                    results[name].append(await one_round(store, service))
        finally:
            for _, store in engines:
                if isinstance(store, DynamoStore):
                    await drop_tables(store, prefix)
                await store.close()
            await bus.close()
    print(f"1,000-member team, {rounds} rounds, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    status = 0
    for name, rows in results.items():
        if rows:
            print(summary(name, rows))
    ddb_calls = {int(r["calls"]) for r in results["dynamodb"]}
    if ddb_calls and ddb_calls != {EXPECTED_DYNAMODB_CALLS}:
        print(f"expected {EXPECTED_DYNAMODB_CALLS} BatchWriteItem calls per team on DynamoDB")
        status = 1
    return status


async def drop_tables(store: DynamoStore, prefix: str) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "dynamodb",
        endpoint_url=store.endpoint,
        region_name="us-east-1",
        aws_access_key_id="prework",
        aws_secret_access_key="prework",
    ) as client:  # the engine may outlive the run
        for name in store.tables:
            with contextlib.suppress(Exception):
                await client.delete_table(TableName=prefix + name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-dynamodb", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.rounds, args.no_dynamodb)))
