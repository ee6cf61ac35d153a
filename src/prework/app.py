"""The application factory: settings + adapters + middleware + error mapping + routers.

``create_app()`` with no arguments reads the settings from the environment and
opens the engines they name (:mod:`prework.bootstrap`); tests pass their own
``store``/``blobs``/``pubsub``. Whatever the factory opened itself, it also initialises
(embedded engines only: tables and directories) at startup and closes at
shutdown; adapters passed in belong to the caller.

At startup the lifespan builds every area's services
(:func:`prework.bootstrap.build_services`, on ``app.state.services``; a
configuration that cannot work stops the start) and starts them (warm-up);
at shutdown it closes them, then the engines it opened.

To add an area: build its services in :mod:`prework.bootstrap`, list its
``routes.router`` in :data:`ROUTERS`, its ``permissions.GRANTS`` in
:data:`prework.authz.matrix.AREAS`, and its package in the import contracts
(``[tool.importlinter]`` in ``pyproject.toml``; the layers contract fails until it
has a place).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

import prework
from prework.audit import routes as audit_routes
from prework.blobs.base import BlobStore
from prework.bootstrap import (
    Services,
    build_services,
    open_blobs,
    open_pubsub,
    open_store,
    parse_blobs_url,
    parse_store_url,
)
from prework.checklists import routes as checklists_routes
from prework.checklists import work_routes
from prework.config import Settings
from prework.http import blobs as blob_routes
from prework.http import health
from prework.http.bodies import DeclaredLengthLimits, RefuseDeclaredTooLarge
from prework.http.dispatch import install_dispatch
from prework.http.errors import REQUEST_ID_HEADER, install_error_handlers
from prework.http.front import install_front_routes
from prework.http.middleware import (
    BLOB_UPLOAD_PATH,
    BodyLimitMiddleware,
    InternalErrorMiddleware,
    RequestContextMiddleware,
)
from prework.http.openapi import install_openapi
from prework.http.sockets import install_front_sockets
from prework.identity import routes as identity_routes
from prework.media import routes as media_routes
from prework.pubsub.base import PubSub
from prework.store.base import Store
from prework.sync import routes as sync_routes
from prework.teams import routes as team_routes

__all__ = ["ROUTERS", "create_app", "create_served_app", "refusing_declared_too_large"]

log = structlog.get_logger("prework.app")

# Every area's router, mounted in this order.
ROUTERS: Final[Sequence[APIRouter]] = (
    health.router,
    identity_routes.router,
    audit_routes.router,
    team_routes.router,
    checklists_routes.router,
    *work_routes.routers,
    sync_routes.router,
    media_routes.router,
)


def _periodic(
    name: str, interval: float, job: Callable[[], Awaitable[int]]
) -> asyncio.Task[None] | None:
    """Run ``job`` every ``interval`` seconds in the background (0: never). Every node
    may run these: each job is safe to run on several nodes at once."""
    if interval <= 0:
        return None

    async def forever() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                done = await job()
            except Exception:
                log.exception(f"{name}_failed")
                continue
            if done:
                log.info(name, count=done)

    return asyncio.create_task(forever(), name=f"prework-{name}")


def _start_background(settings: Settings, services: Services) -> list[asyncio.Task[None]]:
    """The sweep of abandoned team creations, the overdue check of assignments, the
    media collector and the restart of thumbnails left unmade."""
    tasks = [
        _periodic(
            "team_sweep",
            settings.team_sweep_interval_seconds,
            lambda: services.teams.teams.sweep(older_than=settings.team_abandon_after_seconds),
        ),
        _periodic(
            "overdue_check",
            settings.overdue_check_interval_seconds,
            services.checklists.assignments.sweep_overdue,
        ),
        _periodic("media_gc", settings.media_gc_interval_seconds, services.media_gc.sweep),
        # thumbnails a server that died left unmade (its jobs wait a while first)
        _periodic("thumbnail_resume", 300, services.media.resume_thumbnails),
    ]
    return [t for t in tasks if t is not None]


# FastAPI's native telemetry off: no provider lookups (in os.environ) on every request
_NO_TELEMETRY: Final[TelemetryConfig] = {"tracing": False, "metrics": False, "logs": False}


def _middleware(settings: Settings) -> list[Middleware]:
    if not settings.cors_origins:  # one layer does it all (see prework.http.middleware)
        return [
            Middleware(
                RequestContextMiddleware,
                max_body_bytes=settings.max_body_bytes,
                exempt_paths=[BLOB_UPLOAD_PATH],
            )
        ]
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


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    blobs: BlobStore | None = None,
    pubsub: PubSub | None = None,
) -> FastAPI:
    """Build the Prework ASGI application."""
    settings = settings or Settings()
    init_store = store is None and parse_store_url(settings.store).embedded
    init_blobs = blobs is None and parse_blobs_url(settings.blobs).embedded
    owned: list[Store | BlobStore | PubSub] = []
    if store is None:
        store = open_store(settings)
        owned.append(store)
    if blobs is None:
        blobs = open_blobs(settings)
        owned.append(blobs)
    if pubsub is None:
        pubsub = open_pubsub(settings)
        owned.append(pubsub)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background: list[asyncio.Task[None]] = []
        try:
            # embedded engines are ours to set up; AWS resources are provisioned
            # by `prework init` or infrastructure code, never at startup
            if init_store:
                await app.state.store.init()
            if init_blobs:
                await app.state.blobs.init()
            services = app.state.services = app.state.build_services()
            await services.start()
            background = _start_background(app.state.settings, services)
            log.info(
                "started",
                version=prework.__version__,
                store=type(app.state.store).__name__,
                blobs=type(app.state.blobs).__name__,
            )
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            services = getattr(app.state, "services", None)
            if services is not None:
                services.close()
                del app.state.services
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
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.blobs = blobs
    app.state.pubsub = pubsub
    app.state.build_services = lambda: build_services(
        app.state.settings, app.state.store, app.state.pubsub, app.state.blobs
    )
    install_error_handlers(app)
    install_openapi(app)
    for router in ROUTERS:
        app.include_router(router)
    if blobs.serves_through_app:
        app.include_router(blob_routes.router)
    install_dispatch(app)  # one flat route table (routers included later join it)
    install_front_sockets(app)  # WebSockets skip the middleware (prework.http.sockets)
    install_front_routes(app)  # so do planned routes (prework.http.front)
    return app


def refusing_declared_too_large(served: Any) -> Any:
    """``served`` (what uvicorn serves: an app of :func:`create_app`, or uvicorn's
    wrappers of one) with :class:`prework.http.bodies.RefuseDeclaredTooLarge` right in
    front of the app (inside the wrappers: the proxy headers middleware has set the
    client address the access line names), which answers a ``Content-Length`` past
    its route's limit before the app is called; ``served`` as it is when it is no such
    app, when CORS is on, or when the refusal is in place already (``prework serve``)."""
    parent: Any = None
    app: Any = served
    while not isinstance(app, FastAPI | RefuseDeclaredTooLarge) and hasattr(app, "app"):
        parent, app = app, app.app
    settings = getattr(app.state, "settings", None) if isinstance(app, FastAPI) else None
    if not isinstance(settings, Settings) or settings.cors_origins:
        return served
    front = RefuseDeclaredTooLarge(app, DeclaredLengthLimits(app, settings.max_body_bytes))
    if parent is None:
        return front
    parent.app = front
    return served


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """What ``prework serve`` runs: :func:`create_app`, whose objects made by the
    start (modules, routes, models, services) are frozen for the garbage collector
    once it has started (``gc.freeze``). A full collection then walks only what
    came later: with the ~136,000 objects of a started app, each one took 50-100 ms
    holding the GIL, the loop's and the writer thread's, and set the p99 of writes
    (docs/architecture.md). Not in :func:`create_app`: tests build many apps in
    one process, and what is frozen is never collected."""
    app = create_app(settings)
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with started(app) as state:
            gc.collect()
            gc.freeze()
            yield state

    app.router.lifespan_context = lifespan
    return app
