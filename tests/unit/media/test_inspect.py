"""inspect_image: the size as shown, the capture time, and the refusals."""

from __future__ import annotations

import io
import pathlib
import struct
import warnings

import pytest
from PIL import ExifTags, Image

from prework.errors import ValidationFailed
from prework.media.inspect import (
    HEIC,
    JPEG,
    MAX_PIXELS,
    PNG,
    WEBP,
    ImageFacts,
    ImageRefused,
    inspect_image,
)
from tests.unit.media import images

DTO = ExifTags.Base.DateTimeOriginal
OFFSET_DTO = ExifTags.Base.OffsetTimeOriginal
DATETIME = ExifTags.Base.DateTime
OFFSET = ExifTags.Base.OffsetTime


def facts(data: bytes, **kwargs: int) -> ImageFacts:
    return inspect_image(io.BytesIO(data), **kwargs)


def refusal(data: bytes, **kwargs: int) -> ImageRefused:
    with pytest.raises(ImageRefused) as err:
        facts(data, **kwargs)
    return err.value


@pytest.mark.parametrize(
    ("orientation", "size"),
    [(orientation, (400, 300)) for orientation in (1, 2, 3, 4)]
    + [(orientation, (300, 400)) for orientation in (5, 6, 7, 8)],
)
def test_size_is_as_shown(orientation: int, size: tuple[int, int]) -> None:
    data = images.jpeg(images.quadrants(400, 300), exif=images.exif(orientation=orientation))
    result = facts(data)
    assert (result.width, result.height) == size
    assert result.format == JPEG


def test_a_camera_photo_with_orientation_6() -> None:
    data = images.jpeg(Image.new("RGB", (4000, 3000)), exif=images.exif(orientation=6))
    assert facts(data) == ImageFacts(width=3000, height=4000, captured_at=None, format=JPEG)


ORIENTATION = ExifTags.Base.Orientation


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param((ORIENTATION, 3, 1, struct.pack("<H", 0)), id="zero"),
        pytest.param((ORIENTATION, 3, 1, struct.pack("<H", 9)), id="nine"),
        pytest.param((ORIENTATION, 3, 1, struct.pack("<H", 300)), id="300"),
        pytest.param((ORIENTATION, 2, 2, b"6\0"), id="text"),
        pytest.param((ORIENTATION, 3, 2, struct.pack("<HH", 6, 6)), id="two-values"),
        pytest.param((ORIENTATION, 5, 1, struct.pack("<I", 200)), id="rational-past-the-end"),
    ],
)
def test_an_unusable_orientation_is_none(entry: tuple[int, int, int, bytes]) -> None:
    data = images.with_app1(images.jpeg(images.quadrants(400, 300)), images.raw_exif(entry))
    result = facts(data)
    assert (result.width, result.height) == (400, 300)


def test_a_hand_written_orientation_is_read() -> None:
    entry = (ORIENTATION, 3, 1, struct.pack("<H", 6))
    data = images.with_app1(images.jpeg(images.quadrants(400, 300)), images.raw_exif(entry))
    result = facts(data)
    assert (result.width, result.height) == (300, 400)


@pytest.mark.parametrize(
    ("tags", "captured_at"),
    [
        ({DTO: "2023:07:14 09:26:53"}, "2023-07-14T09:26:53"),
        ({DTO: "2023:07:14 09:26:53", OFFSET_DTO: "+02:00"}, "2023-07-14T09:26:53+02:00"),
        ({DTO: "2023:12:31 23:59:59", OFFSET_DTO: "-05:30"}, "2023-12-31T23:59:59-05:30"),
        ({DTO: "2023:07:14 09:26:53", OFFSET_DTO: "+00:00"}, "2023-07-14T09:26:53+00:00"),
        # an unusable offset drops the offset, not the time
        ({DTO: "2023:07:14 09:26:53", OFFSET_DTO: "CEST"}, "2023-07-14T09:26:53"),
        ({DTO: "2023:07:14 09:26:53", OFFSET_DTO: "+25:00"}, "2023-07-14T09:26:53"),
        # the offset of DateTimeOriginal is not DateTime's
        ({DTO: "2023:07:14 09:26:53", OFFSET: "+02:00"}, "2023-07-14T09:26:53"),
        # padding as some cameras write it
        ({DTO: "2023:07:14 09:26:53\x00"}, "2023-07-14T09:26:53"),
        # malformed
        ({DTO: "2023:13:14 09:26:53"}, None),
        ({DTO: "2023:02:30 09:26:53"}, None),
        ({DTO: "0000:00:00 00:00:00"}, None),
        ({DTO: "    :  :     :  :  "}, None),
        ({DTO: "2023-07-14T09:26:53"}, None),
        ({DTO: "yesterday"}, None),
        ({DTO: ""}, None),
    ],
)
def test_capture_time(tags: dict[int, object], captured_at: str | None) -> None:
    data = images.jpeg(images.quadrants(40, 30), exif=images.exif(exif_ifd=tags))
    assert facts(data).captured_at == captured_at


