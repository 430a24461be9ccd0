"""Tests for the photo pipeline and the content-addressed media store.

Every image is generated here with Pillow/numpy, so the tests run offline and fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageFile, features
from PIL.TiffImagePlugin import IFDRational

from lapor.store.media import (
    MAX_BYTES,
    MAX_SIDE,
    BadImage,
    MediaStore,
    PreparedPhoto,
    dhash,
    hamming,
    prepare_photo,
)

# Monas, Jakarta: 6°10'31.44" S, 106°49'37.92" E
MONAS = (-6.1754, 106.8272)

RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREY = (128, 128, 128)


# --- helpers -------------------------------------------------------------------------------


def encode(im: Image.Image, fmt: str = "JPEG", **params: object) -> bytes:
    exif = params.get("exif")
    if isinstance(exif, Image.Exif):
        # Pillow's PNG writer tests `if exif:`, and an Exif holding only a GPS IFD has len 0,
        # so it would silently write nothing. Bytes are written by every plugin.
        params["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def decode(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(pixel[:3], colour, strict=True))


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A photo-like image: gradients, rectangles ("buildings") and sensor noise."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    arr = np.stack(
        [rng.uniform(60, 190) + rng.uniform(-60, 60) * x / w + rng.uniform(-60, 60) * y / h] * 3,
        axis=-1,
    )
    arr = arr + rng.uniform(-20, 20, 3)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        rw, rh = (int(v) for v in rng.integers(w // 40, w // 4, 2))
        arr[y0 : y0 + rh, x0 : x0 + rw] = rng.uniform(0, 255, 3)
    arr += rng.normal(0, 6, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def big_picture(size: tuple[int, int]) -> Image.Image:
    """A cheap large image with some structure (generating a large `scene` takes seconds)."""
    grey = Image.radial_gradient("L").resize(size, Image.Resampling.BILINEAR)
    im = Image.merge("RGB", (grey, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grey))
    im.paste(RED, (0, 0, size[0] // 10, size[1] // 10))
    return im


def noise(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def gps_exif(lat_dms: tuple, lat_ref: str, lon_dms: tuple, lon_ref: str) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1] = lat_ref
    gps[2] = lat_dms
    gps[3] = lon_ref
    gps[4] = lon_dms
    return exif


def monas_exif(orientation: int | None = None) -> Image.Exif:
    exif = gps_exif(
        (IFDRational(6, 1), IFDRational(10, 1), IFDRational(3144, 100)),
        "S",
        (IFDRational(106, 1), IFDRational(49, 1), IFDRational(3792, 100)),
        "E",
    )
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR claims width x height: a classic decompression bomb file.

    Pillow never has to allocate the pixels to build it, so the test stays fast and small.
    """
    data = encode(Image.new("L", (1, 1)), "PNG")
    assert data[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return data[:16] + ihdr + crc + data[33:]


def reason_of(raw: bytes, **kwargs: int) -> str:
    with pytest.raises(BadImage) as info:
        prepare_photo(raw, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value.reason


# --- orientation, metadata, GPS --------------------------------------------------------------


def test_orientation_6_is_applied_and_all_metadata_is_stripped() -> None:
    # Stored landscape 400x300 with a red marker top-left and a blue marker top-right.
    # Orientation 6 means "rotate 90° clockwise to display": red lands top-right and blue
    # bottom-right of a 300x400 portrait.
    stored = Image.new("RGB", (400, 300), GREY)
    stored.paste(RED, (0, 0, 40, 40))
    stored.paste(BLUE, (360, 0, 400, 40))
    raw = encode(
        stored,
        exif=monas_exif(orientation=6),
        comment=b"owner: Budi, +62 812 0000 0000",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">secret</x:xmpmeta>',
    )
    assert "exif" in Image.open(io.BytesIO(raw)).info  # the input really carries metadata

    photo = prepare_photo(raw)

    assert (photo.width, photo.height) == (300, 400)
    out = decode(photo.data)
    assert out.format == "JPEG"
    assert out.size == (300, 400)
    assert close_to(out.getpixel((280, 20)), RED)
    assert close_to(out.getpixel((280, 380)), BLUE)
    assert close_to(out.getpixel((20, 20)), GREY)
    assert close_to(out.getpixel((20, 380)), GREY)

    assert len(out.getexif()) == 0
    for key in ("exif", "xmp", "comment", "XML:com.adobe.xmp"):
        assert key not in out.info
    assert b"Budi" not in photo.data
    assert b"secret" not in photo.data
    assert b"Exif\x00\x00" not in photo.data

    assert photo.gps is not None
    assert photo.gps == pytest.approx(MONAS, abs=1e-4)
    assert photo.source_format == "JPEG"
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()


@pytest.mark.parametrize(
    ("orientation", "expected_size", "red_corner"),
    [
        (1, (400, 300), (20, 20)),
        (3, (400, 300), (380, 280)),  # rotated 180°
        (8, (300, 400), (20, 380)),  # rotate 90° counter-clockwise to display
    ],
)
def test_other_orientations(
    orientation: int, expected_size: tuple[int, int], red_corner: tuple[int, int]
) -> None:
    stored = Image.new("RGB", (400, 300), GREY)
    stored.paste(RED, (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = orientation
    photo = prepare_photo(encode(stored, exif=exif))
    out = decode(photo.data)
    assert out.size == expected_size
    assert close_to(out.getpixel(red_corner), RED)


def test_no_exif_means_no_gps() -> None:
    photo = prepare_photo(encode(scene(1)))
    assert photo.gps is None


@pytest.mark.parametrize(
    "exif",
    [
        # Null Island: what broken GPS stacks write without a fix.
        gps_exif((IFDRational(0, 1),) * 3, "N", (IFDRational(0, 1),) * 3, "E"),
        # Latitude out of range.
        gps_exif((IFDRational(95, 1),), "N", (IFDRational(10, 1),), "E"),
        # Zero denominator.
        gps_exif((IFDRational(1, 0), IFDRational(0, 1)), "N", (IFDRational(1, 1),), "E"),
        # Missing hemisphere reference.
        gps_exif((IFDRational(6, 1),), "", (IFDRational(106, 1),), "E"),
    ],
    ids=["null-island", "out-of-range", "zero-denominator", "no-ref"],
)
def test_implausible_gps_is_ignored_but_the_photo_is_accepted(exif: Image.Exif) -> None:
    raw = encode(scene(2), exif=exif)
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the GPS IFD is really there
    photo = prepare_photo(raw)
    assert photo.gps is None
    assert photo.width == 640


def test_corrupt_exif_does_not_reject_the_photo() -> None:
    # An APP1 "Exif" segment whose TIFF header is garbage.
    good = encode(scene(3))
    junk = b"Exif\x00\x00" + b"MM\x00\x2a\xff\xff\xff\xff" + b"\x00" * 40
    segment = b"\xff\xe1" + struct.pack(">H", len(junk) + 2) + junk
    raw = good[:2] + segment + good[2:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns "Corrupt EXIF data"; that is the point
        photo = prepare_photo(raw)
    assert photo.gps is None
    assert (photo.width, photo.height) == (640, 480)


def test_gps_in_png_exif_is_read() -> None:
    photo = prepare_photo(encode(scene(4), "PNG", exif=monas_exif()))
    assert photo.gps == pytest.approx(MONAS, abs=1e-4)


# --- sizes ---------------------------------------------------------------------------------


def test_large_jpeg_is_downscaled_to_max_side() -> None:
    raw = encode(big_picture((4000, 3000)), quality=90)
    photo = prepare_photo(raw)
    assert (photo.width, photo.height) == (1600, 1200)
    out = decode(photo.data)
    assert out.size == (1600, 1200)
    assert close_to(out.getpixel((80, 60)), RED)  # the corner marker survived, same place


@pytest.mark.parametrize(
    "size",
    [(4001, 3001), (3300, 2000), (3201, 100), (6400, 4800), (1700, 1700), (900, 2500)],
)
def test_draft_never_undershoots_max_side(size: tuple[int, int]) -> None:
    # draft() reduces by 2/4/8; the result must still be exactly MAX_SIDE on the long side.
    raw = encode(Image.new("RGB", size, GREY), quality=50)
    photo = prepare_photo(raw)
    assert max(photo.width, photo.height) == MAX_SIDE
    expected_short = round(min(size) * MAX_SIDE / max(size))
    assert abs(min(photo.width, photo.height) - expected_short) <= 2


def test_small_image_is_not_upscaled() -> None:
    photo = prepare_photo(encode(scene(6, (320, 240))))
    assert (photo.width, photo.height) == (320, 240)


def test_custom_max_side_and_large_png() -> None:
    photo = prepare_photo(encode(scene(7, (3200, 800)), "PNG"), max_side=1000)
    assert (photo.width, photo.height) == (1000, 250)
    assert photo.source_format == "PNG"


# --- other formats -------------------------------------------------------------------------


def test_png_with_alpha_is_composited_on_white() -> None:
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (0, 0, 50, 50))
    photo = prepare_photo(encode(im, "PNG"))
    out = decode(photo.data)
    assert out.mode == "RGB"
    assert photo.source_format == "PNG"
    assert close_to(out.getpixel((10, 10)), RED)
    assert close_to(out.getpixel((150, 80)), (255, 255, 255), tol=3)


def test_palette_png_with_transparency() -> None:
    im = Image.new("P", (64, 64), 0)
    im.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    im.paste(1, (0, 0, 32, 64))
    photo = prepare_photo(encode(im, "PNG", transparency=0))
    out = decode(photo.data)
    assert close_to(out.getpixel((10, 10)), (0, 128, 0))
    assert close_to(out.getpixel((50, 10)), (255, 255, 255), tol=3)


def test_16_bit_greyscale_png_keeps_its_tones() -> None:
    # Pillow's own I;16 -> RGB conversion clips everything above 255 to white.
    ramp = (np.arange(256, dtype=np.uint32) * 257).astype(np.uint16)
    im = Image.fromarray(np.tile(ramp, (32, 1)))
    assert im.mode == "I;16"
    out = decode(prepare_photo(encode(im, "PNG")).data)
    left, middle = out.getpixel((5, 16)), out.getpixel((128, 16))
    assert left[0] < 20
    assert 100 < middle[0] < 160


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WebP")
def test_webp_is_accepted() -> None:
    photo = prepare_photo(encode(scene(8), "WEBP", quality=80, exif=monas_exif()))
    assert photo.source_format == "WEBP"
    assert (photo.width, photo.height) == (640, 480)
    assert decode(photo.data).format == "JPEG"
    assert photo.gps == pytest.approx(MONAS, abs=1e-4)


def test_mpo_first_frame_is_used() -> None:
    first = Image.new("RGB", (300, 200), RED)
    second = Image.new("RGB", (300, 200), BLUE)
    raw = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(raw)).format == "MPO"
    photo = prepare_photo(raw)
    assert photo.source_format == "MPO"
    assert close_to(decode(photo.data).getpixel((150, 100)), RED)


def test_large_mpo_is_downscaled() -> None:
    first = big_picture((3200, 2400))
    raw = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (3200, 2400))])
    photo = prepare_photo(raw)
    assert (photo.width, photo.height) == (1600, 1200)
    assert close_to(decode(photo.data).getpixel((80, 60)), RED)


