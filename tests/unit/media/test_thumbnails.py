"""make_thumbnails: upright, bounded, sRGB JPEGs with nothing of the source's metadata."""

from __future__ import annotations

import io
import pathlib
import warnings
from collections.abc import Mapping

import pytest
from PIL import ExifTags, Image, ImageCms

from prework.media.inspect import MAX_PIXELS, ImageRefused, inspect_image
from prework.media.thumbnails import (
    CONTENT_TYPE,
    THUMBNAIL_SIZES,
    Thumbnail,
    make_thumbnails,
)
from tests.unit.media import images

# The stored quadrants (red, green / blue, yellow) as a viewer shows them, by
# EXIF orientation (the TIFF/EXIF definition of the 0th row and column):
# top-left, top-right, bottom-left, bottom-right.
SHOWN = {
    1: ("red", "green", "blue", "yellow"),
    2: ("green", "red", "yellow", "blue"),  # mirrored left to right
    3: ("yellow", "blue", "green", "red"),  # upside down
    4: ("blue", "yellow", "red", "green"),  # mirrored top to bottom
    5: ("red", "blue", "green", "yellow"),  # mirrored along the main diagonal
    6: ("blue", "red", "yellow", "green"),  # turned a quarter clockwise
    7: ("yellow", "green", "blue", "red"),  # mirrored along the other diagonal
    8: ("green", "yellow", "red", "blue"),  # turned a quarter anticlockwise
}


def thumbnails(
    data: bytes, *, sizes: Mapping[str, int] = THUMBNAIL_SIZES, max_pixels: int = MAX_PIXELS
) -> dict[str, Thumbnail]:
    return make_thumbnails(io.BytesIO(data), sizes=sizes, max_pixels=max_pixels)


def opened(thumbnail: Thumbnail) -> Image.Image:
    image = Image.open(io.BytesIO(thumbnail.data))
    assert image.format == "JPEG"
    assert image.size == (thumbnail.width, thumbnail.height)
    return image


