"""Audit coverage cases of the media routes (see
``tests/api/identity/test_audit_coverage.py``).

A confirm that finds content of another type than declared is a refusal that
records state on purpose: the record becomes ``rejected`` (its pending entry
goes) with a ``media.rejected`` event, so its case names what it ``records``.
Files are PDFs here (no thumbnails: nothing writes in the background while
the walk compares storage). Loaded by file path: imports only ``prework`` and
libraries.
"""

from __future__ import annotations

from typing import Any

from prework.core.principal import Role
from prework.testing.worlds import started_assignment, tiny_pdf, tiny_png

DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "s",
            "title": "Site",
            "items": [{"id": "permit", "type": "text", "label": "Permit number"}],
        }
    ]
}


def _worker(world: Any) -> Any:
    return world.a.members[Role.WORKER]


async def _assignment(world: Any) -> str:
    """A's assignment being filled in by A's worker (its crew), one per world."""
    cached: str | None = world.extra.get("media.audit.assignment")
    if cached is not None:
        return cached
    owner = world.a.owner
    assignment_id = await started_assignment(
        world.client, owner, _worker(world), DEFINITION, name="Docs", job_ref="WO-DOCS"
    )
    world.extra["media.audit.assignment"] = assignment_id
    return assignment_id


async def _document(world: Any, size: int) -> dict[str, Any]:
    return {
        "filename": "permit.pdf",
        "content_type": "application/pdf",
        "size": size,
        "purpose": "document",
        "target": {"assignment_id": await _assignment(world)},
    }


async def _uploaded(world: Any, data: bytes) -> str:
    """A PDF upload of ``data`` (whatever it holds), not yet confirmed."""
    headers = _worker(world).headers
    r = await world.client.post(
        "/api/media/upload-url", headers=headers, json=await _document(world, len(data))
    )
    assert r.status_code == 201, r.text
    upload = r.json()["upload"]
    sent = await world.client.post(
        upload["url"], data=upload["fields"], files={"file": ("f", data, "application/pdf")}
    )
    assert sent.status_code == 204, sent.text
    media_id: str = r.json()["media"]["id"]
    return media_id


async def upload_ok(world: Any) -> dict[str, Any]:
    return {
        "headers": _worker(world).headers,
        "json": await _document(world, 1000),
        "expect": lambda r: (
            world.a.org_id,
            [("media.upload_requested", "media", r.json()["media"]["id"])],
        ),
    }


async def upload_fail(world: Any) -> dict[str, Any]:
    body = {**await _document(world, 1000), "content_type": "text/html"}
    return {"headers": _worker(world).headers, "org": world.a.org_id, "events": [], "json": body}


async def confirm_ok(world: Any) -> dict[str, Any]:
    media_id = await _uploaded(world, tiny_pdf())
    return {
        "headers": _worker(world).headers,
        "json": {"media_id": media_id},
        "expect": lambda r: (world.a.org_id, [("media.confirmed", "media", media_id)]),
    }


async def confirm_fail(world: Any) -> dict[str, Any]:
    media_id = await _uploaded(world, tiny_png((0, 0, 0)))  # a PNG declared as a PDF
    return {
        "headers": _worker(world).headers,
        "org": world.a.org_id,
        "json": {"media_id": media_id},
        "events": ["media.rejected"],
        "records": ["media", "media (indexes)"],
    }


CASES = {
    ("POST", "/api/media/upload-url"): {"ok": upload_ok, "fail": upload_fail},
    ("POST", "/api/media/confirm-upload"): {"ok": confirm_ok, "fail": confirm_fail},
}
