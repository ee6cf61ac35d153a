"""Small things the API tests build through the public API, shared by the case
modules of the route walks (which are loaded by file path, so they import only
``prework`` and libraries): tiny real files, and an assignment being filled in."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import Image

__all__ = ["started_assignment", "tiny_pdf", "tiny_png"]


def tiny_pdf() -> bytes:
    """A real one-page PDF of a few hundred bytes."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


def tiny_png(color: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """A real 8x8 PNG of one ``color``."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, "PNG")
    return out.getvalue()


async def started_assignment(
    client: Any, owner: Any, crew: Any, definition: dict[str, Any], *, name: str, job_ref: str
) -> str:
    """Through the API (``client``, an ``httpx.AsyncClient`` on the app): a template
    ``name`` of ``definition`` made and published by ``owner``, assigned to ``crew``
    alone (a member: ``.user_id``, ``.headers``), due in two hours, and started by
    them; its id."""
    r = await client.post(
        "/api/templates", headers=owner.headers, json={"name": name, "definition": definition}
    )
    assert r.status_code == 201, r.text
    template_id = r.json()["id"]
    r = await client.post(f"/api/templates/{template_id}/publish", headers=owner.headers)
    assert r.status_code == 200, r.text
    now = datetime.now(UTC)
    r = await client.post(
        "/api/assignments",
        headers=owner.headers,
        json={
            "template_id": template_id,
            "assignee": {"type": "user", "id": crew.user_id},
            "job_ref": job_ref,
            "planned_start": now.isoformat(),
            "due_at": (now + timedelta(hours=2)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    assignment_id: str = r.json()["id"]
    r = await client.post(f"/api/assignments/{assignment_id}/start", headers=crew.headers)
    assert r.status_code == 200, r.text
    return assignment_id
