"""Benchmark the public pages: their weight, and the map's time against drawing it afresh.

A SQLite database is built by the real migrations with Jakarta's 267 kelurahan (from
`../shared/data/`, or the demo registry when that is absent) and a number of open public
laporan (2,000; 200 with --quick) spread over the registry. The real app answers over
httpx's ASGI transport, as a phone would ask it:

- sizes: the bytes of each page (a report's page, the map city-wide and zoomed, the league,
  a kelurahan's Atom feed); every page must stay under 100 KB before photos;
- value: the city-wide map (`/peta`), ms per page, median of repeated requests, with the
  extent and outlines kept per registry and view (what `lapor web` does);
- baseline: the same page with nothing kept, so the extent is worked out and the outlines
  drawn anew for every request (what it would cost without keeping them), ms per page.

The last line of output is one JSON object:

    {"bench": "public_pages", "value": <ms>, "unit": "ms", "baseline": <ms>,
     "ratio": <baseline/value>, "target": 1.5, "pass": ..., "sizes": {...},
     "largest_bytes": ..., "size_target_bytes": 102400}

"pass" needs the ratio at or above its target and every page under 100 KB.

Run from the repository root: ``.venv/bin/python bench/public_pages.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

from lapor.bot.runtime import Runtime  # noqa: E402
from lapor.bot.settings import load_settings  # noqa: E402
from lapor.bot.web import create_app  # noqa: E402
from lapor.routing import import_registry, parse_registry  # noqa: E402
from lapor.routing.demo import ensure_demo_registry  # noqa: E402
from lapor.store.db import transaction  # noqa: E402
from lapor.store.lifecycle import ReportKind  # noqa: E402
from lapor.store.migrate import upgrade  # noqa: E402
from lapor.store.models import Contact  # noqa: E402
from lapor.store.reports import create_report  # noqa: E402

JAKARTA = (REPO_ROOT / ".." / "shared" / "data" / "jakarta_kelurahan.geojson").resolve()
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
PAGE_LIMIT = 100 * 1024
TARGET_RATIO = 1.5


def _jpeg() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 90, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def build(folder: Path, reports: int) -> tuple[Any, Runtime, str, str]:
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    settings = load_settings(_env_file=None, database_url=url, media_dir=folder / "media")
    runtime = Runtime.from_settings(settings, clock=lambda: NOW)
    rnd = random.Random(11)
    photo = runtime.accept_photo_sync(_jpeg()).to_dict()
    with transaction(runtime.engine) as session:
        if JAKARTA.is_file():
            records = parse_registry(JAKARTA)
            import_registry(session, records, NOW)
            places = [(r.code, r.geometry.representative_point()) for r in records]
            points = [(code, (p.y, p.x)) for code, p in places]
        else:
            ensure_demo_registry(session, NOW)
            points = [("DEMO.01", (-6.175, 106.825)), ("DEMO.02", (-6.195, 106.8375))]
        who = Contact(channel="console", address="bench", name="Bench", created_at=NOW)
        session.add(who)
        session.flush()
        ticket = ""
        for n in range(reports):
            code, (lat, lon) = points[rnd.randrange(len(points))]
            at = NOW - timedelta(days=n % 25, hours=n % 24)
            made = create_report(
                session,
                kind=ReportKind.LAPORAN,
                reporter=who,
                now=at,
                local_now=at,
                ticket_prefix="JKT",
                category_slug="sampah",
                note=None,
                location=(lat + rnd.uniform(-0.002, 0.002), lon + rnd.uniform(-0.002, 0.002)),
                photos=[photo],
                kelurahan_code=code,
                public=True,
            )
            ticket = made.ticket
    return settings, runtime, ticket, points[0][0]


async def fetch(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lapor.test") as client:
        response = await client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


def timed(runs: int, make_app: Any, path: str) -> float:
    """Median ms of `runs` requests, each to `make_app()` (the same app, or a fresh one)."""
    samples = []
    for _ in range(runs):
        app = make_app()
        started = time.perf_counter()
        asyncio.run(fetch(app, path))
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer reports and requests")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    reports, runs = (200, 5) if args.quick else (2000, 15)
    with tempfile.TemporaryDirectory() as folder:
        settings, runtime, ticket, code = build(Path(folder), reports)
        app = create_app(settings, runtime=runtime)
        pages = {
            "report": f"/r/{ticket}",
            "map": "/peta",
            "map_zoomed": "/peta?z=2&lat=-6.2&lon=106.82",
            "map_street": "/peta?z=5&lat=-6.2&lon=106.82",
            "league": "/kelurahan",
            "feed": f"/kelurahan/{code}/feed.atom",
        }
        sizes = {name: len(asyncio.run(fetch(app, path)).content) for name, path in pages.items()}
        for name, size in sizes.items():
            print(f"{name:11} {pages[name]:40} {size:8,d} bytes")
        views = next(r for r in app.routes if getattr(r, "path", "") == "/peta").endpoint.__self__

        def forgetful() -> Any:
            """The same app with nothing kept: the extent and outlines worked out anew."""
            views._known_extent = None
            views._outlines.clear()
            return app

        value = timed(runs, lambda: app, "/peta")
        baseline = timed(runs, forgetful, "/peta")
        runtime.dispose()
    print(f"/peta kept {value:.1f} ms, drawn afresh {baseline:.1f} ms ({reports} reports)")
    largest = max(sizes.values())
    ratio = baseline / value if value else 0.0
    print(
        json.dumps(
            {
                "bench": "public_pages",
                "value": round(value, 2),
                "unit": "ms",
                "baseline": round(baseline, 2),
                "ratio": round(ratio, 2),
                "target": TARGET_RATIO,
                "pass": ratio >= TARGET_RATIO and largest < PAGE_LIMIT,
                "sizes": sizes,
                "largest_bytes": largest,
                "size_target_bytes": PAGE_LIMIT,
                "reports": reports,
                "registry": "jakarta" if JAKARTA.is_file() else "demo",
            }
        )
    )


if __name__ == "__main__":
    main()