def test_capture_time_falls_back_to_datetime() -> None:
    fallback: dict[int, object] = {DATETIME: "2021:01:02 03:04:05"}
    data = images.jpeg(images.quadrants(40, 30), exif=images.exif(ifd0=fallback))
    assert facts(data).captured_at == "2021-01-02T03:04:05"
    # with its own offset tag, and also when DateTimeOriginal is malformed
    data = images.jpeg(
        images.quadrants(40, 30),
        exif=images.exif(ifd0=fallback, exif_ifd={DTO: "0000:00:00 00:00:00", OFFSET: "+01:00"}),
    )
    assert facts(data).captured_at == "2021-01-02T03:04:05+01:00"
    # DateTimeOriginal wins
    data = images.jpeg(
        images.quadrants(40, 30),
        exif=images.exif(ifd0=fallback, exif_ifd={DTO: "2020:06:07 08:09:10"}),
    )
    assert facts(data).captured_at == "2020-06-07T08:09:10"


def test_no_exif_no_capture_time() -> None:
    assert facts(images.jpeg(images.quadrants(40, 30))).captured_at is None


HOSTILE_EXIF = [
    pytest.param(b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 8, id="garbage"),
    pytest.param(b"Exif\x00\x00MM\x00\x2a\x00\x00\xff\xf0", id="ifd-offset-past-the-end"),
    pytest.param(
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\xff\xff\x00\x00"
        b"\x00\x00\x00\x00",
        id="orientation-count-past-the-end",
    ),
    pytest.param(
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00"
        b"\x00\xf0\x00\x00\x00\x00\x00\x00",
        id="exif-ifd-pointer-past-the-end",
    ),
    pytest.param(b"Exif\x00\x00", id="empty"),
]


@pytest.mark.parametrize("payload", HOSTILE_EXIF)
def test_hostile_exif_never_raises(payload: bytes) -> None:
    # warnings are errors in the tests: Pillow's "corrupt EXIF" warnings raise
    assert facts(images.with_app1(images.jpeg(images.quadrants(40, 30)), payload)) == ImageFacts(
        40, 30, None, JPEG
    )


@pytest.mark.parametrize("payload", HOSTILE_EXIF)
def test_hostile_exif_never_raises_when_warnings_are_only_warnings(payload: bytes) -> None:
    # as in production, where Pillow's warnings do not raise and parsing goes on
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert facts(
            images.with_app1(images.jpeg(images.quadrants(40, 30)), payload)
        ) == ImageFacts(40, 30, None, JPEG)


def test_png_webp_heic() -> None:
    picture = images.quadrants(64, 48)
    tags = images.exif(orientation=6, exif_ifd={DTO: "2024:05:06 07:08:09"})
    assert facts(images.encode(picture, "PNG")) == ImageFacts(64, 48, None, PNG)
    assert facts(images.encode(picture, "PNG", exif=tags)) == ImageFacts(
        48, 64, "2024-05-06T07:08:09", PNG
    )
    assert facts(images.encode(picture, "WEBP", exif=tags)) == ImageFacts(
        48, 64, "2024-05-06T07:08:09", WEBP
    )
    assert facts(images.encode(picture.convert("RGBA"), "WEBP", lossless=True)) == ImageFacts(
        64, 48, None, WEBP
    )
    assert facts(images.heic(picture)) == ImageFacts(64, 48, None, HEIC)
    # libheif stores the orientation as the file's own rotation; pillow-heif
    # reports the size as shown either way
    assert facts(images.heic(picture, exif_bytes=tags.tobytes())) == ImageFacts(
        48, 64, "2024-05-06T07:08:09", HEIC
    )


