"""The Prework app with one route that has a planted bug, for the test that shows the
schemathesis run of ``test_schemathesis.py`` reports a 5xx: ``create_app`` is a
uvicorn factory (``uvicorn --factory tests.api.schemathesis.planted:create_app``)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from prework.app import create_app as create_prework_app
from prework.http.routing import APIRouter
from prework.http.schemas import Strict

__all__ = ["PLANTED_PATH", "create_app"]

PLANTED_PATH = "/api/planted"


class Share(Strict):
    parts: int = Field(ge=0, le=10)


router = APIRouter(tags=["planted"])


@router.post(PLANTED_PATH, summary="100 split into `parts` (the bug: 0 parts divides by zero)")
async def share(body: Share) -> dict[str, int]:
    return {"each": 100 // body.parts}


def create_app() -> FastAPI:
    app = create_prework_app()
    app.include_router(router)
    return app
