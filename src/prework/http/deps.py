"""FastAPI dependencies, as ``Annotated`` aliases for route signatures.

``create_app`` puts ``settings``, ``store`` and ``blobs`` on ``app.state``;
these read them back, typed (``async`` so FastAPI does not send them to a
thread). They take an ``HTTPConnection`` so that they work
in WebSocket routes too::

    @router.get("/things/{id}")
    async def get_thing(id: str, store: StoreDep) -> ThingRead: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from prework.blobs.base import BlobStore
from prework.config import Settings
from prework.store.base import Store

__all__ = ["BlobsDep", "SettingsDep", "StoreDep", "get_blobs", "get_settings", "get_store"]


async def get_settings(conn: HTTPConnection) -> Settings:
    settings = conn.app.state.settings
    assert isinstance(settings, Settings)
    return settings


async def get_store(conn: HTTPConnection) -> Store:
    store = conn.app.state.store
    assert isinstance(store, Store)
    return store


async def get_blobs(conn: HTTPConnection) -> BlobStore:
    blobs = conn.app.state.blobs
    assert isinstance(blobs, BlobStore)
    return blobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