def test_cmyk_jpeg_becomes_rgb() -> None:
    photo = prepare_photo(encode(Image.new("CMYK", (100, 80), (0, 255, 255, 0))))
    out = decode(photo.data)
    assert out.mode == "RGB"
    assert close_to(out.getpixel((50, 40)), RED, tol=60)


def test_rgb_icc_profile_is_kept() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = prepare_photo(encode(scene(10), icc_profile=icc, exif=monas_exif()))
    out = decode(photo.data)
    assert out.info.get("icc_profile") == icc
    assert len(out.getexif()) == 0


# --- rejections ----------------------------------------------------------------------------


def test_truncated_jpeg() -> None:
    raw = encode(noise(11, (800, 600)), quality=90)
    assert reason_of(raw[: len(raw) // 2]) == "truncated"


def test_truncated_png() -> None:
    raw = encode(noise(12, (300, 200)), "PNG")
    assert reason_of(raw[: len(raw) // 2]) == "truncated"


def test_jpeg_cut_inside_its_header_is_truncated_not_format() -> None:
    raw = encode(scene(13), exif=monas_exif())
    assert reason_of(raw[:30]) == "truncated"


def test_decompression_bomb_with_default_limit() -> None:
    raw = png_with_header_size(10_000, 10_000)  # 100 MP announced in a ~70-byte file
    assert len(raw) < 200
    assert reason_of(raw) == "bomb"


def test_decompression_bomb_beyond_pillows_hard_limit() -> None:
    assert reason_of(png_with_header_size(30_000, 30_000)) == "bomb"


def test_bomb_between_1x_and_2x_of_a_lowered_limit() -> None:
    # Pillow alone would only warn in this band; our own check must reject.
    raw = encode(Image.new("L", (1200, 1200)), "PNG")
    assert len(raw) < 10_000
    assert reason_of(raw, max_pixels=1_000_000) == "bomb"
    # Exactly at the limit is fine.
    photo = prepare_photo(encode(Image.new("L", (1000, 1000)), "PNG"), max_pixels=1_000_000)
    assert (photo.width, photo.height) == (1000, 1000)


def test_pillows_warning_band_is_an_error_even_with_a_raised_limit() -> None:
    # 100 MP is above Pillow's MAX_IMAGE_PIXELS (~89 MP) but below 2x: Pillow only warns.
    # Raising our own limit must not let such a file through on a warning.
    assert Image.MAX_IMAGE_PIXELS < 100_000_000
    raw = png_with_header_size(10_000, 10_000)
    assert reason_of(raw, max_pixels=150_000_000) == "bomb"


def test_no_global_state_leaks() -> None:
    limit_before = Image.MAX_IMAGE_PIXELS
    truncated_before = ImageFile.LOAD_TRUNCATED_IMAGES
    filters_before = list(warnings.filters)
    for raw in (png_with_header_size(10_000, 10_000), encode(scene(14))):
        with contextlib.suppress(BadImage):
            prepare_photo(raw)
    assert limit_before == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated_before
    assert list(warnings.filters) == filters_before


def test_text_named_jpg_is_format() -> None:
    assert reason_of(b"hello") == "format"


def test_gif_is_format() -> None:
    assert reason_of(encode(Image.new("P", (32, 32)), "GIF")) == "format"


@pytest.mark.parametrize("fmt", ["TIFF", "BMP"])
def test_other_real_images_are_format(fmt: str) -> None:
    assert reason_of(encode(Image.new("RGB", (32, 32), RED), fmt)) == "format"


def test_empty() -> None:
    assert reason_of(b"") == "empty"


def test_too_large() -> None:
    raw = encode(scene(15))
    assert reason_of(raw, max_bytes=len(raw) - 1) == "too_large"
    assert reason_of(b"\xff\xd8\xff" + b"\x00" * MAX_BYTES) == "too_large"
    # Exactly at the cap is accepted.
    assert prepare_photo(raw, max_bytes=len(raw)).width == 640


def test_bad_image_reason_is_validated() -> None:
    with pytest.raises(ValueError):
        BadImage("nonsense")


# --- perceptual hash -----------------------------------------------------------------------


def test_dhash_format_and_known_values() -> None:
    # Brightness rising left to right: every "right neighbour is brighter" bit is set.
    rising = Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (64, 1)), "L")
    assert dhash(rising) == "f" * 16
    assert dhash(rising.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == "0" * 16
    assert dhash(rising.convert("RGB")) == "f" * 16
    # Top half rising, bottom half falling: the first 32 bits set, the last 32 clear.
    halves = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    halves[32:] = halves[32:, ::-1]
    assert dhash(Image.fromarray(halves, "L")) == "ffffffff00000000"
    value = dhash(scene(16))
    assert len(value) == 16
    assert value == value.lower()
    int(value, 16)


def test_dhash_survives_recompression_and_resizing() -> None:
    for seed in range(5):
        original = scene(seed, (1280, 960))
        reference = dhash(original)
        recompressed = decode(encode(original, quality=40))
        resized = decode(encode(original.resize((640, 480), Image.Resampling.LANCZOS), quality=70))
        assert hamming(reference, dhash(recompressed)) <= 4
        assert hamming(reference, dhash(resized)) <= 4


def test_dhash_separates_unrelated_images() -> None:
    hashes = [dhash(scene(seed)) for seed in range(20, 26)]
    hashes += [dhash(noise(1, (640, 480))), dhash(noise(2, (640, 480)))]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert hamming(a, b) > 20, (a, b)


def test_prepared_dhash_matches_the_same_photo_sent_differently() -> None:
    # The same scene, once as an upright file and once stored sideways with orientation 8
    # (what a phone held vertically writes), downscaled by the sender in between.
    upright = scene(30, (2400, 1800))
    as_file = prepare_photo(encode(upright, quality=92))
    sideways = upright.transpose(Image.Transpose.ROTATE_270)
    exif = Image.Exif()
    exif[0x0112] = 8
    as_chat = prepare_photo(
        encode(sideways.resize((960, 1280), Image.Resampling.LANCZOS), quality=80, exif=exif)
    )
    assert (as_chat.width, as_chat.height) == (1280, 960)
    assert as_file.sha256 != as_chat.sha256
    assert hamming(as_file.dhash, as_chat.dhash) <= 4
    unrelated = prepare_photo(encode(scene(31, (1280, 960))))
    assert hamming(as_file.dhash, unrelated.dhash) > 20


def test_hamming() -> None:
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("0123456789abcdef", "0123456789abcdef") == 0
    assert hamming("0000000000000001", "0000000000000003") == 1
    assert hamming("8000000000000000", "0000000000000000") == 1
    assert hamming("00000000000000FF", "00000000000000ff") == 0
    for bad in ("", "0" * 15, "0" * 17, "g" * 16, " " + "0" * 15):
        with pytest.raises(ValueError):
            hamming(bad, "0" * 16)


# --- media store ---------------------------------------------------------------------------


@pytest.fixture
def photo() -> PreparedPhoto:
    return prepare_photo(encode(scene(40)))


def test_store_save_is_content_addressed(tmp_path: Path, photo: PreparedPhoto) -> None:
    store = MediaStore(tmp_path)
    relative = store.save(photo)
    sha = photo.sha256
    assert relative == f"{sha[:2]}/{sha[2:4]}/{sha}.jpg"
    assert (tmp_path / relative).read_bytes() == photo.data
    assert store.path(relative) == tmp_path / relative
    assert store.open_bytes(relative) == photo.data
    assert hashlib.sha256(store.open_bytes(relative)).hexdigest() == sha


def test_store_save_is_idempotent(tmp_path: Path, photo: PreparedPhoto) -> None:
    store = MediaStore(tmp_path)
    first = store.save(photo)
    stat_before = (tmp_path / first).stat()
    second = store.save(photo)
    assert second == first
    assert (tmp_path / first).stat().st_mtime_ns == stat_before.st_mtime_ns
    assert (tmp_path / first).stat().st_ino == stat_before.st_ino
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / first]  # no temporary files left behind


def test_store_repairs_a_damaged_file(tmp_path: Path, photo: PreparedPhoto) -> None:
    store = MediaStore(tmp_path)
    relative = store.save(photo)
    (tmp_path / relative).write_bytes(photo.data[:100])
    assert store.save(photo) == relative
    assert store.open_bytes(relative) == photo.data


def test_store_keeps_distinct_photos_apart(tmp_path: Path, photo: PreparedPhoto) -> None:
    store = MediaStore(tmp_path)
    other = prepare_photo(encode(scene(41)))
    a, b = store.save(photo), store.save(other)
    assert a != b
    assert store.open_bytes(a) == photo.data
    assert store.open_bytes(b) == other.data


def test_store_refuses_a_photo_whose_hash_does_not_match(
    tmp_path: Path, photo: PreparedPhoto
) -> None:
    forged = PreparedPhoto(
        data=photo.data,
        sha256="0" * 64,
        dhash=photo.dhash,
        width=photo.width,
        height=photo.height,
        source_format=photo.source_format,
        gps=None,
    )
    with pytest.raises(ValueError):
        MediaStore(tmp_path).save(forged)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "relative",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "ab/cd/../../../x.jpg",
        "ab/cd/" + "a" * 64 + ".jpg",  # prefix does not match the hash
        "AB/CD/" + "ab" + "cd" + "0" * 60 + ".jpg",
        "ab\\cd\\" + "abcd" + "0" * 60 + ".jpg",
        "ab/cd/abcd" + "0" * 60 + ".jpg\x00",
        "",
    ],
)
def test_store_path_rejects_traversal_and_foreign_names(tmp_path: Path, relative: str) -> None:
    with pytest.raises(ValueError):
        MediaStore(tmp_path / "media").path(relative)