def refusal(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageRefused:
    with pytest.raises(ImageRefused) as err:
        thumbnails(data, max_pixels=max_pixels)
    return err.value


@pytest.mark.parametrize("orientation", sorted(SHOWN))
def test_thumbnails_are_upright(orientation: int) -> None:
    source = images.jpeg(images.quadrants(1600, 1200), exif=images.exif(orientation=orientation))
    result = thumbnails(source)
    landscape = orientation in (1, 2, 3, 4)
    assert (result["large"].width, result["large"].height) == (
        (1024, 768) if landscape else (768, 1024)
    )
    assert (result["small"].width, result["small"].height) == (
        (256, 192) if landscape else (192, 256)
    )
    for thumbnail in result.values():
        assert images.corners(opened(thumbnail)) == SHOWN[orientation]


def test_a_landscape_photo_with_orientation_6_is_a_portrait_thumbnail() -> None:
    # red top half, blue bottom half as stored; turned a quarter clockwise
    # the red is on the right and the blue on the left
    picture = Image.new("RGB", (4000, 3000), images.RED)
    picture.paste(images.BLUE, (0, 1500, 4000, 3000))
    result = thumbnails(images.jpeg(picture, exif=images.exif(orientation=6)))
    large = opened(result["large"])
    assert large.size == (768, 1024)
    assert images.colour_at(large, 0.1, 0.5) == "blue"
    assert images.colour_at(large, 0.9, 0.5) == "red"
    assert images.colour_at(large, 0.1, 0.02) == "blue"
    assert images.colour_at(large, 0.9, 0.98) == "red"


def test_never_upscaled() -> None:
    result = thumbnails(images.jpeg(images.quadrants(300, 200)))
    assert {name: (t.width, t.height) for name, t in result.items()} == {
        "small": (256, 171),
        "large": (300, 200),
    }
    tiny = thumbnails(images.encode(images.quadrants(4, 2), "PNG"))
    assert {(t.width, t.height) for t in tiny.values()} == {(4, 2)}


def test_sizes_are_the_caller_s() -> None:
    assert THUMBNAIL_SIZES == {"small": 256, "large": 1024}
    result = thumbnails(images.jpeg(images.quadrants(1200, 1600)), sizes={"icon": 64})
    assert list(result) == ["icon"]
    assert (result["icon"].width, result["icon"].height) == (48, 64)
    assert images.corners(opened(result["icon"])) == SHOWN[1]
    for sizes in ({}, {"none": 0}, {"small": 256, "negative": -1}):
        with pytest.raises(ValueError, match="positive"):
            thumbnails(images.jpeg(), sizes=sizes)


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize("icc_profile", [SRGB, None], ids=["with-icc", "without-icc"])
@pytest.mark.parametrize("orientation", [1, 6])
def test_a_progressive_jpeg_without_metadata(orientation: int, icc_profile: bytes | None) -> None:
    tags = images.exif(
        orientation=orientation,
        ifd0={ExifTags.Base.Make: "Phone", ExifTags.Base.BodySerialNumber: "SN-1234567"},
        exif_ifd={ExifTags.Base.DateTimeOriginal: "2023:07:14 09:26:53"},
        gps=images.GPS,
    )
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>gps-secret</x:xmpmeta>'
    source = images.jpeg(
        images.quadrants(1600, 1200),
        exif=tags,
        xmp=xmp,
        comment=b"comment-secret",
        dpi=(300, 300),
        **({"icc_profile": icc_profile} if icc_profile else {}),
    )
    # the source does carry all of it
    with Image.open(io.BytesIO(source)) as original:
        assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert {"exif", "xmp", "comment"} <= set(original.info)
        assert ("icc_profile" in original.info) == (icc_profile is not None)
    for thumbnail in thumbnails(source).values():
        assert thumbnail.content_type == CONTENT_TYPE == "image/jpeg"
        image = opened(thumbnail)
        assert image.info.get("progressive") or image.info.get("progression")
        assert len(image.getexif()) == 0
        assert image.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        for key in ("exif", "xmp", "comment", "icc_profile", "photoshop", "adobe"):
            assert key not in image.info
        for marker in (b"Exif\0\0", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"secret"):
            assert marker not in thumbnail.data
        assert b"SN-1234567" not in thumbnail.data
        assert b"\xff\xfe" not in thumbnail.data[: thumbnail.data.index(b"\xff\xda")]  # COM


def test_heic() -> None:
    tags = images.exif(orientation=6, gps=images.GPS)
    source = images.heic(images.quadrants(800, 600), exif_bytes=tags.tobytes())
    result = thumbnails(source)
    large = opened(result["large"])
    assert large.size == (600, 800)
    assert images.corners(large) == SHOWN[6]
    assert len(large.getexif()) == 0
    assert b"Exif\0\0" not in result["large"].data
    assert (result["small"].width, result["small"].height) == (192, 256)


def test_png_with_alpha_is_flattened_onto_white() -> None:
    picture = Image.new("RGBA", (400, 300), (0, 0, 255, 255))
    picture.paste((255, 0, 0, 0), (0, 0, 200, 300))  # left half fully transparent red
    picture.paste((255, 0, 0, 128), (200, 0, 300, 300))  # half-transparent red
    result = thumbnails(images.encode(picture, "PNG"))
    large = opened(result["large"])
    assert large.mode == "RGB"
    assert images.colour_at(large, 0.25, 0.5) == "white"
    assert images.colour_at(large, 0.9, 0.5) == "blue"
    pink = large.getpixel((int(0.62 * large.width), 150))
    assert isinstance(pink, tuple)
    assert pink[0] > 240
    assert 100 < pink[1] < 155
    assert 100 < pink[2] < 155


def test_palette_png_with_a_transparent_index() -> None:
    picture = images.quadrants(200, 100).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    red_index = picture.getpixel((10, 10))
    source = images.encode(picture, "PNG", transparency=red_index)
    assert images.corners(opened(thumbnails(source)["large"])) == (
        "white",
        "green",
        "blue",
        "yellow",
    )


def test_rgb_png_with_a_transparent_colour() -> None:
    source = images.encode(images.quadrants(200, 100), "PNG", transparency=images.GREEN)
    assert images.corners(opened(thumbnails(source)["large"])) == (
        "red",
        "white",
        "blue",
        "yellow",
    )


def test_webp() -> None:
    lossy = images.encode(images.quadrants(800, 600), "WEBP", quality=90)
    assert images.corners(opened(thumbnails(lossy)["large"])) == SHOWN[1]
    # lossless with alpha: the red quadrant made transparent comes out white
    picture = images.quadrants(800, 600).convert("RGBA")
    picture.paste((0, 0, 0, 0), (0, 0, 400, 300))
    transparent = images.encode(picture, "WEBP", lossless=True)
    large = opened(thumbnails(transparent)["large"])
    assert large.size == (800, 600)
    assert images.corners(large) == ("white", "green", "blue", "yellow")
    rotated = images.encode(
        images.quadrants(800, 600), "WEBP", quality=90, exif=images.exif(orientation=8)
    )
    assert images.corners(opened(thumbnails(rotated)["small"])) == SHOWN[8]


def test_grey_and_16_bit_grey() -> None:
    grey = thumbnails(images.jpeg(Image.new("L", (300, 200), 100)))["large"]
    assert opened(grey).getpixel((150, 100)) == pytest.approx((100, 100, 100), abs=2)
    deep = Image.new("I;16", (300, 200), 32768)  # half way, in 16 bits
    sixteen = opened(thumbnails(images.encode(deep, "PNG"))["large"])
    assert sixteen.getpixel((150, 100)) == pytest.approx((128, 128, 128), abs=2)


def test_an_unusable_icc_profile_is_dropped_not_fatal() -> None:
    source = images.jpeg(images.quadrants(400, 300), icc_profile=b"not a profile" * 10)
    large = thumbnails(source)["large"]
    assert images.corners(opened(large)) == SHOWN[1]
    assert b"ICC_PROFILE" not in large.data


def test_srgb_stays_srgb() -> None:
    large = thumbnails(images.jpeg(images.quadrants(400, 300), icc_profile=SRGB))["large"]
    image = opened(large)
    assert image.getpixel((100, 75)) == pytest.approx((255, 0, 0), abs=6)
    assert image.getpixel((300, 225)) == pytest.approx((255, 255, 0), abs=6)


def test_hostile_exif_still_gives_thumbnails() -> None:
    source = images.with_app1(
        images.jpeg(images.quadrants(400, 300)), b"Exif\x00\x00MM\x00\x2a\x00\x00\xff\xf0"
    )
    assert images.corners(opened(thumbnails(source)["large"])) == SHOWN[1]


def test_a_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "photo"
    path.write_bytes(images.jpeg(images.quadrants(400, 300)))
    assert make_thumbnails(path)["large"].width == 400


def test_same_size_as_inspect_reports() -> None:
    for source in (
        images.jpeg(images.quadrants(3000, 2000), exif=images.exif(orientation=5)),
        images.heic(images.quadrants(640, 480), exif_bytes=images.exif(orientation=8).tobytes()),
        images.encode(images.quadrants(500, 700), "PNG"),
    ):
        facts = inspect_image(io.BytesIO(source))
        largest = thumbnails(source, sizes={"all": 10_000})["all"]
        assert (largest.width, largest.height) == (facts.width, facts.height)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(images.png_header(100_000, 100_000), id="png-100000x100000"),
        pytest.param(images.jpeg_claiming(60_000, 60_000), id="jpeg-60000x60000"),
    ],
)
def test_bombs_are_refused_before_decoding_and_without_a_warning(data: bytes) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        err = refusal(data)
    assert caught == []
    assert err.code == "image_too_large"


