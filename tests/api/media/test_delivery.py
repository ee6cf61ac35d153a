"""What happens around the flow: an expired form, the event bus, thumbnails after a
crash, CDN links signed with a CloudFront key pair, and ``prework gc`` itself."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI
from pydantic import SecretStr

from prework.app import create_app
from prework.blobs.base import BlobStore
from prework.bootstrap import ConfigError, cdn_signer
from prework.config import Settings
from prework.media.service import MediaService
from prework.pubsub.base import org_topic
from prework.store.base import Store

from ..conftest import _app_client
from ..identity.helpers import error_code
from .helpers import MediaWorld, confirm, jpeg, pdf, ready, send_form, upload_url, uploaded
from .test_uploads import _no_trace, _record


async def test_an_expired_form_is_refused_by_the_store(
    media_settings: Settings, media_store: Store, media_blobs: BlobStore, media_world: MediaWorld
) -> None:
    short = media_settings.model_copy(update={"media_upload_expires_seconds": 1})
    app = create_app(short, store=media_store, blobs=media_blobs)
    async with _app_client(app) as client:
        world = MediaWorld(**{**media_world.__dict__, "app": app, "client": client})
        data = jpeg()
        granted = (await upload_url(world, world.w1, data=data)).json()
        await asyncio.sleep(2.2)  # S3 checks the policy's expiration to the second
        sent = await send_form(world, granted["upload"], data)
        assert 400 <= sent.status_code < 500, sent.text
        r = await confirm(world, world.w1, granted["media"]["id"])
        assert error_code(r) == "not_uploaded"
        await _no_trace(world, granted["media"]["id"])


async def test_collaborators_hear_of_a_ready_file(media_world: MediaWorld) -> None:
    world = media_world
    bus = world.app.state.pubsub
    async with await bus.subscribe([org_topic(world.org_id)]) as events:
        done = await ready(world, world.w1, jpeg())
        seen: list[dict[str, Any]] = []

        async def until_ready() -> None:
            async for message in events:
                seen.append(message.event)
                if message.event.get("type") == "media.ready":
                    return

        await asyncio.wait_for(until_ready(), 10)
    event = seen[-1]
    assert event["media_id"] == done["id"]
    assert event["assignment_id"] == world.assignment_id
    assert event["item_id"] == "site_photo"
    await world.app.state.services.media.drain()


async def test_thumbnails_a_dead_server_left_are_made_by_the_next(
    media_world: MediaWorld,
) -> None:
    world = media_world
    node: MediaService = world.app.state.services.media
    media_id = await uploaded(world, world.w1, jpeg(1200, 900))
    r = await confirm(world, world.w1, media_id)
    assert r.status_code == 200
    node.close()  # the server goes away before its thumbnail task ran
    await asyncio.sleep(0)
    assert (await _record(world, media_id) or {})["thumbnails"] == "pending"

    later = MediaService(
        world.store,
        world.blobs,
        world.app.state.pubsub,
        answers=node.answers,
        profiles=node.profiles,
        policy=node.policy,
        clock=lambda: time.time() + 600,  # the job has waited long enough
    )
    assert await later.resume_thumbnails() >= 1
    await later.drain()
    record = await _record(world, media_id)
    assert record is not None
    assert record["thumbnails"] == "ready"
    assert set(record["thumbnail_keys"]) == {"small", "large"}
    assert await later.resume_thumbnails() == 0  # nothing left over


# --------------------------------------------------------------------------- the CDN
def _key_pair() -> tuple[bytes, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, key.public_key()


def _cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


async def test_cdn_links_are_signed_and_expire(
    media_settings: Settings, media_store: Store, media_blobs: BlobStore, media_world: MediaWorld
) -> None:
    pem, public = _key_pair()
    settings = media_settings.model_copy(
        update={
            "cdn_base_url": "https://d111111abcdef8.cloudfront.net",
            "cdn_key_pair_id": "K2JCJMDEHXQW5F",
            "cdn_private_key": SecretStr(pem.decode("ascii")),
            "media_download_expires_seconds": 120,
        }
    )
    app: FastAPI = create_app(settings, store=media_store, blobs=media_blobs)
    async with _app_client(app) as client:
        world = MediaWorld(**{**media_world.__dict__, "app": app, "client": client})
        done = await ready(world, world.w1, pdf(), content_type="application/pdf",
                           purpose="document", item_id=None, filename="permit.pdf")  # fmt: skip
        r = await client.get(f"/api/media/{done['id']}", headers=world.w1.headers)
        assert r.status_code == 200
        url = r.json()["download_url"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://d111111abcdef8.cloudfront.net"
    assert parts.path == f"/documents/org/{world.org_id}/{done['id']}/{done['sha256']}"
    query = parse_qs(parts.query)
    assert query["Key-Pair-Id"] == ["K2JCJMDEHXQW5F"]
    assert query["response-content-disposition"] == ['attachment; filename="permit.pdf"']
    expires = int(query["Expires"][0])
    assert 0 < expires - time.time() <= 121
    # CloudFront's canned policy over the URL without its signature parameters
    unsigned = url.split("&Expires=")[0]
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": unsigned, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    ).encode()
    public.verify(  # raises if the signature is not CloudFront's scheme over this URL
        _cf_b64decode(query["Signature"][0]),
        policy,
        padding.PKCS1v15(),
        hashes.SHA1(),  # noqa: S303 (CloudFront's)
    )


def test_a_cdn_without_its_key_pair_is_refused(media_settings: Settings) -> None:
    for update in (
        {"cdn_base_url": "https://cdn.example.com"},
        {"cdn_base_url": "https://cdn.example.com", "cdn_key_pair_id": "K1"},
        {
            "cdn_base_url": "http://cdn.example.com",
            "cdn_key_pair_id": "K1",
            "cdn_private_key": SecretStr(_key_pair()[0].decode()),
        },
    ):
        with pytest.raises(ConfigError):
            cdn_signer(media_settings.model_copy(update=update))
    assert cdn_signer(media_settings) is None


# --------------------------------------------------------------------------- prework gc
def test_prework_gc_reports_and_deletes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREWORK_")}
    env.update(
        PREWORK_DATA_DIR=str(tmp_path / "var"),
        PREWORK_LOG_LEVEL="warning",
        # an upload's whole life (form and grace) is 5 s: what is older is nobody's
        PREWORK_MEDIA_UPLOAD_EXPIRES_SECONDS="5",
        PREWORK_MEDIA_CONFIRM_GRACE_SECONDS="0",
    )

    def gc(*args: str) -> dict[str, Any]:
        run = subprocess.run(
            [sys.executable, "-m", "prework", "gc", "--no-progress", *args],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
        return result

    init = subprocess.run(
        [sys.executable, "-m", "prework", "init"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    orphan = tmp_path / "var" / "blobs" / "pre-work-media-uploads"
    assert orphan.is_dir()
    # an object of a media key with no record, old enough to be nobody's upload
    script = (
        "import asyncio, os, time\n"
        "from prework.bootstrap import open_blobs\n"
        "from prework.config import Settings\n"
        "async def main():\n"
        "    b = open_blobs(Settings())\n"
        "    key = 'org/o1/' + 'a' * 32 + '/' + '0' * 64\n"
        "    await b.put('media', key, b'x' * 10, content_type='image/png')\n"
        "asyncio.run(main())\n"
    )
    made = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert gc("--dry-run")["orphans"] == 0  # young: it may be an upload in flight
    time.sleep(5.5)
    dry = gc("--dry-run")
    assert dry["dry_run"] is True
    assert dry["orphans"] == 1
    assert dry["objects_deleted"] == 1
    assert [p for p in orphan.rglob("*") if p.is_file()]
    done = gc()
    assert done["orphans"] == 1
    assert not [p for p in orphan.rglob("*") if p.is_file()]
    assert gc()["orphans"] == 0
