"""Liveness and readiness probes.

``GET /healthz``: the process answers (touches nothing else).
``GET /readyz``: the store and the blob store answer, pinged concurrently,
each within :data:`READY_TIMEOUT_SECONDS`. 200 when both do; otherwise 503
``unavailable`` whose ``details.checks`` says which failed and how
(``"unavailable"`` or ``"timeout"``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final, Literal

import structlog
from pydantic import BaseModel

from prework.errors import Unavailable
from prework.http.deps import BlobsDep, StoreDep
from prework.http.routing import APIRouter

__all__ = ["READY_TIMEOUT_SECONDS", "router"]

READY_TIMEOUT_SECONDS: Final = 2.0

CheckResult = Literal["ok", "unavailable", "timeout"]

log = structlog.get_logger("prework.health")
router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, CheckResult]


async def _check(name: str, ping: Callable[[], Awaitable[None]]) -> CheckResult:
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await ping()
    except TimeoutError:
        log.warning("readiness_check_failed", check=name, reason="timeout")
        return "timeout"
    except Exception as exc:
        log.warning("readiness_check_failed", check=name, reason=repr(exc), exc_info=exc)
        return "unavailable"
    return "ok"


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    summary="Readiness: the store and the blob store answer",
    responses={503: {"description": "A backing service is unavailable"}},
)
async def readyz(store: StoreDep, blobs: BlobsDep) -> Ready:
    results = await asyncio.gather(_check("store", store.ping), _check("blobs", blobs.ping))
    checks: dict[str, CheckResult] = dict(zip(("store", "blobs"), results, strict=True))
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        raise Unavailable(
            f"Not ready: {', '.join(failed)} not answering.",
            details={"checks": checks, "failed": failed},
        )
    return Ready(checks=checks)
