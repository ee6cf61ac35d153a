"""What an uploaded file really is, and an image's size and capture time.

Pure and synchronous: the only I/O is reading the stream or path it is given
(the async service runs these in a worker thread); safe to call from several
threads at once (no process-wide setting is changed, not even Pillow's
``Image.MAX_IMAGE_PIXELS`` or the warning filters).

:func:`sniff` names the real type from the first :data:`SNIFF_BYTES` bytes,
never from a name or a declared type, among exactly :data:`SUPPORTED_TYPES`
(``image/jpeg``, ``image/png``, ``image/webp``, ``image/heic``,
``application/pdf``), and ``None`` for anything else: executables, scripts,
HTML, SVG, ZIP, text, empty input. It looks only at the start of the file: a
JPEG with an executable appended is a JPEG; an executable whose name or
declared type says ``.jpg`` is not.

Every HEVC-coded HEIF (iPhone photos: ftyp brands ``heic``, ``heix``, ``heim``,
``heis`` and the ``hev?`` sequence brands, or a ``mif1``/``msf1`` file that
lists one of them as compatible) is ``image/heic``; ``sniff`` never answers
``image/heif`` (:data:`TYPE_ALIASES` maps a declared ``image/heif`` to it).
AVIF and other HEIF codecs are ``None``.

:func:`inspect_image` reads an image's header (no pixel decoding) and returns
:class:`ImageFacts`: the size as a viewer shows it (EXIF orientation applied),
the EXIF capture time, the sniffed type. It refuses, with
:class:`ImageRefused`:

    code              when
    content_mismatch  not a JPEG, PNG, WebP or HEIC by its bytes, or its header
                      cannot be read (cut short, corrupt)
    image_too_large   more than ``max_pixels`` pixels (default
                      :data:`MAX_PIXELS`), checked before any pixel is decoded;
                      also Pillow's own decompression-bomb refusals

Pixels cut short past the header are found only by decoding them:
:func:`~prework.media.thumbnails.make_thumbnails` refuses such an image with
``content_mismatch``. Bad EXIF never raises: an unreadable orientation counts
as none, an unreadable capture time is ``None`` (Pillow may warn about such a
block; where warnings are errors, the tests' setting, the part it warns about
counts as unreadable).

The decoder is chosen by the sniffed magic bytes (Pillow's JPEG, PNG or WebP
plugin, or pillow-heif's HEIF one), never by Pillow trying each registered
format in turn, so no other Pillow format is ever parsed (and pillow-heif's
``register_heif_opener``, a process-wide change to ``Image.open``, is not
needed and not called). Opening through the
plugin directly also skips ``Image.open``'s bomb check, the one that warns
(``DecompressionBombWarning``) between Pillow's limit and twice it: the limit
here is ``max_pixels``, checked per call, and no warning is ever issued. Where
Pillow checks inside a decoder (WebP, before it allocates the canvas, at twice
``Image.MAX_IMAGE_PIXELS``) its ``DecompressionBombError`` becomes
``image_too_large``.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import struct
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, BinaryIO, Final, Literal

import pillow_heif
import puremagic
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin

from prework.errors import ValidationFailed

__all__ = [
    "HEIC",
    "IMAGE_TYPES",
    "JPEG",
    "MAX_PIXELS",
    "PDF",
    "PNG",
    "SNIFF_BYTES",
    "SUPPORTED_TYPES",
    "TYPE_ALIASES",
    "WEBP",
    "ImageFacts",
    "ImageRefused",
    "RefusalCode",
    "decoding",
    "exif_orientation",
    "inspect_image",
    "open_image",
    "sniff",
]

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
HEIC: Final = "image/heic"
PDF: Final = "application/pdf"

IMAGE_TYPES: Final = frozenset({JPEG, PNG, WEBP, HEIC})
SUPPORTED_TYPES: Final = IMAGE_TYPES | {PDF}

#: Declared types that name a kind :func:`sniff` reports under another name.
TYPE_ALIASES: Final[Mapping[str, str]] = MappingProxyType({"image/heif": HEIC, "image/jpg": JPEG})

#: Leading bytes :func:`sniff` needs. The signatures themselves sit in the first
#: 16 bytes; a HEIF ftyp box lists its compatible brands after them (a few dozen
#: bytes in practice), and only the part of that box within these bytes is read.
SNIFF_BYTES: Final = 4096

#: The default pixel budget (width x height of the stored image): 50 MP holds
#: every phone and most camera photos (a 48 MP phone sensor is 8064 x 6048).
MAX_PIXELS: Final = 50_000_000

RefusalCode = Literal["content_mismatch", "image_too_large"]

_DEFAULT_MESSAGES: Final[Mapping[RefusalCode, str]] = {
    "content_mismatch": "The file is not a readable JPEG, PNG, WebP or HEIC image.",
    "image_too_large": "The image has too many pixels.",
}


class ImageRefused(ValidationFailed):
    """An image this module will not read: ``code`` says why (see the module
    docstring), ``message`` says it to a person, ``details`` may hold the
    figures (``width``, ``height``, ``max_pixels``). A
    :class:`~prework.errors.ValidationFailed`, so it reaches a client as a 422
    in the one error envelope."""

    def __init__(
        self,
        message: str | None = None,
        *,
        code: RefusalCode,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message or _DEFAULT_MESSAGES[code], code=code, details=details)


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """``width`` x ``height`` as shown (after the EXIF orientation: a
    4000 x 3000 photo with Orientation 6 is 3000 wide and 4000 high);
    ``captured_at`` is EXIF DateTimeOriginal (else DateTime) as
    ``YYYY-MM-DDTHH:MM:SS``, with ``+HH:MM`` when the matching EXIF offset tag
    is there, or ``None``; ``format`` is the sniffed type, one of
    :data:`IMAGE_TYPES`."""

    width: int
    height: int
    captured_at: str | None
    format: str


# ---------------------------------------------------------------- sniffing

_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_WEBP_CHUNKS: Final = frozenset({b"VP8 ", b"VP8L", b"VP8X"})
_HEVC_BRANDS: Final = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
)
_HEIF_STRUCTURAL_BRANDS: Final = frozenset({b"mif1", b"msf1"})


def _is_jpeg(head: bytes) -> bool:
    # SOI then the next marker's 0xFF. puremagic also calls JPEG 2000 (its
    # "\0\0\0\x0cjP  " box) image/jpeg and accepts a bare SOI.
    return head.startswith(b"\xff\xd8\xff")


def _is_png(head: bytes) -> bool:
    return head.startswith(_PNG_SIGNATURE) and head[12:16] == b"IHDR"


def _is_webp(head: bytes) -> bool:
    # puremagic lists every RIFF file (WAV, AVI) as a candidate image/webp.
    return head.startswith(b"RIFF") and head[8:12] == b"WEBP" and head[12:16] in _WEBP_CHUNKS


def _is_pdf(head: bytes) -> bool:
    # The header on the first line (ISO 32000-1, 7.5.2). Readers tolerate bytes
    # before it, and polyglot files use that; here they are refused.
    return head.startswith(b"%PDF-")


def _is_heic(head: bytes) -> bool:
    # An ISO BMFF ftyp box: size, "ftyp", major brand, minor version, then the
    # compatible brands up to the box's end.
    size = int.from_bytes(head[:4], "big")
    if head[4:8] != b"ftyp" or size < 16:
        return False
    major = head[8:12]
    if major in _HEVC_BRANDS:
        return True
    end = min(size, len(head))
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    return major in _HEIF_STRUCTURAL_BRANDS and not compatible.isdisjoint(_HEVC_BRANDS)


# puremagic's candidates, then the precise check for each; the order matters
# only in theory (the signatures exclude each other).
_CONFIRM: Final[Mapping[str, Callable[[bytes], bool]]] = {
    JPEG: _is_jpeg,
    PNG: _is_png,
    WEBP: _is_webp,
    PDF: _is_pdf,
}


def sniff(head: bytes) -> str | None:
    """The real type of a file from its first bytes (at least
    :data:`SNIFF_BYTES` of them when the file is that long; more are
    ignored): one of :data:`SUPPORTED_TYPES`, or ``None``.

    puremagic names the candidates and a precise check of the signature
    confirms one: puremagic (1.30) takes JPEG 2000 for JPEG and any RIFF
    file for WebP. HEIF is read from its ftyp box alone: puremagic knows
    HEIC only by its major brand (and then ties it with MP4), not a ``mif1``
    file whose compatible brands say HEVC.
    """
    head = bytes(head[:SNIFF_BYTES])
    if not head:
        return None
    if head[4:8] == b"ftyp":
        return HEIC if _is_heic(head) else None
    try:
        candidates = {match.mime_type for match in puremagic.magic_string(head)}
    except puremagic.PureError:
        return None
    for kind, confirm in _CONFIRM.items():
        if kind in candidates and confirm(head):
            return kind
    return None


# ---------------------------------------------------------------- opening


class _JpegImageFile(JpegImagePlugin.JpegImageFile):
    """Pillow's JPEG reader, less the one step of its opening that parses
    EXIF: the resolution lookup when the JFIF header has none (every camera
    photo). The resolution is of no use here, and a hostile EXIF block made
    opening fail (an exception that step does not expect) or warn (an error
    where warnings are errors); EXIF is read afterwards, where it cannot."""

    def _read_dpi_from_exif(self) -> None:
        return


_OPENERS: Final[Mapping[str, Callable[[BinaryIO], ImageFile.ImageFile]]] = {
    JPEG: _JpegImageFile,
    PNG: PngImagePlugin.PngImageFile,
    WEBP: WebPImagePlugin.WebPImageFile,
    HEIC: pillow_heif.HeifImageFile,
}
_TYPE_BY_FORMAT: Final[Mapping[str, str]] = {"JPEG": JPEG, "PNG": PNG, "WEBP": WEBP, "HEIF": HEIC}

# What Pillow's plugins and pillow-heif raise on bad data (Pillow's own opener
# treats the same set as "not this format"); OSError covers "image file is
# truncated" and UnidentifiedImageError.
_UNDECODABLE: Final = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    TypeError,
    KeyError,
    RuntimeError,
)


@contextlib.contextmanager
def decoding() -> Iterator[None]:
    """Pillow's and pillow-heif's errors on bad data, raised inside, as
    :class:`ImageRefused`: a decompression bomb (Pillow's error, or its
    warning when warnings are errors) as ``image_too_large``, anything
    undecodable as ``content_mismatch``."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRefused(code="image_too_large") from exc
    except _UNDECODABLE as exc:
        raise ImageRefused(code="content_mismatch") from exc


