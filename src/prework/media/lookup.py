"""What other areas ask of media: may these files be used where they are named?

An answer may name only files that are ``ready``, of the same organization,
uploaded for the same assignment and for its kind of item (a photo item takes
``answer_photo`` files, a signature item a ``signature``); a profile's avatar
only a ready ``avatar`` of its own user. This module reads the store only (no
other area), so any area may ask it.

Problems carry stable codes: ``media_not_found`` (no such file in this
organization, or one of another assignment or user: the same answer, so the
code tells nothing of other assignments), ``media_not_ready`` (pending,
rejected or deleted) and ``media_wrong_purpose``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from prework.media import repository as repo
from prework.media.models import ITEM_KINDS, Media, MediaState, Purpose
from prework.store.base import MAX_BATCH_GET, Store

__all__ = ["MEDIA_CODES", "MediaProblem", "avatar_problem", "load", "usage_problems"]

MEDIA_CODES: Final = frozenset({"media_not_found", "media_not_ready", "media_wrong_purpose"})
_PURPOSE_OF_KIND: Final = {kind: purpose for purpose, kind in ITEM_KINDS.items()}


@dataclass(frozen=True, slots=True)
class MediaProblem:
    media_id: str
    code: str
    message: str


async def load(store: Store, org_id: str, ids: Iterable[str]) -> dict[str, Media]:
    """The organization's media records among ``ids`` (missing ones are absent)."""
    wanted = sorted(set(ids))
    found: dict[str, Media] = {}
    for start in range(0, len(wanted), MAX_BATCH_GET):
        keys = [repo.media_key(org_id, m) for m in wanted[start : start + MAX_BATCH_GET]]
        for item in await store.batch_get(repo.MEDIA, keys):
            if repo.is_record(item, org_id):
                media = repo.media_of(item)
                found[media.id] = media
    return found


def _problem(media: Media | None, media_id: str, purpose: Purpose) -> MediaProblem | None:
    if media is None:
        return MediaProblem(media_id, "media_not_found", "no such file")
    if media.state is not MediaState.READY:
        return MediaProblem(media_id, "media_not_ready", f"the file is {media.state.value}")
    if media.purpose is not purpose:
        return MediaProblem(
            media_id, "media_wrong_purpose", f"the file was uploaded as {media.purpose.value}"
        )
    return None


async def usage_problems(
    store: Store,
    org_id: str,
    assignment_id: str,
    uses: Mapping[str, tuple[str, list[str]]],
) -> dict[str, MediaProblem]:
    """The first problem of each item's files: ``uses`` maps an item id to its kind
    (``photo`` / ``signature``) and the media ids its answer names."""
    found = await load(store, org_id, (m for _, ids in uses.values() for m in ids))
    problems: dict[str, MediaProblem] = {}
    for item_id, (kind, ids) in uses.items():
        purpose = _PURPOSE_OF_KIND[kind]
        for media_id in ids:
            media = found.get(media_id)
            if media is not None and media.target.assignment_id != assignment_id:
                media = None
            problem = _problem(media, media_id, purpose)
            if problem is not None:
                problems[item_id] = problem
                break
    return problems


async def avatar_problem(
    store: Store, org_id: str, user_id: str, media_id: str
) -> MediaProblem | None:
    """Why ``media_id`` cannot be ``user_id``'s avatar, or None."""
    media = (await load(store, org_id, [media_id])).get(media_id)
    if media is not None and media.target.user_id != user_id:
        media = None
    return _problem(media, media_id, Purpose.AVATAR)
