"""Benchmark the similar-photo lookup (`similar_photo_reports`) against today's scan.

When a citizen's report reaches the note step, lapor looks for open public laporan of the
last 30 days with a photo within 10 bits (dHash) of theirs. Until revision 0011 it read the
newest 5,000 of those photos' hashes and compared them in Python, so older reports were never
checked. The index (`lapor/store/photohash.py`, table `photo_hash_chunk`) finds every one.

A database is built by the real migrations (SQLite in a temp dir; PostgreSQL too when --url
is given, which empties that database first) and grown to 1,000, 10,000 and 100,000 open
public laporan, each with one photo of a random 64-bit hash, created over the last 30 days;
1% of them re-send another report's photo with 1-6 bits changed (near-duplicates). Rows are
bulk-inserted; the chunks are the ones `create_report` writes (`photohash.chunk_keys`).
Then, at each size, lookups of one hash each: half of them a near-identical copy (0-8 bits
off) of a random report's photo, half an unrelated photo (the common case: nothing similar).

- index: `similar_photo_reports(session, [hash], since, 10)`, ms per lookup, median of
  repeated batches (target at 100,000: <= 2 ms);
- baseline: today's scan without its 5,000 cap (every open photo hash of the window read and
  compared in Python: what it takes to check them all the old way), ms per lookup
  (target: scan / index >= 20 at 100,000);
- the scan as it was (capped at the newest 5,000): how many near-identical copies it missed.

The index and the uncapped scan must give the same reports for every baseline lookup, and the
index must find the report behind every near-identical copy (checked, printed). The last line
of output is one JSON object:

    {"bench": "similar", "value": <index ms at 100,000>, "unit": "ms",
     "baseline": <scan ms at 100,000>, "ratio": <baseline/value>, "target": 20,
     "value_target_ms": 2, "pass": ..., "exact": ..., "sizes": {...},
     "postgresql": {...} or null, "postgresql_pass": ... or null, ...}

"pass" is SQLite's (both targets at 100,000, and exact); PostgreSQL's figures are checked
against the same targets in "postgresql_pass".

Run from the repository root: ``.venv/bin/python bench/similar.py [--quick]
[--url postgresql://postgres@127.0.0.1/lapor_bench]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from lapor.store import photohash  # noqa: E402
from lapor.store.db import make_engine, new_session, normalise_url  # noqa: E402
from lapor.store.lifecycle import OPEN_STATUSES, ReportKind  # noqa: E402
from lapor.store.media import hamming  # noqa: E402
from lapor.store.migrate import upgrade  # noqa: E402
from lapor.store.models import (  # noqa: E402
    Category,
    Contact,
    Photo,
    PhotoHashChunk,
    Report,
    ReportPhoto,
)
from lapor.store.reports import photo_candidates, similar_photo_reports  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
VALUE_TARGET_MS = 2.0
RATIO_TARGET = 20.0
MAX_BITS = 10  # CoreConfig.similar_photo_bits
OLD_CAP = 5_000  # recent_photo_hashes(limit=5000), the scan before revision 0011
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
STATUSES = sorted(s.value for s in OPEN_STATUSES)


# -- today's scan, as it was (lapor/store/reports.py and handlers/citizen.py before 0011) ----


def scan(session: Session, mine: Sequence[str], limit: int | None) -> set[int]:
    """Read the window's open public photo hashes, newest first, and compare each in Python."""
    rows = session.execute(
        select(ReportPhoto.report_id, Photo.dhash)
        .join(Photo, Photo.id == ReportPhoto.photo_id)
        .join(Report, Report.id == ReportPhoto.report_id)
        .where(
            Report.kind == ReportKind.LAPORAN.value,
            Report.public.is_(True),
            Report.status.in_(STATUSES),
            Report.created_at >= SINCE,
        )
        .order_by(Report.created_at.desc())
        .limit(limit)
    )
    return {
        report_id for report_id, dhash in rows if any(hamming(dhash, d) <= MAX_BITS for d in mine)
    }


def index(session: Session, mine: Sequence[str]) -> set[int]:
    return set(similar_photo_reports(session, mine, SINCE, MAX_BITS))


# -- data ------------------------------------------------------------------------------------


def hex16(value: int) -> str:
    return f"{value & (2**64 - 1):016x}"


def flip(value: int, bits: int, rng: np.random.Generator) -> int:
    for bit in rng.choice(64, size=bits, replace=False).tolist():
        value ^= 1 << bit
    return value


