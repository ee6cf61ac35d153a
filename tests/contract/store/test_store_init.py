"""``init`` on storage made by an older or newer schema: it adds the indexes a
table lacks and leaves alone the ones the schema no longer declares (the
``organizations`` table lost its unused ``gsi1``), and stays idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from aiobotocore.session import get_session

from prework.store.base import Store
from prework.store.dynamodb.store import DynamoStore
from prework.store.schema import TABLES, TableDef
from prework.store.sqlite import SqliteStore

S = TypeVar("S", bound=Store)
ORGS = "organizations"
OLD = {ORGS: TableDef(ORGS, indexes=("gsi1",), ttl=True)}  # as it was first created
NOW = {ORGS: TABLES[ORGS]}
MORE = {ORGS: TableDef(ORGS, indexes=("gsi2",), ttl=True)}  # an index added later


def test_organizations_declare_no_index() -> None:
    assert TABLES[ORGS].indexes == ()
    assert TABLES[ORGS].ttl


async def _walk(stores: list[S]) -> S:
    """init each store in turn (same storage, successive schemas); the last is
    left open and returned."""
    for store in stores[:-1]:
        await store.init()
        await store.init()
        await store.put(ORGS, {"pk": "ORG#1", "sk": "ORG", "name": "one"})
        await store.close()
    last = stores[-1]
    await last.init()
    await last.init()
    return last


async def _walk_and_query(stores: list[Store]) -> None:
    last = await _walk(stores)
    try:
        assert await last.get(ORGS, {"pk": "ORG#1", "sk": "ORG"}) == {
            "pk": "ORG#1",
            "sk": "ORG",
            "name": "one",
        }
        await last.put(ORGS, {"pk": "ORG#2", "sk": "ORG", "gsi2pk": "G", "gsi2sk": "2"})
        page = await last.query(ORGS, index="gsi2", pk="G")
        assert [item["pk"] for item in page.items] == ["ORG#2"]
    finally:
        await last.close()


async def test_sqlite_init_keeps_an_extra_index_and_adds_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    await _walk_and_query([SqliteStore(path, OLD), SqliteStore(path, NOW), SqliteStore(path, MORE)])


async def test_dynamodb_init_leaves_an_extra_index_alone(
    dynamodb_endpoint: str, dynamodb_prefix: str
) -> None:
    # (adding a missing index is not exercised here: on DynamoDB Local an index
    # added by UpdateTable stays CREATING, so init would wait for it in vain)
    def make(tables: dict[str, TableDef]) -> DynamoStore:
        return DynamoStore(
            endpoint=dynamodb_endpoint, region="us-east-1", prefix=dynamodb_prefix, tables=tables
        )

    store = await _walk([make(OLD), make(NOW)])
    try:
        assert await store.get(ORGS, {"pk": "ORG#1", "sk": "ORG"}) == {
            "pk": "ORG#1",
            "sk": "ORG",
            "name": "one",
        }
        async with get_session().create_client(
            "dynamodb",
            endpoint_url=dynamodb_endpoint,
            region_name="us-east-1",
            aws_access_key_id="prework",
            aws_secret_access_key="prework",
        ) as client:
            described = await client.describe_table(TableName=store.physical(ORGS))
        indexes = [gsi["IndexName"] for gsi in described["Table"].get("GlobalSecondaryIndexes", [])]
        assert indexes == ["gsi1"]  # still there, unused
    finally:
        await store.close()
