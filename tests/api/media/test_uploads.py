"""The upload flow end to end, on the embedded default and on SeaweedFS: request a
form, upload straight to storage, confirm, read, and what storage and confirm
refuse (each leaves no ready record, and no object once the collector ran)."""

from __future__ import annotations

import hashlib
import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from prework.media.gc import Collector

from ..identity.helpers import Member, audit_items, error_code, register
from .helpers import (
    EXECUTABLE,
    MediaWorld,
    confirm,
    fetch,
    jpeg,
    pdf,
    png,
    ready,
    send_form,
    upload_url,
    uploaded,
)


def _services(world: MediaWorld) -> Any:
    return world.app.state.services


def collector(world: MediaWorld, *, later: float = 0) -> Collector:
    """The app's collector, its clock ``later`` seconds ahead (a run in the future)."""
    gc: Collector = _services(world).media_gc
    return Collector(
        world.store,
        world.blobs,
        answers=gc.answers,
        profiles=gc.profiles,
        policy=gc.policy,
        clock=lambda: time.time() + later,
    )


async def _record(world: MediaWorld, media_id: str) -> dict[str, Any] | None:
    return await world.store.get("media", {"pk": f"ORG#{world.org_id}", "sk": f"MEDIA#{media_id}"})


async def _objects(world: MediaWorld) -> list[str]:
    keys: list[str] = []
    for bucket in ("media", "documents", "thumbnails"):
        for prefix in ("upload", "org"):
            page = await world.blobs.list(bucket, f"{prefix}/{world.org_id}/")
            keys += [f"{bucket}/{info.key}" for info in page.items]
    return keys


async def _no_trace(world: MediaWorld, media_id: str) -> None:
    """No ready record of ``media_id``; after a collector run in the future, no object."""
    record = await _record(world, media_id)
    assert record is None or record["state"] != "ready"
    await collector(world, later=10 * 24 * 3600).run()
    assert not [k for k in await _objects(world) if media_id in k]