def test_store_open_bytes_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        MediaStore(tmp_path).open_bytes("ab/cd/abcd" + "0" * 60 + ".jpg")


# --- a chat app's JPEG kept as sent, its metadata cut out ---------------------------------


def _markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments, in order, up to its first scan."""
    found, i = [], 2
    while i < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        found.append(marker)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return found


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body


def _with_segments(jpeg: bytes, *segments: bytes, tail: bytes = b"") -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:] + tail


def _gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0xA431] = "SERIAL-1234567"  # BodySerialNumber
    exif.get_ifd(0x8825).update(
        {
            1: "S",
            2: (IFDRational(6), IFDRational(10), IFDRational(3144, 100)),
            3: "E",
            4: (IFDRational(106), IFDRational(49), IFDRational(3792, 100)),
        }
    )
    return exif


KEPT_CASES = [
    ("baseline", {}),
    ("progressive", {"progressive": True}),
    ("restart markers", {"restart_marker_blocks": 4}),
    ("grey", {"grey": True}),
]


@pytest.mark.parametrize(("name", "params"), KEPT_CASES, ids=[n for n, _ in KEPT_CASES])
def test_a_plain_jpeg_is_kept_as_sent_without_its_metadata(name: str, params: dict) -> None:
    params = dict(params)
    im = scene(5, (960, 720))
    if params.pop("grey", False):
        im = im.convert("L")
    original = encode(im, quality=88, exif=_gps_exif(), **params)
    sent = _with_segments(
        original,
        _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Jl. Rumah 5</x:xmpmeta>"),
        _segment(0xED, b"Photoshop 3.0\x008BIM caption: rumah saya"),
        _segment(0xFE, b"taken at home"),
        tail=b"trailing bytes after the end: another file glued on",
    )
    photo = prepare_photo(sent)
    # Lossless: the same pixels as the sent file, not a re-encoding of them.
    assert np.array_equal(np.asarray(decode(photo.data)), np.asarray(decode(original)))
    assert _markers(photo.data).count(0xE1) == 0 and 0xED not in _markers(photo.data)
    assert 0xFE not in _markers(photo.data)
    for secret in (b"SERIAL-1234567", b"PhoneMaker", b"Rumah", b"rumah", b"home", b"glued"):
        assert secret not in photo.data, secret
    assert photo.data.endswith(b"\xff\xd9") and photo.data.startswith(b"\xff\xd8")
    assert photo.gps is not None and abs(photo.gps[0] - MONAS[0]) < 1e-3
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
    assert (photo.width, photo.height) == im.size
    # The hash from the reduced-scale decode agrees with the full picture's.
    assert hamming(photo.dhash, dhash(decode(original))) <= 3


def test_a_jfif_thumbnail_and_a_non_rgb_profile_are_not_kept() -> None:
    original = encode(scene(6), quality=90)
    # A JFIF header carrying a 1x1 thumbnail (it could show what a crop removed).
    jfif = b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x01\x01" + b"\x10\x20\x30"
    photo = prepare_photo(_with_segments(original[:2] + original[20:], _segment(0xE0, jfif)))
    assert b"\x10\x20\x30" not in photo.data[:64]
    grey = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    cmyk_like = grey[:16] + b"CMYK" + grey[20:]
    photo = prepare_photo(encode(scene(6), quality=90, icc_profile=cmyk_like))
    assert photo.data.find(b"ICC_PROFILE") < 0


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("rotated by EXIF", lambda: encode(scene(7, (640, 480)), exif=_rotated())),
        ("larger than the stored size", lambda: encode(scene(7, (MAX_SIDE + 200, 900)))),
        ("CMYK", lambda: encode(scene(7).convert("CMYK"))),
    ],
)
def test_photos_that_need_changing_are_encoded_again(name: str, make) -> None:  # type: ignore[no-untyped-def]
    raw = make()
    photo = prepare_photo(raw)
    assert _markers(photo.data)[:1] == [0xE0] and b"Adobe" not in photo.data[:200]
    assert max(photo.width, photo.height) <= MAX_SIDE
    if name == "rotated by EXIF":
        assert (photo.width, photo.height) == (480, 640)


def _rotated() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


@pytest.mark.parametrize("cut", [0.5, 0.9, 0.999])
def test_a_cut_off_jpeg_is_refused_on_the_kept_path_too(cut: float) -> None:
    raw = encode(scene(8, (800, 600)), quality=90)
    with pytest.raises(BadImage) as caught:
        prepare_photo(raw[: int(len(raw) * cut)])
    assert caught.value.reason == "truncated"


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_jpeg_is_a_bad_image_or_a_clean_one(data: st.DataObject) -> None:
    """Flipped bytes anywhere: refused as a BadImage, or stored as a JPEG that decodes and
    carries none of the sender's metadata."""
    raw = bytearray(_FUZZ_BASE)
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, len(raw) - 1))
        raw[where] = data.draw(st.integers(0, 255))
    try:
        photo = prepare_photo(bytes(raw))
    except BadImage:
        return
    decode(photo.data)
    assert b"SERIAL-1234567" not in photo.data and b"taken at home" not in photo.data


_FUZZ_BASE = _with_segments(
    encode(scene(9, (320, 240)), quality=80, exif=_gps_exif()), _segment(0xFE, b"taken at home")
)
