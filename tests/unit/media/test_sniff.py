"""sniff: the real type from the first bytes, whatever the file is called."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from prework.media.inspect import (
    HEIC,
    JPEG,
    PDF,
    PNG,
    SNIFF_BYTES,
    SUPPORTED_TYPES,
    TYPE_ALIASES,
    WEBP,
    sniff,
)
from tests.unit.media import images

PICTURE = images.quadrants(64, 48)


def test_the_supported_kinds_are_exactly_these() -> None:
    expected = {"image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"}
    assert expected == SUPPORTED_TYPES
    assert TYPE_ALIASES["image/heif"] == HEIC


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        pytest.param(images.jpeg(PICTURE), JPEG, id="jpeg"),
        pytest.param(images.jpeg(PICTURE, exif=images.exif(orientation=6)), JPEG, id="jpeg-exif"),
        pytest.param(images.jpeg(PICTURE, progressive=True), JPEG, id="jpeg-progressive"),
        pytest.param(images.jpeg(PICTURE.convert("L")), JPEG, id="jpeg-grey"),
        pytest.param(images.encode(PICTURE, "PNG"), PNG, id="png"),
        pytest.param(images.encode(PICTURE.convert("RGBA"), "PNG"), PNG, id="png-alpha"),
        pytest.param(images.encode(PICTURE, "WEBP", quality=80), WEBP, id="webp-lossy"),
        pytest.param(images.encode(PICTURE, "WEBP", lossless=True), WEBP, id="webp-lossless"),
        pytest.param(
            images.encode(PICTURE.convert("RGBA"), "WEBP", exif=images.exif(orientation=3)),
            WEBP,
            id="webp-extended",
        ),
        pytest.param(images.heic(PICTURE), HEIC, id="heic"),
        pytest.param(images.encode(PICTURE, "PDF"), PDF, id="pdf"),
    ],
)
def test_real_files_are_named_by_their_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind
    assert sniff(data[:SNIFF_BYTES]) == kind


def test_a_png_declared_as_a_pdf_is_a_png() -> None:
    declared = PDF
    sniffed = sniff(images.encode(PICTURE, "PNG"))
    assert sniffed == PNG
    assert sniffed != declared


def test_heif_brands() -> None:
    # iPhone: major brand heic; other phones and libheif itself: mif1 listing heic
    assert images.heic(PICTURE)[8:12] == b"heic"
    assert sniff(images.ftyp(b"heic", b"mif1", b"heic")) == HEIC
    assert sniff(images.ftyp(b"heix", b"mif1", b"heix")) == HEIC
    assert sniff(images.ftyp(b"mif1", b"mif1", b"heic", b"miaf")) == HEIC
    assert sniff(images.ftyp(b"msf1", b"msf1", b"hevc")) == HEIC
    # HEIF without HEVC, AVIF, MP4 and QuickTime are not HEIC
    assert sniff(images.ftyp(b"mif1", b"mif1", b"miaf")) is None
    assert sniff(images.ftyp(b"avif", b"mif1", b"avif")) is None
    assert sniff(images.ftyp(b"mif1", b"mif1", b"avif")) is None
    assert sniff(images.ftyp(b"isom", b"isom", b"mp41")) is None
    assert sniff(images.ftyp(b"qt  ", b"qt  ")) is None


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", images.jpeg(PICTURE))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 48, id="pe"),
        pytest.param(b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56, id="elf"),
        pytest.param(b"#!/bin/sh\nrm -rf /\n", id="script"),
        pytest.param(b"<html><body><script>alert(1)</script></body></html>", id="html"),
        pytest.param(b"<!DOCTYPE html>\n<html></html>", id="doctype"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', id="svg"
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', id="svg-xml"
        ),
        pytest.param(_zip(), id="zip"),
        pytest.param(b"", id="empty"),
        pytest.param(b"just some text\n", id="text"),
        pytest.param(b"\x00" * 64, id="zeros"),
        pytest.param(b"\xff\xd8", id="bare-jpeg-soi"),
        pytest.param(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\0" * 32, id="jpeg2000"),
        pytest.param(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00", id="wav"),
        pytest.param(b"RIFF\x24\x00\x00\x00AVI LIST", id="avi"),
        pytest.param(b"\x89PNG\r\n\x1a\n", id="png-signature-only"),
        pytest.param(b"GIF89a\x01\x00\x01\x00", id="gif"),
        pytest.param(b"\r\n%PDF-1.4\n", id="pdf-after-a-line-break"),
        pytest.param(b"<html>%PDF-1.4\n", id="html-pdf-polyglot"),
    ],
)
def test_anything_else_is_none(data: bytes) -> None:
    assert sniff(data) is None


@pytest.mark.parametrize(
    "prefix",
    [b"MZ\x90\x00", b"\x7fELF\x02\x01\x01\x00", b"#!/bin/sh\n", b"<html>"],
    ids=["pe", "elf", "script", "html"],
)
def test_an_executable_named_jpg_is_not_a_jpeg(prefix: bytes) -> None:
    # what a caller that trusted the name or the declared type would store
    assert sniff(prefix + images.jpeg(PICTURE)) is None


def test_a_jpeg_with_a_payload_appended_is_a_jpeg() -> None:
    # sniffing reads the start; what follows the image is not looked at
    assert sniff(images.jpeg(PICTURE) + b"MZ\x90\x00" + b"\0" * 4096) == JPEG


def test_only_the_first_bytes_count() -> None:
    data = images.encode(Image.new("RGB", (2000, 2000)), "PNG")
    assert len(data) > SNIFF_BYTES
    assert sniff(data) == PNG
    assert sniff(data[:64]) == PNG
