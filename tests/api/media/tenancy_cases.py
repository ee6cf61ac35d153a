"""Tenancy cases of the media routes (see ``tests/api/identity/test_tenancy.py``):
org A's owner, on the crew of an assignment being filled in, uploads files; every
role of org B calls the routes on A's ids. Loaded by file path: imports only
``prework`` and libraries."""

from __future__ import annotations

from typing import Any

from prework.testing.worlds import started_assignment, tiny_pdf, tiny_png

RED = (200, 10, 10)
DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Site",
            "items": [{"id": "site_photo", "type": "photo", "label": "Photo", "max_count": 3}],
        }
    ]
}


async def _assignment(world: Any) -> str:
    """A's assignment being filled in by A's owner (its crew), one per world."""
    cached: str | None = world.extra.get("media.tenancy.assignment")
    if cached is not None:
        return cached
    owner = world.a.owner
    assignment_id = await started_assignment(
        world.client, owner, owner, DEFINITION, name="Media", job_ref="WO-MEDIA"
    )
    world.extra["media.tenancy.assignment"] = assignment_id
    return assignment_id


async def _uploaded(world: Any, body: dict[str, Any], data: bytes) -> str:
    owner = world.a.owner
    r = await world.client.post("/api/media/upload-url", headers=owner.headers, json=body)
    assert r.status_code == 201, r.text
    granted = r.json()
    upload = granted["upload"]
    sent = await world.client.post(
        upload["url"], data=upload["fields"], files={"file": ("f", data, body["content_type"])}
    )
    assert sent.status_code == 204, sent.text
    media_id: str = granted["media"]["id"]
    return media_id


async def _photo_body(world: Any, data: bytes) -> dict[str, Any]:
    return {
        "filename": "a.png",
        "content_type": "image/png",
        "size": len(data),
        "purpose": "answer_photo",
        "target": {"assignment_id": await _assignment(world), "item_id": "site_photo"},
    }


async def _ready(world: Any, body: dict[str, Any], data: bytes) -> str:
    media_id = await _uploaded(world, body, data)
    r = await world.client.post(
        "/api/media/confirm-upload", headers=world.a.owner.headers, json={"media_id": media_id}
    )
    assert r.status_code == 200, r.text
    await world.app.state.services.media.drain()  # its thumbnails made before the walk looks
    return media_id


async def _upload_request(world: Any) -> dict[str, Any]:
    return {
        "json": await _photo_body(world, tiny_png(RED)),
        "body_ids": ["target.assignment_id"],
    }


async def _a_pending_upload(world: Any) -> dict[str, Any]:
    # a PDF: the owner's own confirm starts no thumbnails that would write later
    data = tiny_pdf()
    body = {
        "filename": "permit.pdf",
        "content_type": "application/pdf",
        "size": len(data),
        "purpose": "document",
        "target": {"assignment_id": await _assignment(world)},
    }
    media_id = await _uploaded(world, body, data)
    return {"json": {"media_id": media_id}, "body_ids": ["media_id"]}


async def _a_ready_photo(world: Any) -> dict[str, Any]:
    data = tiny_png(RED)
    return {"path_params": {"media_id": await _ready(world, await _photo_body(world, data), data)}}


async def _a_ready_photo_content(world: Any) -> dict[str, Any]:
    # the owner's own call answers 307 (a redirect, not a 2xx): tests/api/media covers it
    return {**await _a_ready_photo(world), "own_check": False}


async def _an_avatar(world: Any) -> dict[str, Any]:
    data = tiny_png(RED)
    body = {
        "filename": "me.png",
        "content_type": "image/png",
        "size": len(data),
        "purpose": "avatar",
        "target": {},
    }
    media_id = await _ready(world, body, data)
    return {"json": {"avatar_media_id": media_id}, "body_ids": ["avatar_media_id"]}


CASES = {
    ("POST", "/api/media/upload-url"): _upload_request,
    ("POST", "/api/media/confirm-upload"): _a_pending_upload,
    ("GET", "/api/media/{media_id}"): _a_ready_photo,
    ("GET", "/api/media/{media_id}/content"): _a_ready_photo_content,
    # another organization's avatar is as unknown as none
    ("PATCH", "/api/profiles/me"): _an_avatar,
}