@contextlib.contextmanager
def open_image(
    source: BinaryIO | pathlib.Path, *, max_pixels: int = MAX_PIXELS
) -> Iterator[ImageFile.ImageFile]:
    """The image in ``source``, opened but not decoded, its pixel count
    within ``max_pixels``; refused as the module docstring says.

    A stream must be seekable; it is read from its current position and left
    open (a path is opened and closed here). The image is valid inside the
    ``with`` block only. ``image.format`` is ``JPEG``, ``PNG``, ``WEBP`` or
    ``HEIF``.
    """
    with contextlib.ExitStack() as stack:
        fp: BinaryIO = (
            stack.enter_context(source.open("rb")) if isinstance(source, pathlib.Path) else source
        )
        start = fp.tell()
        kind = sniff(fp.read(SNIFF_BYTES))
        fp.seek(start)
        opener = _OPENERS.get(kind) if kind is not None else None
        if opener is None:
            raise ImageRefused(code="content_mismatch")
        with decoding():
            image = opener(fp)
        # ImageFile's __exit__ closes only a file it opened itself, never ours.
        stack.enter_context(image)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageRefused(
                f"The image is {width} x {height} pixels; at most {max_pixels:,} pixels "
                "are accepted.",
                code="image_too_large",
                details={"width": width, "height": height, "max_pixels": max_pixels},
            )
        yield image


