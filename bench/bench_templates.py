"""Publishing and loading a 300-item checklist template, in milliseconds.

On the embedded default (SQLite) and on DynamoDB Local, through the template
service (the route's work minus HTTP): per round, a fresh 300-item draft is
created (not timed), then timed:

* validate: the definition's rules and its stored size (what create, edit and
  import run in a worker thread);
* publish: ``TemplateService.publish`` (read head and draft, one transaction:
  the version item, the head, the audit event);
* load version: ``TemplateService.get_version`` (one read of the version item);
* load draft: ``TemplateService.get`` (head, then draft);

against a baseline measured in the same run, interleaved round by round: the
raw store writing (``put`` with ``ItemNotExists``) and reading (``get``) one
item of the same size, the floor any publish and load pays. Prints the median
and the min..max of each, and publish / raw put, load / raw get. Run:
``python bench/bench_templates.py [--quick] [--no-dynamodb]``
(``PREWORK_TEST_DYNAMODB_ENDPOINT`` names a running DynamoDB Local, else one is
started for the run).
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
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

from prework.checklists.models import definition_problems
from prework.checklists.templates import TemplateService
from prework.core.ids import new_id
from prework.core.principal import Principal, RequestContext, Role
from prework.store.base import ItemNotExists, Store
from prework.store.codec import item_size
from prework.store.sqlite import SqliteStore

ITEMS = 300


def definition() -> dict[str, Any]:
    """300 items of every answer type, a third with a condition on an earlier item."""
    kinds = ["yes_no_na", "number", "checkbox", "text", "single_choice", "photo"]
    sections = []
    for s in range(10):
        items: list[dict[str, Any]] = []
        for i in range(30):
            n = s * 30 + i
            kind = kinds[n % len(kinds)]
            item: dict[str, Any] = {
                "id": f"q{n}",
                "type": kind,
                "label": f"Check {n}: is the work area safe to proceed with step {n}?",
                "help": "Look at the permit and the isolation list before answering.",
                "required": True,
                "weight": 1.0,
            }
            if kind == "yes_no_na":
                item |= {"critical": True, "fail_when": {"op": "equals", "value": "no"}}
            elif kind == "number":
                item |= {"min": 0.0, "max": 100.0, "unit": "%", "decimals": 1}
            elif kind == "single_choice":
                item["choices"] = [{"value": f"c{k}", "label": f"Choice {k}"} for k in range(5)]
            elif kind == "photo":
                item |= {"min_count": 0, "max_count": 3}
            if i and n % 3 == 0:
                prev = items[-1]
                if prev["type"] == "checkbox":
                    item["visible_when"] = {"op": "equals", "item": prev["id"], "value": True}
                elif prev["type"] == "text":
                    item["visible_when"] = {"op": "not_equals", "item": prev["id"], "value": ""}
            items.append(item)
        sections.append({"id": f"s{s}", "title": f"Section {s}", "items": items})
    return {"sections": sections}


async def timed(call: Awaitable[Any]) -> float:
    """Milliseconds ``call`` (a coroutine not yet started) takes."""
    start = time.perf_counter()
    await call
    return (time.perf_counter() - start) * 1000


async def run(store: Store, rounds: int) -> dict[str, list[float]]:
    org = new_id()
    owner = Principal(new_id(), org, Role.OWNER, new_id(), "bench@example.com")
    ctx = RequestContext(request_id="bench")
    service = TemplateService(store)
    body = definition()
    out: dict[str, list[float]] = {
        k: [] for k in ("validate", "raw put", "publish", "raw get", "load version", "load draft")
    }
    raw = {
        "pk": f"ORG#{org}",
        "type": "bench",
        "definition": body,
        "name": "Bench",
        "template_id": new_id(),
        "org_id": org,
        "number": 1,
        "published_by": owner.user_id,
        "published_at": "2026-01-01T00:00:00.000000Z",
    }
    size = item_size({**raw, "sk": "TPLVER#" + "0" * 32 + "#000001"})
    for r in range(rounds + 1):  # round 0 warms up
        created = await service.create(
            principal=owner, ctx=ctx, name="Bench", description=None, definition=body
        )
        key = {"pk": str(raw["pk"]), "sk": f"BENCH#{new_id()}"}
        times = {
            "validate": await timed(asyncio.to_thread(definition_problems, body, stored_size=size)),
            "raw put": await timed(
                store.put("templates", {**raw, **key}, condition=ItemNotExists())
            ),
            "publish": await timed(
                service.publish(principal=owner, ctx=ctx, template_id=created.id)
            ),
            "raw get": await timed(store.get("templates", key)),
            "load version": await timed(
                service.get_version(principal=owner, ctx=ctx, template_id=created.id, number=1)
            ),
            "load draft": await timed(
                service.get(principal=owner, ctx=ctx, template_id=created.id)
            ),
        }
        if r:
            for name, ms in times.items():
                out[name].append(ms)
    out["_size"] = [float(size)]
    return out


@contextlib.contextmanager
def dynamodb_endpoint() -> Iterator[str]:
    given = os.environ.get("PREWORK_TEST_DYNAMODB_ENDPOINT")
    if given:
        yield given
        return
    from prework.testing.engines.dynamodb_local import start_dynamodb_local

    with start_dynamodb_local() as engine:
        yield engine.endpoint


@contextlib.asynccontextmanager
async def dynamo_store(endpoint: str) -> AsyncIterator[Store]:
    from aiobotocore.session import get_session

    from prework.store.dynamodb.store import DynamoStore

    prefix = f"bench-{os.getpid()}-{int(time.time())}-"
    key = "prework"
    store = DynamoStore(
        endpoint=endpoint, region="us-east-1", prefix=prefix, access_key=key, secret_key=key
    )
    try:
        await store.init()
        yield store
    finally:
        await store.close()
        async with get_session().create_client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=key,
            aws_secret_access_key=key,
        ) as client:  # drop the tables: the engine may outlive the run
            for name in store.tables:
                with contextlib.suppress(Exception):
                    await client.delete_table(TableName=prefix + name)


def report(engine: str, result: dict[str, list[float]]) -> None:
    size = int(result.pop("_size")[0])
    print(
        f"\n{engine}: {ITEMS} items, stored version {size / 1024:.0f} KB, "
        f"{len(result['publish'])} rounds"
    )
    print(f"{'':>14}{'median ms':>11}{'min..max':>16}")
    for name, values in result.items():
        print(
            f"{name:>14}{statistics.median(values):>11.2f}{min(values):>8.2f}..{max(values):<7.2f}"
        )
    med = {k: statistics.median(v) for k, v in result.items()}
    print(
        f"  publish / raw put = {med['publish'] / med['raw put']:.1f}x, "
        f"load version / raw get = {med['load version'] / med['raw get']:.1f}x, "
        f"load draft / raw get = {med['load draft'] / med['raw get']:.1f}x"
    )


async def main(quick: bool, skip_dynamodb: bool) -> None:
    rounds = 5 if quick else 30
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.db")
        await store.init()
        try:
            report("sqlite", await run(store, rounds))
        finally:
            await store.close()
    if not skip_dynamodb:
        with dynamodb_endpoint() as endpoint:
            async with dynamo_store(endpoint) as ddb:
                report("dynamodb local", await run(ddb, max(3, rounds // 3)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--no-dynamodb", action="store_true", help="skip DynamoDB Local")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.no_dynamodb))