class Population:
    """The open reports so far: their hashes, and the ids the database gave them."""

    def __init__(self, engine: Engine, rng: np.random.Generator) -> None:
        self.engine = engine
        self.rng = rng
        self.hashes: list[int] = []
        self.ids: list[int] = []
        with engine.begin() as conn:
            self.category_id = conn.execute(select(Category.id)).scalars().first()
            # Many reporters, as in life: the quota tally's triggers (0009) update one row per
            # reporter and month, and one row updated 100,000 times in a transaction crawls.
            self.reporters = (
                conn.execute(
                    insert(Contact).returning(Contact.id),
                    [
                        {"channel": "console", "address": f"bench{i}", "created_at": NOW}
                        for i in range(2_000)
                    ],
                )
                .scalars()
                .all()
            )

    def grow(self, size: int) -> float:
        """Add reports up to `size`; returns the seconds the bulk insert took."""
        rng = self.rng
        start = len(self.hashes)
        count = size - start
        new = [int(v) for v in rng.integers(0, 2**64, size=count, dtype=np.uint64)]
        for i in np.flatnonzero(rng.random(count) < 0.01).tolist():
            if start + i > 0:  # a near-duplicate of an earlier report's photo
                source = int(rng.integers(0, start + i))
                earlier = self.hashes[source] if source < start else new[source - start]
                new[i] = flip(earlier, int(rng.integers(1, 7)), rng)
        seconds = rng.uniform(0, 30 * 86_400 - 60, size=count)
        times = [NOW - timedelta(seconds=float(s)) for s in seconds]
        statuses = rng.choice(STATUSES, size=count).tolist()
        reports = [
            {
                "ticket": f"B-{start + i:07d}",
                "kind": ReportKind.LAPORAN.value,
                "category_id": self.category_id,
                "status": statuses[i],
                "channel": "console",
                "reporter_id": self.reporters[(start + i) % len(self.reporters)],
                "public": True,
                "support_count": 0,
                "latitude": -6.2,
                "longitude": 106.8,
                "created_at": times[i],
                "updated_at": times[i],
            }
            for i in range(count)
        ]
        photos = [
            {
                "sha256": f"{start + i:064x}",
                "dhash": hex16(value),
                "width": 1200,
                "height": 900,
                "size": 120_000,
                "path": "00/00/x.jpg",
                "source_format": "JPEG",
                "created_at": times[i],
            }
            for i, value in enumerate(new)
        ]
        started = time.perf_counter()
        with self.engine.begin() as conn:
            conn.execute(insert(Report), reports)
            conn.execute(insert(Photo), photos)
            report_ids = dict(
                conn.execute(
                    select(Report.ticket, Report.id).where(Report.ticket >= f"B-{start:07d}")
                ).all()
            )
            photo_ids = dict(
                conn.execute(
                    select(Photo.sha256, Photo.id).where(Photo.sha256 >= f"{start:064x}")
                ).all()
            )
            ids = [report_ids[f"B-{start + i:07d}"] for i in range(count)]
            conn.execute(
                insert(ReportPhoto),
                [
                    {"report_id": ids[i], "position": 0, "photo_id": photo_ids[f"{start + i:064x}"]}
                    for i in range(count)
                ],
            )
            chunks = []
            for i, value in enumerate(new):
                signed = photohash.hash_value(hex16(value))
                assert signed is not None
                chunks.extend(
                    {
                        "report_id": ids[i],
                        "position": 0,
                        "chunk": key,
                        "dhash": signed,
                        "created_at": times[i],
                    }
                    for key in photohash.chunk_keys(signed)
                )
            conn.execute(insert(PhotoHashChunk), chunks)
        # Fresh statistics, as autovacuum would keep them (on PostgreSQL the vacuum also sets
        # the visibility map, which is what lets a lookup read the index alone).
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            with self.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        self.hashes.extend(new)
        self.ids.extend(ids)
        return time.perf_counter() - started

    def queries(self, count: int) -> list[tuple[str, int | None]]:
        """(hash, the report it copies or None): half near-identical copies, half unrelated."""
        rng = self.rng
        out: list[tuple[str, int | None]] = []
        for n in range(count):
            if n % 2 == 0:
                pick = int(rng.integers(0, len(self.hashes)))
                copy = flip(self.hashes[pick], int(rng.integers(0, 9)), rng)
                out.append((hex16(copy), self.ids[pick]))
            else:
                out.append((hex16(int(rng.integers(0, 2**64, dtype=np.uint64))), None))
        return out


# -- timing ----------------------------------------------------------------------------------


def per_lookup_ms(
    session: Session, fn: Callable[[Session, Sequence[str]], set[int]], hashes: list[str], runs: int
) -> float:
    """Median over `runs` batches of the mean time per lookup, in milliseconds."""
    fn(session, hashes[:1])  # warm the statement caches
    times = []
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            for h in hashes:
                fn(session, [h])
            times.append((time.perf_counter() - started) / len(hashes) * 1000)
        finally:
            gc.enable()
    return statistics.median(times)