def test_the_budget_is_per_call() -> None:
    data = images.jpeg(images.quadrants(400, 300))
    assert refusal(data, max_pixels=100_000).code == "image_too_large"
    assert thumbnails(data, max_pixels=120_000)["large"].width == 400


def test_pillow_s_bomb_error_is_image_too_large() -> None:
    err = refusal(images.webp_claiming(16_384, 16_384), max_pixels=10**12)
    assert err.code == "image_too_large"


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(_cut(images.jpeg(images.quadrants(800, 600)), 0.5), id="jpeg-cut-in-pixels"),
        pytest.param(
            _cut(images.jpeg(images.quadrants(3000, 2000)), 0.5), id="big-jpeg-cut-drafted"
        ),
        pytest.param(
            _cut(images.jpeg(images.quadrants(800, 600), progressive=True), 0.5),
            id="progressive-jpeg-cut",
        ),
        pytest.param(
            _cut(images.encode(Image.effect_noise((800, 600), 50), "PNG"), 0.5), id="png-cut"
        ),
        pytest.param(_cut(images.encode(images.quadrants(), "WEBP"), 0.5), id="webp-cut"),
        pytest.param(_cut(images.heic(), 0.5), id="heic-cut"),
        pytest.param(images.png_header(400, 300), id="png-without-pixels"),
        pytest.param(images.encode(images.quadrants(), "PDF"), id="pdf"),
        pytest.param(b"MZ" + images.jpeg(), id="executable"),
        pytest.param(b"", id="empty"),
    ],
)
def test_undecodable_files_are_a_content_mismatch(data: bytes) -> None:
    assert refusal(data).code == "content_mismatch"


def test_a_jpeg_cut_in_its_pixels_is_found_by_decoding() -> None:
    # inspect_image reads the header only and accepts it; decoding refuses it
    data = _cut(images.jpeg(images.quadrants(800, 600)), 0.5)
    assert inspect_image(io.BytesIO(data)).width == 800
    assert refusal(data).code == "content_mismatch"
