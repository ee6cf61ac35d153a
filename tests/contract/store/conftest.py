"""The store contract suite: one set of tests, every backend.

A test that takes ``store`` runs once per backend (``memory``, ``sqlite``,
``dynamodb``); ``@pytest.mark.backend("sqlite")`` limits it to the named
backends, and a test may also ask for ``memory_store`` / ``sqlite_store`` /
``dynamodb_store`` directly. Select one backend with ``-k sqlite``.

* memory: a fresh :class:`MemoryStore` per test.
* sqlite: a fresh :class:`SqliteStore` on a file in ``tmp_path`` per test.
* dynamodb: one :class:`DynamoStore` per session on the root
  ``dynamodb_endpoint`` fixture (DynamoDB Local), under a table prefix unique
  to the session; its tables are dropped at the end. Tests keep apart by
  putting the per-test ``ns`` in every partition key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiobotocore.session import get_session

from prework.store.base import Store
from prework.store.memory import MemoryStore
from prework.store.sqlite import SqliteStore

BACKENDS = ("memory", "sqlite", "dynamodb")
DYNAMODB_REGION = "us-east-1"
DYNAMODB_KEY = "prework"  # DynamoDB Local accepts any alphanumeric key


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backend")
    names = marker.args if marker else BACKENDS
    unknown = set(names) - set(BACKENDS)
    if unknown:
        raise pytest.UsageError(f"unknown store backends {sorted(unknown)}")
    metafunc.parametrize("store", names, indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Store:
    """The store of the backend this test instance runs on (initialised)."""
    chosen: Store = request.getfixturevalue(f"{request.param}_store")
    return chosen


@pytest.fixture
def ns() -> str:
    """A prefix unique to the test, for partition keys."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def memory_store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    await store.init()
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db")
    await store.init()
    yield store
    await store.close()


@pytest.fixture(scope="session")
async def dynamodb_store(dynamodb_endpoint: str) -> AsyncIterator[Store]:
    from prework.store.dynamodb.store import DynamoStore

    prefix = f"prework-ct-{uuid.uuid4().hex[:8]}-"
    store = DynamoStore(
        endpoint=dynamodb_endpoint,
        region=DYNAMODB_REGION,
        prefix=prefix,
        access_key=DYNAMODB_KEY,
        secret_key=DYNAMODB_KEY,
    )
    try:
        await store.init()
        yield store
    finally:
        await store.close()
        await _drop_tables(dynamodb_endpoint, prefix)


async def _drop_tables(endpoint: str, prefix: str) -> None:
    """Drop the session's tables (when the engine outlives the session)."""
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=DYNAMODB_REGION,
        aws_access_key_id=DYNAMODB_KEY,
        aws_secret_access_key=DYNAMODB_KEY,
    ) as client:
        names: list[str] = []
        async for page in client.get_paginator("list_tables").paginate():
            names.extend(n for n in page.get("TableNames", []) if n.startswith(prefix))
        for name in names:
            await client.delete_table(TableName=name)


@pytest.fixture
async def dynamodb_prefix(dynamodb_endpoint: str) -> AsyncIterator[str]:
    """A table prefix of the test's own on DynamoDB Local (for tests that make
    their own DynamoStore, for example with another schema); its tables are
    dropped afterwards."""
    prefix = f"prework-own-{uuid.uuid4().hex[:8]}-"
    try:
        yield prefix
    finally:
        await _drop_tables(dynamodb_endpoint, prefix)