def measure(url: str, label: str, quick: bool) -> dict[int, dict[str, Any]]:
    upgrade(url)
    engine = make_engine(url)
    population = Population(engine, np.random.default_rng(20261204))
    results: dict[int, dict[str, Any]] = {}
    try:
        for size in SIZES:
            insert_s = population.grow(size)
            queries = population.queries(200 if quick else 1_000)
            hashes = [h for h, _ in queries]
            baseline_hashes = hashes[: 4 if quick else 10]
            with new_session(engine) as session:
                found = [index(session, [h]) for h in hashes]
                lost = sum(
                    1
                    for (_, src), got in zip(queries, found, strict=True)
                    if src and src not in got
                )
                agree = sum(
                    1
                    for h, got in zip(baseline_hashes, found, strict=False)
                    if scan(session, [h], None) == got
                )
                capped_missed = sum(
                    1
                    for h, src in queries[: 40 if quick else 100]
                    if src is not None and src not in scan(session, [h], OLD_CAP)
                )
                copies = sum(1 for _, src in queries[: 40 if quick else 100] if src is not None)
                index_ms = per_lookup_ms(session, index, hashes, 5 if quick else 9)
                scan_ms = per_lookup_ms(session, scan_all, baseline_hashes, 3)
                capped_ms = per_lookup_ms(session, scan_capped, baseline_hashes, 3)
                read, checked = candidate_rows(session, hashes[:50])
            results[size] = {
                "index_ms": index_ms,
                "scan_ms": scan_ms,
                "capped_scan_ms": capped_ms,
                "ratio": scan_ms / index_ms,
                "index_rows_read": read,
                "rows_checked_in_python": checked,
                "copies_lost_by_index": lost,
                "agree_with_scan": f"{agree}/{len(baseline_hashes)}",
                "capped_scan_missed": f"{capped_missed}/{copies}",
                "insert_s": insert_s,
            }
            print(
                f"{label} {size:>7,} open reports (+{insert_s:.1f} s insert): "
                f"index {index_ms:7.3f} ms, scan {scan_ms:8.2f} ms ({scan_ms / index_ms:6.0f}x), "
                f"capped scan {capped_ms:7.2f} ms missing {capped_missed}/{copies} copies; "
                f"index rows read {read:.0f}, checked in Python {checked:.0f}; "
                f"index lost {lost} copies, same reports as the scan in "
                f"{agree}/{len(baseline_hashes)}"
            )
    finally:
        engine.dispose()
    return results


def scan_all(session: Session, mine: Sequence[str]) -> set[int]:
    return scan(session, mine, None)


def scan_capped(session: Session, mine: Sequence[str]) -> set[int]:
    return scan(session, mine, OLD_CAP)


def candidate_rows(session: Session, hashes: list[str]) -> tuple[float, float]:
    """Index rows a lookup reads, and the rows it hands to Python to check, on average."""
    read = returned = 0
    for h in hashes:
        value = photohash.hash_value(h)
        assert value is not None
        probe = photohash.probe([value], MAX_BITS)
        read += len(
            session.execute(
                select(PhotoHashChunk.report_id).where(
                    PhotoHashChunk.chunk.in_(probe.near + probe.ring),
                    PhotoHashChunk.created_at >= SINCE,
                )
            ).all()
        )
        returned += len(photo_candidates(session, probe, SINCE))
    return read / len(hashes), returned / len(hashes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer lookups and repeats")
    parser.add_argument("--url", help="also on this PostgreSQL database (emptied first)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lapor-bench-similar-") as tmp:
        sqlite = measure(f"sqlite:///{Path(tmp) / 'similar.db'}", "SQLite", args.quick)
    postgres = None
    if args.url:
        url = normalise_url(args.url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        postgres = measure(url, "PostgreSQL", args.quick)

    largest = SIZES[-1]
    value = sqlite[largest]["index_ms"]
    baseline = sqlite[largest]["scan_ms"]
    ratio = baseline / value
    checks = [sqlite] + ([postgres] if postgres else [])
    exact = all(
        r["copies_lost_by_index"] == 0
        and r["agree_with_scan"].split("/")[0] == r["agree_with_scan"].split("/")[1]
        for run in checks
        for r in run.values()
    )
    passed = value <= VALUE_TARGET_MS and ratio >= RATIO_TARGET and exact
    postgres_pass = None
    if postgres:
        pg = postgres[largest]
        postgres_pass = pg["index_ms"] <= VALUE_TARGET_MS and pg["ratio"] >= RATIO_TARGET

    def rounded(run: dict[int, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        return {
            str(size): {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}
            for size, r in run.items()
        }

    result = {
        "bench": "similar",
        "value": round(value, 3),
        "unit": "ms",
        "baseline": round(baseline, 2),
        "ratio": round(ratio, 1),
        "target": RATIO_TARGET,
        "value_target_ms": VALUE_TARGET_MS,
        "pass": passed,
        "exact": exact,
        "sizes": rounded(sqlite),
        "postgresql": rounded(postgres) if postgres else None,
        "postgresql_pass": postgres_pass,
        "quick": args.quick,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
