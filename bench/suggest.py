"""Benchmark the category suggestion on a held-out set written by hand.

The held-out set (bench/data/suggest_heldout.tsv, 28 texts per category, slang, typos and
ambiguous ones included) was written separately from the training examples and is never
read by training. The shipped model is counted from the package's examples
(lapor/routing/data/category_examples.tsv) in this run, and its load time is reported.

Figures: top-1 and top-3 accuracy, per category too, and the median time per suggestion
(with the garbage collector paused). Two baselines are measured in the same run:

- keywords: each category's own name words and a handful of obvious words per category,
  ranked by how many of them the text contains (what a first version would do);
- majority: the most common category of the training examples, always.

Target: top-3 accuracy >= 0.9 and a median suggestion under 1 ms. The last line is:

    {"bench": "suggest", "value": <top-3>, "unit": "accuracy", "baseline": <keyword top-3>,
     "ratio": <value/baseline>, "target": 0.9, "pass": ..., "top1": ..., "median_us": ...}

Run from the repository root: ``.venv/bin/python bench/suggest.py [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lapor.routing import suggest  # noqa: E402

HELD_OUT = REPO_ROOT / "bench" / "data" / "suggest_heldout.tsv"
TARGET = 0.9
TARGET_US = 1000.0

# The naive way: words a person would think of first, per category.
KEYWORDS: dict[str, set[str]] = {
    "sampah": {"sampah", "kotor", "bau", "tps"},
    "parkir-liar": {"parkir", "jukir", "ngetem"},
    "pelanggaran": {"pelanggaran", "liar", "izin", "ilegal", "melanggar"},
    "fasilitas-umum": {"fasilitas", "umum", "halte", "taman", "toilet", "rusak"},
    "kemacetan": {"macet", "kemacetan", "lalu", "lintas"},
    "banjir": {"banjir", "genangan", "tergenang", "air"},
    "jalan-rusak": {"jalan", "rusak", "lubang", "berlubang", "aspal"},
    "lampu-jalan": {"lampu", "jalan", "pju", "gelap"},
    "pohon-tumbang": {"pohon", "tumbang", "roboh", "dahan"},
    "pkl-liar": {"pkl", "pedagang", "lapak", "liar"},
    "kebakaran": {"kebakaran", "api", "terbakar", "asap"},
    "lainnya": {"lainnya"},
}


def keyword_suggest(text: str, k: int = 3) -> list[str]:
    words = set(suggest.normalise(text).split())
    hits = {slug: len(words & keys) for slug, keys in KEYWORDS.items()}
    ranked = sorted((slug for slug, n in hits.items() if n), key=lambda s: -hits[s])
    return ranked[:k]


def top_k(picked: list[str], slug: str) -> tuple[bool, bool]:
    return (bool(picked) and picked[0] == slug, slug in picked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timing repeats")
    args = parser.parse_args()

    held_out = suggest.read_examples(HELD_OUT.read_text(encoding="utf-8"))
    started = time.perf_counter()
    model = suggest.train(suggest.shipped_examples())
    load_s = time.perf_counter() - started

    first = within = 0
    per_category: dict[str, list[int]] = {}
    misses = []
    for slug, text in held_out:
        picked = [s for s, _ in model.suggest(text, 3)]
        one, three = top_k(picked, slug)
        first += one
        within += three
        per_category.setdefault(slug, [0, 0, 0])
        per_category[slug][0] += one
        per_category[slug][1] += three
        per_category[slug][2] += 1
        if not three:
            misses.append((slug, text, picked))
    n = len(held_out)
    top1, top3 = first / n, within / n

    kw = [top_k(keyword_suggest(text), slug) for slug, text in held_out]
    kw_top1 = sum(a for a, _ in kw) / n
    kw_top3 = sum(b for _, b in kw) / n
    majority = Counter(slug for slug, _ in suggest.shipped_examples()).most_common(1)[0][0]
    majority_top1 = sum(slug == majority for slug, _ in held_out) / n

    repeats = 3 if args.quick else 15
    timings = []
    gc.disable()
    try:
        for _ in range(repeats):
            for _, text in held_out:
                t0 = time.perf_counter()
                model.suggest(text, 3)
                timings.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    median_us = statistics.median(timings) * 1e6

    print(
        f"held-out texts: {n} ({len(per_category)} categories), model: {len(model.index)} features"
    )
    print(f"model counted from the shipped examples in {load_s * 1000:.0f} ms")
    print(f"{'category':<16}{'top-1':>7}{'top-3':>7}")
    for slug, (one, three, total) in sorted(per_category.items()):
        print(f"{slug:<16}{one / total:>7.2f}{three / total:>7.2f}")
    print(f"suggest:  top-1 {top1:.3f}  top-3 {top3:.3f}  median {median_us:.0f} us")
    print(f"keywords: top-1 {kw_top1:.3f}  top-3 {kw_top3:.3f}")
    print(f"majority ({majority}): top-1 {majority_top1:.3f}")
    if misses:
        print(f"not in the top 3 ({len(misses)}):")
        for slug, text, picked in misses:
            print(f"  {slug:<15} {text!r} -> {', '.join(picked) or 'nothing'}")
    result = {
        "bench": "suggest",
        "value": round(top3, 4),
        "unit": "accuracy",
        "baseline": round(kw_top3, 4),
        "ratio": round(top3 / kw_top3, 3) if kw_top3 else None,
        "target": TARGET,
        "pass": top3 >= TARGET and median_us < TARGET_US,
        "top1": round(top1, 4),
        "baseline_top1": round(kw_top1, 4),
        "majority_top1": round(majority_top1, 4),
        "median_us": round(median_us, 1),
        "target_us": TARGET_US,
        "load_ms": round(load_s * 1000, 1),
        "held_out": n,
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
