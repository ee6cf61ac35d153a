"""Helpers of the media API tests: the world, real files, the upload flow."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from PIL import Image

from prework.blobs.base import BlobStore
from prework.core.principal import Role
from prework.store.base import Store

from ..assignments.helpers import assign
from ..conftest import BASE_URL
from ..identity.helpers import Member, Tenant, join, make_tenant

DEFINITION: dict[str, Any] = {
    "sections": [
        {
            "id": "site",
            "title": "Site",
            "items": [
                {
                    "id": "site_photo",
                    "type": "photo",
                    "label": "Photo of the isolation point",
                    "min_count": 1,
                    "max_count": 3,
                    "required": True,
                },
                {"id": "sig", "type": "signature", "label": "Signature", "required": True},
                {"id": "notes", "type": "text", "label": "Notes", "max_length": 200},
            ],
        }
    ]
}


@dataclass
class MediaWorld:
    app: FastAPI
    client: httpx.AsyncClient  # the app
    http: httpx.AsyncClient  # the network (S3 forms and links)
    store: Store
    blobs: BlobStore
    tenant: Tenant
    w1: Member  # on the crew of ``assignment_id``
    w2: Member  # on no crew
    template_id: str
    assignment_id: str

    @property
    def org_id(self) -> str:
        return self.tenant.org_id

    @property
    def owner(self) -> Member:
        return self.tenant.owner

    @property
    def auditor(self) -> Member:
        return self.tenant.members[Role.AUDITOR]

    @property
    def supervisor(self) -> Member:
        return self.tenant.members[Role.SUPERVISOR]

    def client_for(self, url: str) -> httpx.AsyncClient:
        """The app's client for its own URLs (the file engine), else the network."""
        return self.client if url.startswith(BASE_URL) else self.http

    async def started_assignment(self, crew: Member | None = None) -> str:
        return await started_assignment(
            self.client, self.supervisor, self.template_id, crew or self.w1
        )


async def started_assignment(
    client: httpx.AsyncClient, by: Member, template_id: str, crew: Member
) -> str:
    """An assignment of ``template_id`` to ``crew`` alone, started by them."""
    made = await assign(
        client, by, template_id, {"type": "user", "id": crew.user_id},
        due_in=timedelta(hours=4), job_ref="WO-M",
    )  # fmt: skip
    assignment_id: str = made["id"]
    r = await client.post(f"/api/assignments/{assignment_id}/start", headers=crew.headers)
    assert r.status_code == 200, r.text
    return assignment_id


async def make_media_world(
    app: FastAPI, client: httpx.AsyncClient, store: Store, blobs: BlobStore, http: httpx.AsyncClient
) -> MediaWorld:
    tenant = await make_tenant(client, "Media Org")
    w1 = await join(client, tenant.owner, role=Role.WORKER)
    w2 = await join(client, tenant.owner, role=Role.WORKER)
    r = await client.post(
        "/api/templates",
        headers=tenant.owner.headers,
        json={"name": "Photos", "definition": DEFINITION},
    )
    assert r.status_code == 201, r.text
    template_id: str = r.json()["id"]
    r = await client.post(f"/api/templates/{template_id}/publish", headers=tenant.owner.headers)
    assert r.status_code == 200, r.text
    assignment_id = await started_assignment(
        client, tenant.members[Role.SUPERVISOR], template_id, w1
    )
    return MediaWorld(app, client, http, store, blobs, tenant, w1, w2, template_id, assignment_id)


# --------------------------------------------------------------------------- files
def jpeg(
    width: int = 640,
    height: int = 480,
    *,
    orientation: int | None = None,
    taken: str | None = None,
    gps: bool = False,
) -> bytes:
    """A real JPEG, landscape, red top half and blue bottom half, with the EXIF
    orientation, capture time (``YYYY:MM:DD HH:MM:SS``) and GPS position given."""
    image = Image.new("RGB", (width, height), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, width, height // 2))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def pdf() -> bytes:
    """A small valid PDF (one empty page)."""
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


# --------------------------------------------------------------------------- the flow
async def upload_url(
    world: MediaWorld,
    by: Member,
    *,
    data: bytes,
    content_type: str = "image/jpeg",
    purpose: str = "answer_photo",
    filename: str = "photo.jpg",
    item_id: str | None = "site_photo",
    assignment_id: str | None = None,
    size: int | None = None,
    target: dict[str, Any] | None = None,
) -> httpx.Response:
    if target is None:
        target = {"assignment_id": assignment_id or world.assignment_id}
        if item_id is not None:
            target["item_id"] = item_id
    return await world.client.post(
        "/api/media/upload-url",
        headers=by.headers,
        json={
            "filename": filename,
            "content_type": content_type,
            "size": len(data) if size is None else size,
            "purpose": purpose,
            "target": target,
        },
    )


async def send_form(
    world: MediaWorld,
    upload: dict[str, Any],
    data: bytes,
    *,
    fields: dict[str, str] | None = None,
    content_type: str | None = None,
) -> httpx.Response:
    """POST the form (``fields`` replacing some of its own) with ``data`` as the file."""
    form = {**upload["fields"], **(fields or {})}
    ctype = content_type or form.get("Content-Type", "application/octet-stream")
    client = world.client_for(upload["url"])
    return await client.post(upload["url"], data=form, files={"file": ("f", data, ctype)})


async def uploaded(world: MediaWorld, by: Member, data: bytes, **kw: Any) -> str:
    """A file uploaded (not yet confirmed): its media id."""
    r = await upload_url(world, by, data=data, **kw)
    assert r.status_code == 201, r.text
    body = r.json()
    sent = await send_form(world, body["upload"], data)
    assert sent.status_code in (200, 201, 204), sent.text
    media_id: str = body["media"]["id"]
    return media_id


async def confirm(world: MediaWorld, by: Member, media_id: str) -> httpx.Response:
    return await world.client.post(
        "/api/media/confirm-upload", headers=by.headers, json={"media_id": media_id}
    )


async def ready(world: MediaWorld, by: Member, data: bytes, **kw: Any) -> dict[str, Any]:
    """A file uploaded and confirmed: its record."""
    media_id = await uploaded(world, by, data, **kw)
    r = await confirm(world, by, media_id)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def fetch(world: MediaWorld, url: str) -> httpx.Response:
    return await world.client_for(url).get(url)
