"""The application factory: settings + adapters + middleware + error mapping + routers.

``create_app()`` with no arguments reads the settings from the environment and
opens the engines they name (:mod:`prework.bootstrap`); tests pass their own
``store``/``blobs``. Whatever the factory opened itself, it also initialises
(embedded engines only: tables and directories) at startup and closes at
shutdown; adapters passed in belong to the caller.

To add an area: import its module below and list its ``router`` in
:data:`ROUTERS`. An area that needs set-up at startup (services on
``app.state``, thread pools) gives its router a lifespan
(``APIRouter(lifespan=...)``): FastAPI runs it inside the app's own, so the
engines are ready (and ``app.state.settings/store/blobs`` set) when it starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Final

import structlog
from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

import prework
from prework.api.errors import REQUEST_ID_HEADER, install_error_handlers
from prework.api.middleware import (
    BLOB_UPLOAD_PATH,
    BodyLimitMiddleware,
    InternalErrorMiddleware,
    RequestContextMiddleware,
)
from prework.api.routes import health, identity
from prework.blobs.base import BlobStore
from prework.bootstrap import open_blobs, open_store, parse_blobs_url, parse_store_url
from prework.config import Settings
from prework.store.base import Store

__all__ = ["ROUTERS", "create_app"]

log = structlog.get_logger("prework.app")

# Every area's router, mounted in this order.
ROUTERS: Final[Sequence[APIRouter]] = (health.router, identity.router)


def _middleware(settings: Settings) -> list[Middleware]:
    stack = [Middleware(RequestContextMiddleware)]
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_credentials=False,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
                expose_headers=[REQUEST_ID_HEADER, "Retry-After", "WWW-Authenticate"],
                max_age=600,
            )
        )
    stack.append(Middleware(InternalErrorMiddleware))
    stack.append(
        Middleware(
            BodyLimitMiddleware,
            max_body_bytes=settings.max_body_bytes,
            exempt_paths=[BLOB_UPLOAD_PATH],
        )
    )
    return stack


def _blob_router(blobs: BlobStore) -> APIRouter | None:
    """The file backend's upload/download routes, when blobs are files."""
    from prework.blobs.local import LocalBlobStore

    if not isinstance(blobs, LocalBlobStore):
        return None
    from prework.api.routes.blobs import router

    return router


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    """Build the Prework ASGI application."""
    settings = settings or Settings()
    init_store = store is None and parse_store_url(settings.store).embedded
    init_blobs = blobs is None and parse_blobs_url(settings.blobs).embedded
    owned: list[Store | BlobStore] = []
    if store is None:
        store = open_store(settings)
        owned.append(store)
    if blobs is None:
        blobs = open_blobs(settings)
        owned.append(blobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            # embedded engines are ours to set up; AWS resources are provisioned
            # by `prework init` or infrastructure code, never at startup
            if init_store:
                await app.state.store.init()
            if init_blobs:
                await app.state.blobs.init()
            log.info(
                "started",
                version=prework.__version__,
                store=type(app.state.store).__name__,
                blobs=type(app.state.blobs).__name__,
            )
            yield
        finally:
            for adapter in owned:
                try:
                    await adapter.close()
                except Exception:
                    log.exception("close_failed", adapter=type(adapter).__name__)

    app = FastAPI(
        title="Prework",
        version=prework.__version__,
        summary="Pre-work checklist collaboration backend.",
        lifespan=lifespan,
        middleware=_middleware(settings),
    )
    app.state.settings = settings
    app.state.store = store
    app.state.blobs = blobs
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    blob_router = _blob_router(blobs)
    if blob_router is not None:
        app.include_router(blob_router)
    return app