# ---------------------------------------------------------------- EXIF


def _exif(image: Image.Image) -> Image.Exif | None:
    try:
        if isinstance(image, PngImagePlugin.PngImageFile):
            # PngImageFile.getexif decodes every pixel to look for an eXIf
            # chunk after them; the chunks read so far are enough here.
            return Image.Image.getexif(image)
        return image.getexif()
    except Exception:  # a hostile EXIF block: Pillow raises many kinds (and warns)
        return None


def _tag(tags: Mapping[int, Any], tag: int) -> object:
    # Pillow decodes a tag's value when it is first read: a hostile one
    # raises (or warns) then, not when the block is loaded.
    try:
        return tags.get(tag)
    except Exception:  # as in _exif
        return None


def exif_orientation(image: Image.Image) -> int:
    """The EXIF (or XMP) orientation, 1 to 8, as ``ImageOps.exif_transpose``
    reads it; 1 when absent or unreadable. pillow-heif has already applied a
    HEIF's own rotation and reports 1."""
    exif = _exif(image)
    value = _tag(exif, ExifTags.Base.Orientation) if exif is not None else None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


_STAMP: Final = re.compile(r"\d{4}:\d{2}:\d{2} \d{2}:\d{2}:\d{2}")
_OFFSET: Final = re.compile(r"([+-])(\d{2}):(\d{2})")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ")