# --------------------------------------------------------------------------- the happy path
async def test_a_photo_goes_straight_to_storage_and_becomes_ready(media_world: MediaWorld) -> None:
    world = media_world
    data = jpeg(800, 600, orientation=6, taken="2026:11:30 07:15:02", gps=True)
    r = await upload_url(world, world.w1, data=data, filename="isolation point.jpg")
    assert r.status_code == 201, r.text
    granted = r.json()
    assert r.headers["Cache-Control"] == "no-store"
    media = granted["media"]
    assert media["state"] == "pending"
    assert media["download_url"] is None
    form = granted["upload"]
    if world.blobs.serves_through_app:
        assert form["url"].endswith("/api/blobs/upload")
    else:  # straight to the S3 engine, never the app
        assert not form["url"].startswith("http://testserver")

    sent = await send_form(world, form, data)
    assert sent.status_code in (200, 201, 204), sent.text
    r = await confirm(world, world.w1, media["id"])
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "ready"
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    assert (done["width"], done["height"]) == (600, 800)  # as a viewer shows it
    assert done["captured_at"] == "2026-11-30T07:15:02"
    assert done["size"] == len(data)

    again = await confirm(world, world.w1, media["id"])  # harmless
    assert again.status_code == 200
    assert again.json()["state"] == "ready"

    await _services(world).media.drain()
    r = await world.client.get(f"/api/media/{media['id']}", headers=world.supervisor.headers)
    assert r.status_code == 200, r.text
    read = r.json()
    assert read["thumbnails"] == "ready"
    assert set(read["thumbnail_urls"]) == {"small", "large"}
    original = await fetch(world, read["download_url"])
    assert original.status_code == 200
    assert original.content == data
    assert original.headers["Content-Disposition"].startswith("attachment")
    if world.blobs.serves_through_app:
        assert original.headers["X-Content-Type-Options"] == "nosniff"
    small = await fetch(world, read["thumbnail_urls"]["small"])
    assert small.status_code == 200
    thumb = Image.open(io.BytesIO(small.content))
    assert thumb.height > thumb.width  # oriented: portrait
    assert max(thumb.size) <= 256
    assert not thumb.getexif()  # no metadata, no GPS
    # Orientation 6: the stored image's top (red) is on the viewer's right
    rgb = thumb.convert("RGB")
    right = rgb.getpixel((thumb.width - 3, thumb.height // 2))
    left = rgb.getpixel((2, thumb.height // 2))
    assert isinstance(right, tuple)
    assert isinstance(left, tuple)
    assert right[0] > 200, right
    assert right[2] < 60, right
    assert left[2] > 200, left
    assert left[0] < 60, left

    r = await world.client.get(
        f"/api/media/{media['id']}/content", headers=world.w1.headers, follow_redirects=False
    )
    assert r.status_code == 307
    content = await fetch(world, r.headers["location"])
    assert content.content == data

    actions = [e["action"] for e in await audit_items(world.store, world.org_id)]
    assert "media.upload_requested" in actions
    assert "media.confirmed" in actions


async def test_an_answer_takes_ready_photos_of_its_assignment_only(
    media_world: MediaWorld,
) -> None:
    world = media_world
    aid = await world.started_assignment()
    base = f"/api/assignments/{aid}"
    photo = await ready(world, world.w1, jpeg(), assignment_id=aid)
    sig = await ready(
        world, world.w1, png(), content_type="image/png", purpose="signature", item_id="sig",
        assignment_id=aid,
    )  # fmt: skip
    other = await ready(world, world.w1, jpeg())  # the world's other assignment
    pending_id = (await upload_url(world, world.w1, data=jpeg(), assignment_id=aid)).json()[
        "media"
    ]["id"]

    async def save(answers: dict[str, Any]) -> httpx.Response:
        return await world.client.patch(
            f"{base}/answers", headers=world.w1.headers, json={"answers": answers}
        )

    for value, code in (
        ([other["id"]], "media_not_found"),
        ([pending_id], "media_not_ready"),
        ([sig["id"]], "media_wrong_purpose"),
        (["0" * 32], "media_not_found"),
    ):
        r = await save({"site_photo": value})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["errors"][0]["code"] == code
    r = await save({"site_photo": [photo["id"]], "sig": sig["id"]})
    assert r.status_code == 200, r.text
    r = await world.client.post(f"{base}/signoff", headers=world.w1.headers)
    assert r.status_code == 200, r.text
    r = await world.client.post(f"{base}/submit", headers=world.w1.headers)
    assert r.status_code == 201, r.text

    # the collector keeps what answers and submissions name
    await collector(world, later=10 * 24 * 3600).run()
    for kept in (photo, sig):
        assert (await _record(world, kept["id"]) or {}).get("state") == "ready"


async def test_a_submit_refuses_a_photo_that_was_collected(media_world: MediaWorld) -> None:
    world = media_world
    aid = await world.started_assignment()
    photo = await ready(world, world.w1, jpeg(), assignment_id=aid)
    sig = await ready(
        world, world.w1, png(), content_type="image/png", purpose="signature", item_id="sig",
        assignment_id=aid,
    )  # fmt: skip
    r = await world.client.patch(
        f"/api/assignments/{aid}/answers",
        headers=world.w1.headers,
        json={"answers": {"site_photo": [photo["id"]]}},
    )
    assert r.status_code == 200
    # the photo is replaced by nothing: the record stays ready for a day, then goes
    r = await world.client.patch(
        f"/api/assignments/{aid}/answers",
        headers=world.w1.headers,
        json={"answers": {"site_photo": None, "sig": sig["id"]}},
    )
    assert r.status_code == 200
    report = await collector(world, later=2 * 24 * 3600).run()
    assert report.detached >= 1
    assert (await _record(world, photo["id"]) or {})["state"] == "deleted"
    assert (await _record(world, sig["id"]) or {})["state"] == "ready"
    assert not [k for k in await _objects(world) if photo["id"] in k]
    events = await audit_items(world.store, world.org_id)
    assert "media.deleted" in [e["action"] for e in events if e["target_id"] == photo["id"]]
    r = await world.client.get(f"/api/media/{photo['id']}", headers=world.w1.headers)
    assert r.json()["state"] == "deleted"
    assert r.json()["download_url"] is None


# --------------------------------------------------------------------------- refusals
async def test_an_upload_larger_than_declared_is_refused_by_the_store(
    media_world: MediaWorld,
) -> None:
    world = media_world
    data = jpeg()
    r = await upload_url(world, world.w1, data=data, size=len(data) - 100)
    granted = r.json()
    sent = await send_form(world, granted["upload"], data)
    assert 400 <= sent.status_code < 500
    r = await confirm(world, world.w1, granted["media"]["id"])
    assert r.status_code == 409
    assert error_code(r) == "not_uploaded"
    await _no_trace(world, granted["media"]["id"])


async def test_a_wrong_content_type_is_refused(media_world: MediaWorld) -> None:
    world = media_world
    data = jpeg()
    r = await upload_url(world, world.w1, data=data, content_type="image/gif")
    assert r.status_code == 422
    assert error_code(r) == "unsupported_type"
    # a form for a JPEG, sent with another type: the policy pins it
    r = await upload_url(world, world.w1, data=data)
    granted = r.json()
    sent = await send_form(world, granted["upload"], data, fields={"Content-Type": "text/html"})
    assert 400 <= sent.status_code < 500
    r = await confirm(world, world.w1, granted["media"]["id"])
    assert error_code(r) == "not_uploaded"
    await _no_trace(world, granted["media"]["id"])


@pytest.mark.parametrize(
    ("what", "data", "declared", "purpose", "filename", "item_id"),
    [
        ("a PNG declared as a PDF", "png", "application/pdf", "document", "scan.pdf", None),
        ("an executable as .jpg", "exe", "image/jpeg", "answer_photo", "a.jpg", "site_photo"),
        ("a PDF declared as a JPEG", "pdf", "image/jpeg", "answer_photo", "p.jpg", "site_photo"),
    ],
)
async def test_content_not_of_the_declared_type_is_rejected_at_confirm(
    media_world: MediaWorld,
    what: str,
    data: str,
    declared: str,
    purpose: str,
    filename: str,
    item_id: str | None,
) -> None:
    world = media_world
    body = {"png": png(), "exe": EXECUTABLE, "pdf": pdf()}[data]
    media_id = await uploaded(
        world, world.w1, body, content_type=declared, purpose=purpose, filename=filename,
        item_id=item_id,
    )  # fmt: skip
    r = await confirm(world, world.w1, media_id)
    assert r.status_code == 422, what
    assert error_code(r) == "content_mismatch"
    record = await _record(world, media_id)
    assert record is not None
    assert record["state"] == "rejected"
    assert not [k for k in await _objects(world) if media_id in k]  # deleted at once
    again = await confirm(world, world.w1, media_id)
    assert error_code(again) == "content_mismatch"
    events = [e for e in await audit_items(world.store, world.org_id) if e["target_id"] == media_id]
    assert [e["action"] for e in events].count("media.rejected") == 1
    await _no_trace(world, media_id)


async def test_a_tampered_signature_and_a_key_outside_the_policy_are_refused(
    media_world: MediaWorld,
) -> None:
    world = media_world
    data = jpeg()
    granted = (await upload_url(world, world.w1, data=data)).json()
    form = granted["upload"]
    signature_field = next(
        k for k in form["fields"] if k.lower() in ("signature", "x-amz-signature")
    )
    tampered = form["fields"][signature_field]
    tampered = ("0" if tampered[0] != "0" else "1") + tampered[1:]
    sent = await send_form(world, form, data, fields={signature_field: tampered})
    assert 400 <= sent.status_code < 500
    other_key = form["fields"]["key"].rsplit("/", 1)[0] + "/" + "f" * 32
    sent = await send_form(world, form, data, fields={"key": other_key})
    assert 400 <= sent.status_code < 500
    assert not [k for k in await _objects(world) if "f" * 32 in k]
    r = await confirm(world, world.w1, granted["media"]["id"])
    assert error_code(r) == "not_uploaded"
    await _no_trace(world, granted["media"]["id"])


async def test_confirm_before_upload_then_upload_then_confirm(media_world: MediaWorld) -> None:
    world = media_world
    data = jpeg()
    granted = (await upload_url(world, world.w1, data=data)).json()
    media_id = granted["media"]["id"]
    r = await confirm(world, world.w1, media_id)
    assert r.status_code == 409
    assert error_code(r) == "not_uploaded"
    assert (await _record(world, media_id) or {})["state"] == "pending"
    await send_form(world, granted["upload"], data)
    r = await confirm(world, world.w1, media_id)
    assert r.status_code == 200
    assert r.json()["state"] == "ready"


async def test_an_upload_nobody_confirms_is_collected(media_world: MediaWorld) -> None:
    world = media_world
    media_id = await uploaded(world, world.w1, jpeg())
    dry = await collector(world, later=3 * 3600).run(dry_run=True)
    assert dry.expired_uploads >= 1
    assert [k for k in await _objects(world) if media_id in k]  # a dry run deletes nothing
    assert (await _record(world, media_id) or {})["state"] == "pending"
    report = await collector(world, later=3 * 3600).run()
    assert report.expired_uploads >= 1
    assert await _record(world, media_id) is None
    assert not [k for k in await _objects(world) if media_id in k]
    events = [e for e in await audit_items(world.store, world.org_id) if e["target_id"] == media_id]
    assert "media.expired" in [e["action"] for e in events]


async def test_an_object_without_a_record_is_collected(media_world: MediaWorld) -> None:
    world = media_world
    key = f"org/{world.org_id}/{'e' * 32}/{'0' * 64}"
    await world.blobs.put("media", key, b"left behind", content_type="image/jpeg")
    await collector(world).run()  # young: it may be an upload in flight
    assert f"media/{key}" in await _objects(world)
    report = await collector(world, later=3 * 3600).run()
    assert report.orphans >= 1
    assert f"media/{key}" not in await _objects(world)


async def test_confirm_of_another_organizations_or_members_upload_is_not_found(
    media_world: MediaWorld,
) -> None:
    world = media_world
    media_id = await uploaded(world, world.w1, jpeg())
    r = await confirm(world, world.w2, media_id)  # same org, not the uploader
    assert r.status_code == 404
    stranger = await register(world.client)
    r = await world.client.post(
        "/api/media/confirm-upload",
        headers=stranger.headers,
        json={"media_id": media_id},
    )
    assert r.status_code == 404
    r = await world.client.get(f"/api/media/{media_id}", headers=stranger.headers)
    assert r.status_code == 404
    assert (await _record(world, media_id) or {})["state"] == "pending"


async def test_who_may_upload_for_what(media_world: MediaWorld) -> None:
    world = media_world
    data = jpeg()
    cases: list[tuple[Member, dict[str, Any], int, str | None]] = [
        (world.w2, {}, 404, "not_found"),  # not on the crew: not theirs to see
        (world.auditor, {}, 403, None),
        (world.w1, {"item_id": "notes"}, 422, "wrong_item_type"),
        (world.w1, {"item_id": "nope"}, 422, "unknown_item"),
        (world.w1, {"item_id": None}, 422, "invalid_target"),
        (world.w1, {"assignment_id": "0" * 32}, 404, "not_found"),
    ]
    for member, kw, status, code in cases:
        r = await upload_url(world, member, data=data, **kw)
        assert r.status_code == status, (kw, r.text)
        if code is not None:
            assert error_code(r) == code
    r = await upload_url(world, world.w1, data=b"x" * 10, size=26 * 1024 * 1024)
    assert r.status_code == 413
    assert error_code(r) == "too_large"
    r = await upload_url(
        world, world.w1, data=data, purpose="avatar", target={"user_id": world.w2.user_id}
    )
    assert error_code(r) == "invalid_target"
    for name in ("../../etc/passwd", "a\x00b.jpg", "", "x" * 300):
        r = await upload_url(world, world.w1, data=data, filename=name)
        assert r.status_code == 422, name


async def test_an_avatar_is_ones_own_ready_image(media_world: MediaWorld) -> None:
    world = media_world
    empty: dict[str, Any] = {}
    avatar = await ready(
        world, world.w2, png(), content_type="image/png", purpose="avatar", target=empty
    )
    assert avatar["target"]["user_id"] == world.w2.user_id
    r = await world.client.patch(
        "/api/profiles/me", headers=world.w1.headers, json={"avatar_media_id": avatar["id"]}
    )
    assert r.status_code == 404
    assert error_code(r) == "media_not_found"
    r = await world.client.patch(
        "/api/profiles/me", headers=world.w2.headers, json={"avatar_media_id": avatar["id"]}
    )
    assert r.status_code == 200, r.text
    r = await world.client.get(f"/api/media/{avatar['id']}", headers=world.w1.headers)
    assert r.status_code == 200
    await collector(world, later=10 * 24 * 3600).run()
    assert (await _record(world, avatar["id"]) or {})["state"] == "ready"


# --------------------------------------------------------------------------- after the check
async def test_the_form_cannot_replace_a_confirmed_file(media_world: MediaWorld) -> None:
    world = media_world
    data = jpeg(320, 240)
    r = await upload_url(world, world.w1, data=data)
    granted = r.json()
    await send_form(world, granted["upload"], data)
    done = (await confirm(world, world.w1, granted["media"]["id"])).json()
    assert done["state"] == "ready"
    # the form still works for its whole life: what it writes now is never served
    other = EXECUTABLE + b"\x00" * (len(data) - len(EXECUTABLE))
    sent = await send_form(world, granted["upload"], other)
    assert sent.status_code in (200, 201, 204), sent.text
    await _services(world).media.drain()
    read = (await world.client.get(f"/api/media/{done['id']}", headers=world.w1.headers)).json()
    assert (await fetch(world, read["download_url"])).content == data
    again = await confirm(world, world.w1, done["id"])
    assert again.json()["sha256"] == hashlib.sha256(data).hexdigest()
    await collector(world).run()  # the stray upload goes; the file stays
    left = [k for k in await _objects(world) if done["id"] in k]
    assert not [k for k in left if k.split("/", 1)[1].startswith("upload/")]
    assert (await fetch(world, read["download_url"])).content == data


async def test_a_document_stays_with_its_assignment(media_world: MediaWorld) -> None:
    world = media_world
    document = await ready(
        world, world.w1, pdf(), content_type="application/pdf", purpose="document",
        item_id=None, filename="permit.pdf",
    )  # fmt: skip
    await collector(world, later=10 * 24 * 3600).run()
    assert (await _record(world, document["id"]) or {})["state"] == "ready"


async def test_a_sync_edit_cannot_swap_in_a_file_it_may_not_name(media_world: MediaWorld) -> None:
    world = media_world
    aid = await world.started_assignment()
    sig = await ready(
        world, world.w1, png(), content_type="image/png", purpose="signature", item_id="sig",
        assignment_id=aid,
    )  # fmt: skip
    foreign = await ready(
        world, world.w1, png(), content_type="image/png", purpose="signature", item_id="sig"
    )  # the world's other assignment
    r = await world.client.patch(
        f"/api/assignments/{aid}/answers",
        headers=world.w1.headers,
        json={"answers": {"sig": sig["id"]}},
    )
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    joined = await world.client.post(
        "/api/sync",
        headers=world.w1.headers,
        json={"action": "join_session", "assignment_id": aid},
    )
    assert joined.status_code == 200, joined.text
    swap = [
        {"p": ["answers", "sig", 0], "sd": sig["id"]},
        {"p": ["answers", "sig", 0], "si": foreign["id"]},
    ]
    r = await world.client.post(
        "/api/sync",
        headers=world.w1.headers,
        json={
            "action": "apply_operation",
            "assignment_id": aid,
            "session_id": joined.json()["session_id"],
            "op": swap,
            "version": version,
            "seq": 1,
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["errors"][0]["code"] == "media_not_found"
    doc = await world.client.get(f"/api/assignments/{aid}/answers", headers=world.w1.headers)
    assert doc.json()["answers"]["sig"]["value"] == sig["id"]


async def test_a_form_that_pins_the_checksum_only_ever_writes_those_bytes(
    media_world: MediaWorld,
) -> None:
    world = media_world
    data = jpeg(300, 200)
    digest = hashlib.sha256(data).hexdigest()
    r = await world.client.post(
        "/api/media/upload-url",
        headers=world.w1.headers,
        json={
            "filename": "pinned.jpg",
            "content_type": "image/jpeg",
            "size": len(data),
            "purpose": "answer_photo",
            "target": {"assignment_id": world.assignment_id, "item_id": "site_photo"},
            "sha256": digest.upper(),  # any case
        },
    )
    assert r.status_code == 201, r.text
    granted = r.json()
    other = bytes(reversed(data))  # the same size, other bytes
    refused = await send_form(world, granted["upload"], other)
    assert 400 <= refused.status_code < 500
    sent = await send_form(world, granted["upload"], data)
    assert sent.status_code in (200, 201, 204), sent.text
    done = (await confirm(world, world.w1, granted["media"]["id"])).json()
    assert done["state"] == "ready"
    assert done["sha256"] == digest
    refused = await send_form(world, granted["upload"], other)
    assert 400 <= refused.status_code < 500
    await _services(world).media.drain()
    await collector(world).run()  # the file is not a stray upload: it stays
    read = (await world.client.get(f"/api/media/{done['id']}", headers=world.w1.headers)).json()
    assert (await fetch(world, read["download_url"])).content == data