def test_a_path_and_a_stream_not_at_its_start(tmp_path: pathlib.Path) -> None:
    data = images.jpeg(images.quadrants(40, 30))
    path = tmp_path / "photo.bin"
    path.write_bytes(data)
    assert inspect_image(path) == ImageFacts(40, 30, None, JPEG)
    stream = io.BytesIO(b"prefix" + data)
    stream.seek(6)
    assert inspect_image(stream) == ImageFacts(40, 30, None, JPEG)
    assert not stream.closed


# ---------------------------------------------------------------- refusals


def test_refusals_are_validation_errors() -> None:
    err = refusal(b"MZ\x90\x00")
    assert isinstance(err, ValidationFailed)
    assert err.status == 422
    assert err.code == "content_mismatch"
    assert err.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(images.png_header(100_000, 100_000), id="png-100000x100000"),
        pytest.param(images.jpeg_claiming(60_000, 60_000), id="jpeg-60000x60000"),
        pytest.param(images.png_header(10_000, 5_001), id="png-just-over"),
    ],
)
def test_bombs_are_refused_without_a_warning(data: bytes) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        err = refusal(data)
    assert caught == []
    assert err.code == "image_too_large"
    assert err.details["max_pixels"] == MAX_PIXELS


def test_the_budget_is_per_call() -> None:
    data = images.jpeg(images.quadrants(400, 300))
    assert refusal(data, max_pixels=119_999).code == "image_too_large"
    assert facts(data, max_pixels=120_000).width == 400


def test_pillow_s_own_limit_neither_warns_nor_refuses_within_the_budget() -> None:
    # 100 MP: over Pillow's default MAX_IMAGE_PIXELS (89 MP), where Image.open warns
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = facts(images.png_header(10_000, 10_000), max_pixels=200_000_000)
    assert caught == []
    assert (result.width, result.height) == (10_000, 10_000)


def test_pillow_s_bomb_error_is_image_too_large() -> None:
    # the WebP decoder allocates its canvas on opening; Pillow refuses first
    # (over twice MAX_IMAGE_PIXELS), whatever budget the caller gave
    err = refusal(images.webp_claiming(16_384, 16_384), max_pixels=10**12)
    assert err.code == "image_too_large"
    assert isinstance(err.__cause__, Image.DecompressionBombError)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(images.jpeg()[:200], id="jpeg-cut-in-its-header"),
        pytest.param(images.encode(images.quadrants(), "PNG")[:20], id="png-cut-in-ihdr"),
        pytest.param(images.encode(images.quadrants(), "WEBP")[:200], id="webp-cut"),
        pytest.param(images.heic()[:300], id="heic-cut"),
        pytest.param(
            images.png_header(40, 30)[:29] + b"\0\0\0\0" + images.png_header(40, 30)[33:],
            id="png-bad-crc",
        ),
        pytest.param(images.webp_claiming(40, 30), id="webp-without-data"),
        pytest.param(images.ftyp(b"heic", b"mif1", b"heic"), id="heic-without-data"),
        pytest.param(images.encode(images.quadrants(), "PDF"), id="pdf"),
        pytest.param(images.encode(images.quadrants(), "GIF"), id="gif"),
        pytest.param(images.encode(images.quadrants(), "BMP"), id="bmp"),
        pytest.param(images.encode(images.quadrants(), "TIFF"), id="tiff"),
        pytest.param(b"MZ" + images.jpeg(), id="executable"),
        pytest.param(b"", id="empty"),
    ],
)
def test_undecodable_or_other_files_are_a_content_mismatch(data: bytes) -> None:
    assert refusal(data).code == "content_mismatch"


def test_inspecting_reads_the_header_only() -> None:
    # pixels cut short are found by decoding them (make_thumbnails), not here
    data = images.jpeg(images.quadrants())
    assert facts(data[: len(data) // 2]) == ImageFacts(800, 600, None, JPEG)