def _zone(value: object) -> timezone | None:
    text = _text(value)
    match = _OFFSET.fullmatch(text) if text is not None else None
    if match is None:
        return None
    sign, hours, minutes = match[1], int(match[2]), int(match[3])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta)


def _moment(stamp: object, offset: object) -> str | None:
    text = _text(stamp)
    if text is None or not _STAMP.fullmatch(text):
        return None
    try:
        moment = datetime.strptime(text, "%Y:%m:%d %H:%M:%S")  # EXIF times are local
    except ValueError:  # 0000:00:00, month 13, ...
        return None
    zone = _zone(offset)
    return (moment.replace(tzinfo=zone) if zone is not None else moment).isoformat()


def _captured_at(exif: Image.Exif) -> str | None:
    try:
        sub: Mapping[int, Any] = exif.get_ifd(ExifTags.IFD.Exif)
    except Exception:  # a hostile Exif IFD pointer, as in _exif
        sub = {}
    pairs = (
        (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal, sub),
        (ExifTags.Base.DateTime, ExifTags.Base.OffsetTime, exif),
    )
    for stamp_tag, offset_tag, tags in pairs:
        moment = _moment(_tag(tags, stamp_tag), _tag(sub, offset_tag))
        if moment is not None:
            return moment
    return None


# ---------------------------------------------------------------- inspecting

_SWAPS_AXES: Final = frozenset({5, 6, 7, 8})


def inspect_image(source: BinaryIO | pathlib.Path, *, max_pixels: int = MAX_PIXELS) -> ImageFacts:
    """The facts of the image in ``source`` (a seekable stream, read from
    its current position and left open, or a path), from its header alone;
    raises :class:`ImageRefused` as the module docstring says."""
    with open_image(source, max_pixels=max_pixels) as image:
        width, height = image.size
        if exif_orientation(image) in _SWAPS_AXES:
            width, height = height, width
        exif = _exif(image)
        return ImageFacts(
            width=width,
            height=height,
            captured_at=_captured_at(exif) if exif is not None else None,
            format=_TYPE_BY_FORMAT[image.format or ""],
        )
