"""Photo pipeline and content-addressed media store.

Citizens send photos of potholes, floods and rubbish through chat channels. Everything that
arrives is untrusted: it may be a renamed text file, a decompression bomb, a truncated upload or
a 12 MP phone photo carrying the sender's home coordinates in EXIF. `prepare_photo` turns such
bytes into one small, upright, metadata-free JPEG (plus a content hash and a perceptual hash
for finding re-sent photos), and `MediaStore` keeps those JPEGs on disk under their SHA-256.

The work is CPU-bound (tens of milliseconds per photo): callers in asyncio code should run
`prepare_photo` in a thread (`asyncio.to_thread`) so one photo does not stall every chat.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import struct
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "BadImage",
    "MediaStore",
    "PreparedPhoto",
    "dhash",
    "hamming",
    "prepare_photo",
]

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "MPO"})
"""Formats phones and chat apps actually send. GIF (animations), TIFF, BMP, PSD and the many
exotic Pillow plugins are refused: each extra parser is extra attack surface for no benefit."""

MAX_SIDE = 1600
"""Longest side of the stored JPEG: enough to see a pothole or a street sign, small enough
(~200-400 KB) to store for years and to send back to officers over mobile data."""

# Pillow's own limit (Image.MAX_IMAGE_PIXELS, ~89 MP) only *warns* between 1x and 2x and raises
# only above ~179 MP; Pillow keeps RGB at 4 bytes per pixel, so a 179 MP decode needs ~720 MB.
# Phone cameras save 12-50 MP photos in their default modes (108/200 MP sensors bin to 12 MP),
# so 40 MP lets every normal photo through and keeps a worst-case decode near 160 MB (a JPEG is
# decoded at reduced scale anyway; a PNG/WebP is not).
MAX_PIXELS = 40_000_000

# Telegram's bot download limit: nothing larger can arrive through the channels we serve.
MAX_BYTES = 20 * 1024 * 1024

JPEG_QUALITY = 85
"""Visually close to the original at this size; higher quality mostly stores sensor noise."""

_RESAMPLE = Image.Resampling.BILINEAR  # see the measurements in _prepare_opened

# Plugins Image.open may try: fewer parsers exposed to untrusted bytes. MPO has no opener of its
# own (the JPEG plugin returns an MpoImageFile when it sees the MP extension); naming "MPO" here
# makes Image.open raise KeyError.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP")

# EXIF tags (numeric so the code reads the same as the EXIF specification).
_TAG_ORIENTATION = 0x0112
_TAG_GPS_IFD = 0x8825
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

# Orientation tag value -> the transpose that makes the image upright (same table as
# PIL.ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Exceptions Pillow's parsers and decoders raise on malformed input. Anything in this list coming
# out of Image.open()/load() means "these bytes are not a usable image". KeyError/TypeError are
# deliberately absent: they mean a bug on our side and must not be reported as a bad photo.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    struct.error,
)

# `warnings.catch_warnings()` saves and restores the process-wide filter list. Two threads
# entering it at the same time can restore each other's state and leave the "error" filter
# installed for good. Serialising our own use prevents that; the guarded section is only the
# header parse in Image.open (well under a millisecond), so the lock costs nothing measurable.
_WARNINGS_LOCK = threading.Lock()

_MAGIC_PNG = b"\x89PNG\r\n\x1a\n"
_MAGIC_JPEG = b"\xff\xd8\xff"


class BadImage(ValueError):
    """The bytes are not an acceptable photo.

    `reason` is a stable machine-readable code so handlers can pick a user-facing message:

    - ``"too_large"``: more bytes than the cap (checked before any parsing).
    - ``"format"``: not an image, or not an allowed format (a text file named .jpg, GIF, TIFF).
    - ``"bomb"``: the header announces more pixels than allowed (decompression bomb).
    - ``"truncated"``: an allowed format whose data cannot be decoded (cut off or corrupt).
    - ``"empty"``: zero bytes.
    """

    REASONS = frozenset({"too_large", "format", "bomb", "truncated", "empty"})

    reason: str

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown BadImage reason {reason!r}")
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo ready to store: re-encoded, upright, stripped of EXIF/XMP/comments.

    Only an sRGB-style RGB ICC profile may survive (it changes how colours render and identifies
    nobody); GPS, camera serial numbers, timestamps and thumbnails never do.
    """

    data: bytes
    """A metadata-free JPEG, longest side <= max_side: the sent one with its metadata
    segments cut out when that is all it needs, else re-encoded (baseline, quality 85)."""
    sha256: str
    """Hex SHA-256 of `data`: the content address in `MediaStore` and an exact-duplicate key."""
    dhash: str
    """64-bit difference hash (16 lowercase hex chars) for finding re-sent/recompressed photos."""
    width: int
    height: int
    source_format: str
    """Pillow format name of the upload, e.g. "JPEG", "PNG", "WEBP", "MPO"."""
    gps: tuple[float, float] | None
    """(lat, lon) from the upload's EXIF, if present and plausible. A hint only: EXIF is trivially
    forged, and photos sent the normal way through Telegram/WhatsApp have it stripped already."""


