"""The media area's actions and who may do them (merged into :mod:`prework.authz.matrix`).

Everybody but auditors uploads files (the service narrows it: photos, signatures
and documents for the crew of an assignment being filled in, an avatar for one's
own profile; the uploader confirms); everybody reads files, where they may read
what the file is attached to (the assignment, or any profile of the organization).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from prework.authz.roles import EVERYONE, WORKERS
from prework.core.principal import Role

__all__ = ["GRANTS", "MediaAction"]


class MediaAction(StrEnum):
    MEDIA_UPLOAD = "media.upload"
    MEDIA_READ = "media.read"


GRANTS: Mapping[StrEnum, frozenset[Role]] = {
    MediaAction.MEDIA_UPLOAD: WORKERS,
    MediaAction.MEDIA_READ: EVERYONE,
}
