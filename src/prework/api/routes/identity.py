"""The identity area's routes in one router (what :mod:`prework.app` mounts).

Its lifespan builds the identity services (:func:`prework.api.auth.identity_lifespan`).
"""

from __future__ import annotations

from fastapi import APIRouter

from prework.api.auth import identity_lifespan
from prework.api.routes import audit, auth, orgs, profiles, users

__all__ = ["router"]

router = APIRouter(lifespan=identity_lifespan)
for _area in (auth, users, profiles, orgs, audit):
    router.include_router(_area.router)
