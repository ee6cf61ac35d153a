"""Shared fixtures for the API tier: the real app over real engines, through HTTP.

* ``engine``: ``"sqlite"`` (SqliteStore file in ``tmp_path``) or ``"dynamodb"``
  (DynamoStore on DynamoDB Local from the root ``dynamodb_endpoint`` fixture,
  on a set of tables of the test's own: ``dynamodb_table_prefix``). Tests that
  use ``store``/``app``/``client`` run once per engine; select one with
  ``-k sqlite`` / ``-k dynamodb``.
* ``dynamodb_table_prefix``: the prefix of a whole set of the app's tables,
  leased for the test from a session pool (:class:`TablePool`): created once
  per session, empty when the test starts, emptied (scan + batch delete) when
  it ends. Tests never share a table while they run, so no test sees
  another's items, global keys (``EMAIL#``, ``RATE#``, sessions) included.
  Blobs are always the file backend (``LocalBlobStore`` under ``tmp_path``),
  so the app also serves the file backend's upload/download routes.
* ``settings``: test settings naming those engines (built once per test).
* ``store`` / ``blobs``: initialised adapters, closed after the test.
* ``app``: ``create_app(settings, store=store, blobs=blobs)``; add throwaway
  routes with ``app.include_router(...)`` before the first request.
* ``client``: ``httpx.AsyncClient`` on the app (ASGI transport, lifespan run).
* ``app_client``: ``async with app_client(other_app) as c`` for a custom app.
* ``module_engine`` / ``module_settings`` / ``module_store`` / ``module_app`` /
  ``module_client``: the same, made once per test module and engine (its own
  set of tables), for tests that share one setup where that is safe: each
  test makes the objects it checks (the route walks of ``identity/``).
* ``make_settings(tmp_path, store_url, **overrides)``: test settings (cheap
  password hashing: ``CHEAP_HASHING``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from prework.app import create_app
from prework.blobs.base import BlobStore
from prework.bootstrap import open_blobs, parse_store_url
from prework.config import Settings
from prework.store.base import Store
from prework.testing.dynamodb_tables import TablePool

ENGINES = ("sqlite", "dynamodb")
TEST_SECRET_KEY = "api-tests-secret-key-0123456789abcdef"
DYNAMODB_REGION = "us-east-1"
BASE_URL = "http://testserver"


# argon2id at 1 MiB / 1 pass: the same code path, a fraction of the cost. Only
# tests/unit/identity/test_passwords.py hashes with the production defaults.
CHEAP_HASHING = {
    "password_hash_time_cost": 1,
    "password_hash_memory_kib": 1024,
    "password_hash_threads": 2,
}


def make_settings(tmp_path: Path, store_url: str, **overrides: object) -> Settings:
    """Settings for a test app: everything under ``tmp_path``, no ``.env``, cheap hashing."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "store": store_url,
        "blobs": f"file://{tmp_path / 'blobs'}",  # absolute: file:///tmp/...
        "secret_key": TEST_SECRET_KEY,
        "public_url": BASE_URL,
        "log_json": True,
        **CHEAP_HASHING,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
async def dynamodb_tables(dynamodb_endpoint: str) -> AsyncIterator[TablePool]:
    """The session's pool of table sets on DynamoDB Local; dropped at the end."""
    pool = TablePool(dynamodb_endpoint, prefix=f"t{uuid.uuid4().hex[:8]}-", region=DYNAMODB_REGION)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def dynamodb_table_prefix(dynamodb_tables: TablePool) -> AsyncIterator[str]:
    """A set of empty tables of the test's own, emptied again when it ends."""
    async with dynamodb_tables.lease() as prefix:
        yield prefix


def _engine_settings(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, *, prefix_fixture: str
) -> Settings:
    """Test settings on ``engine``; on DynamoDB, tables leased by ``prefix_fixture``."""
    if engine == "sqlite":
        return make_settings(tmp_path, f"sqlite:///{tmp_path / 'prework.db'}")  # 4 slashes
    endpoint = request.getfixturevalue("dynamodb_endpoint")
    prefix = request.getfixturevalue(prefix_fixture)
    return make_settings(
        tmp_path,
        f"dynamodb://?endpoint={endpoint}&region={DYNAMODB_REGION}&prefix={prefix}",
        table_prefix=prefix,
    )


@asynccontextmanager
async def _opened_store(settings: Settings) -> AsyncIterator[Store]:
    """The initialised store ``settings`` names, closed afterwards."""
    spec = parse_store_url(settings.store)
    s: Store
    if spec.kind == "sqlite":
        from prework.store.sqlite import SqliteStore

        assert spec.path is not None
        s = SqliteStore(spec.path)
        await s.init()
    else:
        from prework.store.dynamodb.store import DynamoStore

        s = DynamoStore(
            endpoint=spec.endpoint,
            region=spec.region,
            prefix=spec.prefix,
            access_key="prework",  # DynamoDB Local checks only that some key signs
            secret_key="prework",
        )
        # no init(): the pool made these tables with DynamoStore.init, once a session
    try:
        yield s
    finally:
        await s.close()


@asynccontextmanager
async def _opened_blobs(settings: Settings) -> AsyncIterator[BlobStore]:
    b = open_blobs(settings)  # LocalBlobStore, URL-signing key derived from the secret
    await b.init()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
def settings(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return _engine_settings(engine, tmp_path, request, prefix_fixture="dynamodb_table_prefix")


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    async with _opened_store(settings) as s:
        yield s


@pytest.fixture
async def blobs(settings: Settings) -> AsyncIterator[BlobStore]:
    async with _opened_blobs(settings) as b:
        yield b


@pytest.fixture
def app(settings: Settings, store: Store, blobs: BlobStore) -> FastAPI:
    return create_app(settings, store=store, blobs=blobs)


@asynccontextmanager
async def _app_client(
    app: FastAPI, *, base_url: str = BASE_URL
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url=base_url) as c,
    ):
        yield c


@pytest.fixture
def app_client() -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """``async with app_client(app) as client``: for tests that build their own app."""
    return _app_client


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _app_client(app) as c:
        yield c


# ----------------------------------------------------------- one app per test module
@pytest.fixture(scope="module", params=ENGINES)
def module_engine(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
async def module_table_prefix(dynamodb_tables: TablePool) -> AsyncIterator[str]:
    """A set of empty tables of the module's own, emptied again when it ends."""
    async with dynamodb_tables.lease() as prefix:
        yield prefix


@pytest.fixture(scope="module")
def module_settings(
    module_engine: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    tmp_path = tmp_path_factory.mktemp(f"module-{module_engine}")
    return _engine_settings(module_engine, tmp_path, request, prefix_fixture="module_table_prefix")


@pytest.fixture(scope="module")
async def module_store(module_settings: Settings) -> AsyncIterator[Store]:
    async with _opened_store(module_settings) as s:
        yield s


@pytest.fixture(scope="module")
async def module_app(module_settings: Settings, module_store: Store) -> AsyncIterator[FastAPI]:
    async with _opened_blobs(module_settings) as b:
        yield create_app(module_settings, store=module_store, blobs=b)


@pytest.fixture(scope="module")
async def module_client(module_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _app_client(module_app) as c:
        yield c


@pytest.fixture(name="make_settings")
def make_settings_fixture() -> Callable[..., Settings]:
    return make_settings
