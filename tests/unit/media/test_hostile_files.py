"""Damaged and hostile files: a refusal with a code, never another exception.

Real small images with bytes overwritten, cut or inserted, and random bytes
behind each signature; warnings are errors here, as in every test, so
Pillow's "corrupt data" warnings are exercised as exceptions too.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prework.media.inspect import (
    SUPPORTED_TYPES,
    ImageFacts,
    ImageRefused,
    inspect_image,
    sniff,
)
from prework.media.thumbnails import Thumbnail, make_thumbnails
from tests.unit.media import images

FAST = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_PICTURE = images.quadrants(48, 32)
_TAGS = images.exif(orientation=6, exif_ifd={36867: "2024:05:06 07:08:09"}, gps=images.GPS)
SOURCES = [
    images.jpeg(_PICTURE, exif=_TAGS),
    images.jpeg(_PICTURE, progressive=True),
    images.encode(_PICTURE.convert("RGBA"), "PNG", exif=_TAGS),
    images.encode(_PICTURE.convert("P"), "PNG"),
    images.encode(_PICTURE, "WEBP", quality=80, exif=_TAGS),
    images.encode(_PICTURE.convert("RGBA"), "WEBP", lossless=True),
    images.heic(_PICTURE, exif_bytes=_TAGS.tobytes()),
]


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SOURCES)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["overwrite", "cut", "insert"]))
        chunk = draw(st.binary(min_size=1, max_size=16))
        if action == "overwrite":
            data[where : where + len(chunk)] = chunk
        elif action == "cut":
            del data[where:]
            if not data:
                break
        else:
            data[where:where] = chunk
    return bytes(data)


SIGNATURES = [
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xe1",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"RIFF\x00\x10\x00\x00WEBPVP8X",
    b"RIFF\x00\x10\x00\x00WEBPVP8L",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    images.ftyp(b"heic", b"mif1", b"heic"),
    b"%PDF-1.7\n",
]


@st.composite
def signed_noise(draw: st.DrawFn) -> bytes:
    return draw(st.sampled_from(SIGNATURES)) + draw(st.binary(max_size=512))


def _inspected(data: bytes) -> ImageFacts | ImageRefused:
    try:
        return inspect_image(io.BytesIO(data))
    except ImageRefused as refused:
        return refused


def _thumbnailed(data: bytes) -> dict[str, Thumbnail] | ImageRefused:
    try:
        return make_thumbnails(io.BytesIO(data), sizes={"small": 16})
    except ImageRefused as refused:
        return refused


REFUSALS = {"content_mismatch", "image_too_large"}


@FAST
@given(damaged())
def test_damaged_images(data: bytes) -> None:
    sniff(data)
    result = _inspected(data)
    if isinstance(result, ImageRefused):
        assert result.code in REFUSALS
    thumbnails = _thumbnailed(data)
    if isinstance(thumbnails, ImageRefused):
        assert thumbnails.code in REFUSALS
    else:
        assert thumbnails["small"].data.startswith(b"\xff\xd8\xff")


@FAST
@given(signed_noise())
def test_noise_behind_a_signature(data: bytes) -> None:
    assert sniff(data) in {None, *SUPPORTED_TYPES}
    result = _inspected(data)
    if isinstance(result, ImageRefused):
        assert result.code in REFUSALS
    thumbnails = _thumbnailed(data)
    if isinstance(thumbnails, ImageRefused):
        assert thumbnails.code in REFUSALS
