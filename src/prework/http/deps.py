"""FastAPI dependencies, as ``Annotated`` aliases for route signatures.

``create_app`` puts ``settings``, ``store`` and ``blobs`` on ``app.state``,
and the services :mod:`prework.bootstrap` builds as ``app.state.services``
(one attribute per area). These read them back, typed (``async`` so FastAPI
does not send them to a thread). They take an ``HTTPConnection`` so that they
work in WebSocket routes too::

    @router.get("/things/{id}")
    async def get_thing(id: str, store: StoreDep) -> ThingRead: ...

An area gives its routes its services with :func:`area_services`::

    IdentityDep = Annotated[Identity, Depends(area_services("identity", Identity))]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends
from starlette.requests import HTTPConnection

from prework.blobs.base import BlobStore
from prework.config import Settings
from prework.core.principal import Authenticator
from prework.store.base import Store

__all__ = [
    "BlobsDep",
    "SettingsDep",
    "StoreDep",
    "area_services",
    "authenticator",
    "get_blobs",
    "get_settings",
    "get_store",
]

T = TypeVar("T")


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


def _services(conn: HTTPConnection) -> Any:
    state = conn.app.state
    services = getattr(state, "services", None)
    if services is None:  # an app served without its lifespan (some test clients)
        services = state.services = state.build_services()
    return services


def area_services(name: str, kind: type[T]) -> Callable[[HTTPConnection], Awaitable[T]]:
    """A dependency giving the services of the area ``name`` (an instance of ``kind``)."""

    async def dependency(conn: HTTPConnection) -> T:
        services = getattr(_services(conn), name)
        assert isinstance(services, kind)
        return services

    dependency.__name__ = f"{name}_services"
    return dependency


# classes already checked to be Authenticators: a Protocol's isinstance walks its
# members every time (about 3% of an authenticated read)
_AUTHENTICATORS: set[type] = set()


def authenticator(conn: HTTPConnection) -> Authenticator:
    """What turns a bearer token into a principal (identity's sessions)."""
    found = _services(conn).authenticator
    kind = type(found)
    if kind not in _AUTHENTICATORS:
        assert isinstance(found, Authenticator)
        _AUTHENTICATORS.add(kind)
    return cast(Authenticator, found)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
BlobsDep = Annotated[BlobStore, Depends(get_blobs)]