def prepare_photo(
    raw: bytes,
    *,
    max_side: int = MAX_SIDE,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_BYTES,
) -> PreparedPhoto:
    """Validate untrusted image bytes and turn them into a storable `PreparedPhoto`.

    Order matters for safety and speed: size caps before parsing, pixel cap right after the
    header is read (before any pixel is decoded), reduced-scale JPEG decoding (`draft`) so a
    12 MP photo is decoded at 2000x1500 instead of 4000x3000, a full `load()` so truncated files
    are rejected rather than stored half grey, and only then orientation, downscale and encode.

    Raises `BadImage` (a `ValueError`) with a `reason` code for every kind of unusable input.
    """
    if max_side < 1 or max_pixels < 1 or max_bytes < 1:
        raise ValueError("max_side, max_pixels and max_bytes must be positive")
    if not raw:
        raise BadImage("empty")
    if len(raw) > max_bytes:
        raise BadImage("too_large", f"{len(raw)} bytes > {max_bytes}")

    im = _open_checked(raw, max_pixels)
    try:
        exif = _safe_exif(im)
        return _kept_as_sent(im, raw, exif, max_side=max_side) or _prepare_opened(
            im, exif, max_side=max_side
        )
    finally:
        im.close()


def _kept_as_sent(
    im: ImageFile.ImageFile, raw: bytes, exif: Image.Exif | None, *, max_side: int
) -> PreparedPhoto | None:
    """The sent JPEG itself, its metadata segments cut out, when nothing else needs changing.

    What chat apps deliver is mostly this already: Telegram and WhatsApp re-encode a photo
    to at most 1280-1600 px, upright, without EXIF. Decoding it fully and encoding it again
    (~15 ms of a report's CPU) would only lose quality. So when it is a JPEG within
    `max_side`, upright (no EXIF rotation), RGB or grey with no colour profile but an RGB
    one, its segments are copied without APPn/COM metadata (EXIF, XMP, IPTC, thumbnails,
    comments; only a JFIF header without thumbnail, an RGB ICC profile and Adobe's colour
    flag are kept) and nothing after its end. The whole entropy-coded stream is decoded at
    reduced scale, so a damaged file is refused here as in the full path, and its hash
    comes from those pixels. Anything else (None) takes the full path.
    """
    if im.format != "JPEG" or max(im.size) > max_side or im.mode not in {"RGB", "L"}:
        return None
    if _orientation_from_exif(exif) not in (0, 1):
        return None
    icc = im.info.get("icc_profile")
    if icc is not None and not (im.mode == "RGB" and _is_rgb_icc(icc)):
        return None
    data = _without_metadata(raw, keep_icc=icc is not None)
    if data is None:
        return None
    width, height = im.size
    # dhash wants >= 32 samples per cell of its 9x8 grid: decode at the smallest scale
    # (1/2, 1/4, 1/8) that still gives them.
    im.draft(im.mode, (min(width, 9 * _DHASH_SAMPLES), min(height, 8 * _DHASH_SAMPLES)))
    try:
        im.load()
    except _DECODE_ERRORS as exc:
        raise BadImage("truncated", f"{type(exc).__name__}: {exc}") from exc
    return PreparedPhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        dhash=dhash(im),
        width=width,
        height=height,
        source_format="JPEG",
        gps=_gps_from_exif(exif),
    )


