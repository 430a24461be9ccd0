"""Benchmark the photo pipeline (`lapor.store.media.prepare_photo`) against plain Pillow.

Two questions, both measured in the same run on generated images (no network, no files):

1. A 12 MP phone photo (4000x3000, EXIF orientation 6): how much faster is `prepare_photo` than
   the obvious Pillow order (open, `ImageOps.exif_transpose`, `thumbnail` to 1600, save JPEG)?
   Target: at least 2.5x.
2. A Telegram-size photo (1280x960, already stripped of EXIF by Telegram): how much does the
   pipeline (validation, EXIF reading, dHash, SHA-256) cost on top of a bare decode + encode?
   Target: ours / bare <= 1.2.

The two candidates of each pair are timed alternately (A, B, B, A, ...) so that background load
on a shared machine hits both alike; medians are reported. The last line of output is one JSON
object for tooling:

    {"bench": "photo", "value": <12 MP speedup>, "unit": "x", "baseline": <naive ms>,
     "ratio": <12 MP speedup>, "target": 2.5, "telegram_ratio": ..., "telegram_target": 1.2,
     "pass": true|false, ...}

Run from the repository root: ``.venv/bin/python bench/photo.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lapor.store.media import MAX_SIDE, prepare_photo  # noqa: E402

SPEEDUP_TARGET = 2.5
TELEGRAM_TARGET = 1.2


def photo_like(width: int, height: int, *, seed: int) -> Image.Image:
    """A synthetic photo with realistic JPEG entropy.

    Smooth gradients (sky, walls), mid-frequency texture (foliage, asphalt), hard-edged blocks
    (buildings, signs) and Gaussian sensor noise (sigma 6). At quality 92 a 4000x3000 image
    comes out around 3.5 MB (about 2.3 bits per pixel), in the range of a 12 MP phone JPEG.
    Entropy matters: Huffman decoding cannot be skipped by reduced-scale decoding, so a noisier
    image narrows the gap between the pipelines and a flat one widens it.
    """
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 128.0 + 60.0 * np.sin(x / 97.0) * np.cos(y / 53.0) + 25.0 * np.sin((x + 2.0 * y) / 13.0)
    del y, x
    pixels = np.empty((height, width, 3), dtype=np.float32)
    pixels[..., 0] = base + 20.0
    pixels[..., 1] = base
    pixels[..., 2] = base - 20.0
    del base
    for _ in range(200):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(v) for v in rng.integers(width // 100, width // 8, 2))
        pixels[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
    pixels += rng.normal(0.0, 6.0, size=pixels.shape).astype(np.float32)
    np.clip(pixels, 0, 255, out=pixels)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def jpeg_bytes(image: Image.Image, *, quality: int, orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def naive_pipeline(raw: bytes) -> bytes:
    """What most code does: decode everything, rotate everything, then shrink."""
    im = Image.open(io.BytesIO(raw))
    im = ImageOps.exif_transpose(im)
    im.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def bare_roundtrip(raw: bytes) -> bytes:
    """The floor for any pipeline that re-encodes: decode once, encode once."""
    im = Image.open(io.BytesIO(raw))
    im.load()
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def ours(raw: bytes) -> bytes:
    return prepare_photo(raw).data


def time_pair(
    a: Callable[[bytes], object], b: Callable[[bytes], object], raw: bytes, runs: int
) -> tuple[float, float]:
    """Median milliseconds of a(raw) and b(raw), interleaved A B B A to share the noise."""
    a(raw), b(raw)  # warm-up: imports, plugin registration, allocator
    times_a: list[float] = []
    times_b: list[float] = []
    gc.collect()
    for i in range(runs):
        order = ((a, times_a), (b, times_b)) if i % 2 == 0 else ((b, times_b), (a, times_a))
        for func, sink in order:
            start = time.perf_counter()
            func(raw)
            sink.append(time.perf_counter() - start)
    return statistics.median(times_a) * 1000.0, statistics.median(times_b) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (for CI / smoke tests)")
    parser.add_argument("--runs", type=int, default=None, help="runs for the 12 MP comparison")
    args = parser.parse_args(argv)

    big_runs = args.runs or (7 if args.quick else 21)
    small_runs = 5 * big_runs

    big_raw = jpeg_bytes(photo_like(4000, 3000, seed=1), quality=92, orientation=6)
    small_raw = jpeg_bytes(photo_like(1280, 960, seed=2), quality=87)

    # Sanity: both pipelines produce the same upright 1200x1600 picture.
    ours_size = Image.open(io.BytesIO(ours(big_raw))).size
    naive_size = Image.open(io.BytesIO(naive_pipeline(big_raw))).size
    if ours_size != naive_size or max(ours_size) != MAX_SIDE:
        print(f"size mismatch: ours {ours_size}, naive {naive_size}", file=sys.stderr)
        return 2

    print(f"Pillow {Image.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}")
    print(
        f"12 MP JPEG: 4000x3000, orientation 6, {len(big_raw) / 1e6:.2f} MB "
        f"({len(big_raw) * 8 / 12e6:.2f} bits/pixel); {big_runs} runs each"
    )
    naive_ms, ours_big_ms = time_pair(naive_pipeline, ours, big_raw, big_runs)
    speedup = naive_ms / ours_big_ms
    print(
        f"  naive open+exif_transpose+thumbnail+save: {naive_ms:7.1f} ms median\n"
        f"  prepare_photo:                            {ours_big_ms:7.1f} ms median\n"
        f"  speedup {speedup:.2f}x (target >= {SPEEDUP_TARGET}x)"
    )

    print(
        f"Telegram-size JPEG: 1280x960, no EXIF, {len(small_raw) / 1e3:.0f} KB; "
        f"{small_runs} runs each"
    )
    bare_ms, ours_small_ms = time_pair(bare_roundtrip, ours, small_raw, small_runs)
    telegram_ratio = ours_small_ms / bare_ms
    print(
        f"  bare open+load+save:                      {bare_ms:7.2f} ms median\n"
        f"  prepare_photo:                            {ours_small_ms:7.2f} ms median\n"
        f"  ratio ours/bare {telegram_ratio:.3f} (target <= {TELEGRAM_TARGET})"
    )

    passed = speedup >= SPEEDUP_TARGET and telegram_ratio <= TELEGRAM_TARGET
    result = {
        "bench": "photo",
        "value": round(speedup, 3),
        "unit": "x",
        "baseline": round(naive_ms, 2),
        "ratio": round(speedup, 3),
        "target": SPEEDUP_TARGET,
        "telegram_ratio": round(telegram_ratio, 3),
        "telegram_target": TELEGRAM_TARGET,
        "pass": passed,
        "ours_ms": round(ours_big_ms, 2),
        "telegram_bare_ms": round(bare_ms, 3),
        "telegram_ours_ms": round(ours_small_ms, 3),
        "runs": big_runs,
        "quick": bool(args.quick),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
