"""Real images made in the test, and hand-made headers for the hostile ones.

The quadrant pattern tells every EXIF orientation apart: red top-left, green
top-right, blue bottom-left, yellow bottom-right, as stored.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Mapping

import pillow_heif
from PIL import ExifTags, Image, ImageDraw

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
YELLOW = (255, 255, 0)
WHITE = (255, 255, 255)
COLOURS = {"red": RED, "green": GREEN, "blue": BLUE, "yellow": YELLOW, "white": WHITE}


def quadrants(width: int = 800, height: int = 600) -> Image.Image:
    image = Image.new("RGB", (width, height), RED)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 2, 0, width - 1, height // 2 - 1), fill=GREEN)
    draw.rectangle((0, height // 2, width // 2 - 1, height - 1), fill=BLUE)
    draw.rectangle((width // 2, height // 2, width - 1, height - 1), fill=YELLOW)
    return image


def colour_at(image: Image.Image, x: float, y: float) -> str:
    """The name of the pattern colour nearest the pixel at fractions x, y."""
    pixel = image.convert("RGB").getpixel((int(x * (image.width - 1)), int(y * (image.height - 1))))
    assert isinstance(pixel, tuple)
    return min(
        COLOURS,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(COLOURS[name], pixel, strict=True)),
    )


def corners(image: Image.Image) -> tuple[str, str, str, str]:
    """Top-left, top-right, bottom-left, bottom-right colour (quadrant centres)."""
    return (
        colour_at(image, 0.25, 0.25),
        colour_at(image, 0.75, 0.25),
        colour_at(image, 0.25, 0.75),
        colour_at(image, 0.75, 0.75),
    )


def exif(
    *,
    orientation: object = None,
    ifd0: Mapping[int, object] | None = None,
    exif_ifd: Mapping[int, object] | None = None,
    gps: Mapping[int, object] | None = None,
) -> Image.Exif:
    tags = Image.Exif()
    if orientation is not None:
        tags[ExifTags.Base.Orientation] = orientation
    for tag, value in (ifd0 or {}).items():
        tags[tag] = value
    if exif_ifd:
        sub = tags.get_ifd(ExifTags.IFD.Exif)
        sub.update(exif_ifd)
    if gps:
        tags.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    return tags


GPS: dict[int, object] = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (51.0, 30.0, 12.5),
    ExifTags.GPS.GPSLongitudeRef: "W",
    ExifTags.GPS.GPSLongitude: (0.0, 7.0, 39.0),
}


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(image: Image.Image | None = None, **params: object) -> bytes:
    return encode(image if image is not None else quadrants(), "JPEG", quality=95, **params)


def heic(image: Image.Image | None = None, *, exif_bytes: bytes | None = None) -> bytes:
    """HEIC made by pillow-heif's libheif with x265 (the wheel ships the encoder)."""
    heif = pillow_heif.from_pillow(image if image is not None else quadrants())
    buffer = io.BytesIO()
    if exif_bytes is None:
        heif.save(buffer, quality=90)
    else:
        heif.save(buffer, quality=90, exif=exif_bytes)
    return buffer.getvalue()


def raw_exif(*entries: tuple[int, int, int, bytes]) -> bytes:
    """An APP1 EXIF payload, written by hand: little-endian IFD0 holding
    (tag, type, count, 4-byte value) entries."""
    body = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        body += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + body + struct.pack("<I", 0)


def with_app1(data: bytes, payload: bytes) -> bytes:
    """The JPEG data with an APP1 segment holding payload right after SOI."""
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:2] + segment + data[2:]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG whose (valid) IHDR claims width x height RGB pixels, with one empty IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose SOF0 header is rewritten to claim width x height."""
    data = bytearray(jpeg(Image.new("RGB", (16, 16), RED)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP header (VP8L) claiming width x height, with no image data."""
    bits = (width - 1) | ((height - 1) << 14)
    vp8l = b"\x2f" + struct.pack("<I", bits)
    chunk = b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    """An ISO BMFF ftyp box followed by an empty meta box (a HEIF file's start)."""
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x0cmeta\0\0\0\0"