_APP0, _APP2, _APP14, _APP15, _COM = 0xE0, 0xE2, 0xEE, 0xEF, 0xFE
_SOS, _EOI = 0xDA, 0xD9


def _without_metadata(raw: bytes, *, keep_icc: bool) -> bytes | None:
    """The JPEG's segments up to its EOI without metadata; None when it is not plain enough
    to copy (an unexpected marker, a length past the end, no EOI)."""
    if not raw.startswith(b"\xff\xd8"):
        return None
    out = [b"\xff\xd8"]
    i, end = 2, len(raw)
    while i < end:
        if raw[i] != 0xFF:
            return None
        while i < end and raw[i] == 0xFF:  # fill bytes before a marker
            i += 1
        if i >= end:
            return None
        marker = raw[i]
        i += 1
        if marker == _EOI:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8 or 0xF0 <= marker <= 0xFD:
            return None  # stuffing, TEM, RSTn or SOI out of place, or JPEG extensions
        if i + 2 > end:
            return None
        length = int.from_bytes(raw[i : i + 2], "big")
        if length < 2 or i + length > end:
            return None
        body = raw[i + 2 : i + length]
        if _APP0 <= marker <= _APP15 or marker == _COM:
            keep = (
                (marker == _APP0 and body.startswith(b"JFIF\x00") and body[12:14] == b"\x00\x00")
                or (marker == _APP2 and keep_icc and body.startswith(b"ICC_PROFILE\x00"))
                or (marker == _APP14 and body.startswith(b"Adobe"))
            )
        else:
            keep = True
        if keep:
            out.append(bytes((0xFF, marker)) + raw[i : i + length])
        i += length
        if marker == _SOS:  # entropy-coded data, up to the next marker
            j = i
            while True:
                j = raw.find(b"\xff", j)
                if j < 0 or j + 1 >= end:
                    return None
                following = raw[j + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    j += 2  # a stuffed 0xFF, or a restart marker inside the scan
                elif following == 0xFF:
                    j += 1
                else:
                    break
            out.append(raw[i:j])
            i = j
    return None


def _open_checked(raw: bytes, max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header only, and refuse wrong formats and oversized images before decoding."""
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; make that an error here
            # without touching Pillow's globals (the filter is restored on exit).
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(raw), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage("bomb", str(exc)) from exc
    except UnidentifiedImageError as exc:
        # Image.open turns header parse failures into "unidentified". If the magic bytes say
        # it is one of our formats, the file is damaged rather than of the wrong kind.
        reason = "truncated" if _has_allowed_magic(raw) else "format"
        raise BadImage(reason, str(exc)) from exc
    except _DECODE_ERRORS as exc:
        reason = "truncated" if _has_allowed_magic(raw) else "format"
        raise BadImage(reason, f"{type(exc).__name__}: {exc}") from exc

    try:
        if im.format not in ALLOWED_FORMATS:
            raise BadImage("format", f"format {im.format!r} not allowed")
        width, height = im.size
        if width < 1 or height < 1:
            raise BadImage("truncated", f"invalid size {im.size}")
        # Our own check, independent of Pillow's global limit and its warn-only band.
        if width * height > max_pixels:
            raise BadImage("bomb", f"{width}x{height} > {max_pixels} pixels")
    except BaseException:
        im.close()
        raise
    return im


def _prepare_opened(
    im: ImageFile.ImageFile, exif: Image.Exif | None, *, max_side: int
) -> PreparedPhoto:
    # MPO (stereo / multi-picture phone photos): Pillow opens on frame 0, the normal photo, and
    # nothing below seeks, so the other frames are never decoded.
    source_format = str(im.format)

    gps = _gps_from_exif(exif)
    orientation = _orientation_from_exif(exif)
    icc = im.info.get("icc_profile")

    width, height = im.size
    long_side = max(width, height)
    if source_format in {"JPEG", "MPO"} and long_side > max_side:
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale almost for free (it skips most of the
        # inverse DCT). draft() picks the largest reduction whose result is still >= the
        # requested size, so asking for the final size keeps the long side >= max_side and
        # the final resize only ever shrinks. Orientation only swaps axes, and max_side bounds
        # both axes, so the request is valid before rotation too.
        scale = max_side / long_side
        im.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))

    try:
        im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage("bomb", str(exc)) from exc
    except _DECODE_ERRORS as exc:
        # With LOAD_TRUNCATED_IMAGES off (Pillow's default, never changed here) a cut-off file
        # fails here; verify() would have let it through.
        raise BadImage("truncated", f"{type(exc).__name__}: {exc}") from exc

    rgb = _to_rgb(im)

    # Downscale first and rotate second: rotating the small image is cheaper, and the
    # "longest side <= max_side" bound does not depend on which axis is long.
    w, h = rgb.size
    if max(w, h) > max_side:
        factor = max_side / max(w, h)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        # BILINEAR, not LANCZOS: Pillow's bilinear widens its kernel with the scale factor, so it
        # is a proper anti-aliasing filter. After draft() only a factor < 2 remains (2000 ->
        # 1600 px for a 12 MP photo). On an edge-heavy synthetic photo it measured 44 dB PSNR
        # against a full-resolution LANCZOS reference (LANCZOS after draft: 46 dB, invisible
        # after JPEG q85) at half the cost (24 ms vs 51 ms), which is what makes the 12 MP
        # pipeline ~3x faster than the naive one instead of ~2.3x (bench/photo.py).
        # reducing_gap=2.0 box-reduces by an integer factor first when the ratio is large
        # (PNG/WEBP cannot use draft).
        rgb = rgb.resize(size, _RESAMPLE, reducing_gap=2.0)

    method = _ORIENTATION_TRANSPOSE.get(orientation)
    if method is not None:
        rgb = rgb.transpose(method)

    perceptual = dhash(rgb)  # from the final upright pixels, so EXIF rotation cannot change it

    # Drop everything Pillow carried along in .info. JPEG save writes "comment" from im.info
    # even without being asked, and future Pillow versions may carry more.
    rgb.info = {}
    save_args: dict[str, Any] = {"quality": JPEG_QUALITY, "optimize": False}
    if _is_rgb_icc(icc):
        save_args["icc_profile"] = icc
    out = io.BytesIO()
    rgb.save(out, "JPEG", **save_args)  # no exif=/xmp=: no metadata is written
    data = out.getvalue()

    return PreparedPhoto(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        dhash=perceptual,
        width=rgb.width,
        height=rgb.height,
        source_format=source_format,
        gps=gps,
    )


def _has_allowed_magic(raw: bytes) -> bool:
    """True when the bytes start like a JPEG/MPO, PNG or WebP file."""
    return (
        raw.startswith(_MAGIC_JPEG)
        or raw.startswith(_MAGIC_PNG)
        or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP")
    )


def _safe_exif(im: Image.Image) -> Image.Exif | None:
    """EXIF of the upload, or None when it is missing or malformed.

    EXIF is attacker- and firmware-controlled junk as often as not; a broken EXIF block must
    never cost us the photo itself.
    """
    try:
        return im.getexif()
    except Exception:
        return None


def _orientation_from_exif(exif: Image.Exif | None) -> int:
    """EXIF orientation (1..8), defaulting to 1 (upright) for missing or invalid values."""
    if exif is None:
        return 1
    try:
        value = int(exif.get(_TAG_ORIENTATION, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _gps_from_exif(exif: Image.Exif | None) -> tuple[float, float] | None:
    """(lat, lon) in decimal degrees from the GPS IFD, or None if absent or implausible.

    (0, 0) is rejected because broken GPS stacks write it when they have no fix ("Null Island"),
    and a hemisphere reference is required because guessing N/E would put a Jakarta (S) report
    in the South China Sea.
    """
    if exif is None:
        return None
    try:
        gps_ifd = exif.get_ifd(_TAG_GPS_IFD)
        if not gps_ifd:
            return None
        lat = _dms_to_degrees(gps_ifd.get(_GPS_LAT), gps_ifd.get(_GPS_LAT_REF), "N", "S")
        lon = _dms_to_degrees(gps_ifd.get(_GPS_LON), gps_ifd.get(_GPS_LON_REF), "E", "W")
    except Exception:
        return None
    if lat is None or lon is None:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    if lat == 0.0 and lon == 0.0:
        return None
    return (lat, lon)


def _dms_to_degrees(value: Any, ref: Any, positive: str, negative: str) -> float | None:
    """Convert EXIF (degrees, minutes, seconds) rationals plus an N/S/E/W reference."""
    if value is None or ref is None:
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    ref = str(ref).strip("\x00 ").upper()
    if ref not in (positive, negative):
        return None
    parts = list(value) if isinstance(value, tuple | list) else [value]
    if not 1 <= len(parts) <= 3:
        return None
    numbers = [float(part) for part in parts]  # IFDRational -> float (nan for x/0)
    if not all(math.isfinite(n) and n >= 0 for n in numbers):
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    return -degrees if ref == negative else degrees


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any decoded mode to RGB, compositing transparency onto white.

    White, not black: a PNG screenshot with transparent margins would otherwise turn dark and
    black text on it unreadable.
    """
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in {"I", "I;16", "I;16B", "I;16L", "I;16N"}:
        # 16-bit PNGs: Pillow's convert() clips to 0..255 (nearly all white); scale instead.
        array = np.asarray(im, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L").convert("RGB")
    has_alpha = mode in {"RGBA", "LA", "PA"} or (
        mode in {"P", "L", "RGB", "1"} and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")


def _is_rgb_icc(icc: object) -> bool:
    """Keep an ICC profile only if it describes RGB data (bytes 16..20 of the header).

    A CMYK or grey profile attached to our RGB output would make viewers render wrong colours,
    and an oversized blob is not a colour profile anyone needs.
    """
    return isinstance(icc, bytes) and 128 <= len(icc) <= 1024 * 1024 and icc[16:20] == b"RGB "


_DHASH_SAMPLES = 32  # minimum samples per dhash cell along each axis


def dhash(image: Image.Image) -> str:
    """64-bit difference hash: grey, shrink to 9x8, one bit per "right neighbour is brighter".

    Robust to recompression, resizing and small colour changes (typically 0-2 bits, rarely up
    to 4), but not to rotation or cropping, which is what we want for spotting the same photo
    sent twice. Bits are packed row by row, most significant first (the same layout as the
    `imagehash` package's dhash string; values can differ by a bit or two because the
    shrinking filter differs).
    """
    # Speed: this runs on every photo, and on a Telegram-size photo a 9x8 BOX average of every
    # pixel (~0.9 ms, bound by reading 5 MB of pixels) would be most of what prepare_photo adds
    # on top of decode+encode (~7 ms). A cell needs a good average, not every pixel: take every
    # `step`-th row and column first (NEAREST), keeping at least 32x32 samples per cell, then
    # BOX-average those into 9x8 cells (~0.35 ms in all). Measured on 40 synthetic 1280x960
    # scenes with aliasing-prone fine stripes: recompressed (q50) / resized copies moved by
    # 0.7 / 1.2 bits on average (max 3 / 4), against 0.3 / 0.5 (max 2 / 3) for the full
    # average, and unrelated scenes stayed >= 16 bits apart: far from a ~10-bit threshold.
    width, height = image.size
    step = max(1, min(width // (9 * _DHASH_SAMPLES), height // (8 * _DHASH_SAMPLES)))
    if step > 1:
        image = image.resize((width // step, height // step), Image.Resampling.NEAREST)
    if image.mode not in {"RGB", "L"}:
        # Palette and 1-bit images only resize with NEAREST: go to grey before averaging.
        image = image.convert("L")
    # Averaging before the grey conversion equals averaging after it up to rounding, because
    # the conversion is linear.
    small = image.resize((9, 8), Image.Resampling.BOX)
    if small.mode != "L":
        small = small.convert("L")
    pixels = np.asarray(small, dtype=np.int16)
    bits = pixels[:, 1:] > pixels[:, :-1]
    return np.packbits(bits.reshape(-1)).tobytes().hex()


_HASH_RE = re.compile(r"[0-9a-f]{16}")


def hamming(a: str, b: str) -> int:
    """Number of differing bits between two 16-hex-digit dhashes (0 = same, 64 = opposite)."""
    if not (_HASH_RE.fullmatch(a.lower()) and _HASH_RE.fullmatch(b.lower())):
        raise ValueError(f"expected two 16-hex-digit hashes, got {a!r} and {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


_RELATIVE_RE = re.compile(r"([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\.jpg")


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable: the database row pointing at the file may commit right after."""
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MediaStore:
    """Content-addressed photo files: ``<root>/ab/cd/<sha256>.jpg``.

    Naming files by their hash makes saving idempotent (a re-sent photo or a retried handler
    writes nothing new), makes files immutable (safe to cache and to back up with rsync), and
    lets the database store a short relative path that cannot point anywhere else. Two levels
    of 256 directories keep directories small at millions of photos.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._resolved_root: Path | None = None

    def save(self, photo: PreparedPhoto) -> str:
        """Write the photo if not already present; return its relative path.

        The file is written to a temporary name in the destination directory and renamed with
        `os.replace`, which is atomic on POSIX: readers and a crash mid-write never see a partial
        file under the final name. Concurrent saves of the same photo are harmless, as both
        write identical bytes.
        """
        digest = hashlib.sha256(photo.data).hexdigest()
        if digest != photo.sha256:
            raise ValueError("PreparedPhoto.sha256 does not match its data")
        relative = f"{digest[:2]}/{digest[2:4]}/{digest}.jpg"
        final = self.path(relative)
        try:
            if final.stat().st_size == len(photo.data):
                return relative
        except FileNotFoundError:
            pass

        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(photo.data)
                handle.flush()
                os.fsync(handle.fileno())
            # mkstemp creates 0600; media is served to officers by other processes.
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, final)
            _fsync_directory(final.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        return relative

    def path(self, relative: str) -> Path:
        """Filesystem path under the store root for a relative path returned by `save`.

        Only the exact shape `save` produces is accepted, so values from the database or a
        request cannot escape the store ("../", absolute paths, backslashes, NUL bytes).
        """
        match = _RELATIVE_RE.fullmatch(relative) if isinstance(relative, str) else None
        if match is None or not match.group(3).startswith(match.group(1) + match.group(2)):
            raise ValueError(f"not a media store path: {relative!r}")
        candidate = self.root / relative
        # Defence in depth against symlinks planted inside the store. The root is resolved
        # once (it is the operator's, and resolving costs a syscall per path component).
        if self._resolved_root is None:
            self._resolved_root = self.root.resolve()
        if not candidate.resolve().is_relative_to(self._resolved_root):
            raise ValueError(f"media path escapes the store: {relative!r}")
        return candidate

    def open_bytes(self, relative: str) -> bytes:
        """Read a stored photo (raises FileNotFoundError if it was never saved)."""
        return self.path(relative).read_bytes()
