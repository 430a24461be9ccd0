"""A near-identical photo is offered among 20,000 open reports, however old in the window.

Before the chunk index, the note step compared only the newest 5,000 open reports' photos:
a report filed 20 days ago, followed by 20,000 newer ones, was never checked.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import insert, select

from lapor.handlers.steps import Step
from lapor.handlers.types import PhotoIn
from lapor.store import photohash
from lapor.store import reports as report_store
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.lifecycle import ReportKind
from lapor.store.media import hamming, prepare_photo
from lapor.store.migrate import upgrade
from lapor.store.models import Category, Contact, Photo, PhotoHashChunk, Report, ReportPhoto
from tests.conftest import POSTGRES_ENV, FakeClock, postgres_url, reset_postgres
from tests.handlers.test_review import INSIDE_GAMBIR, World

CROWD = 20_000
FAR_AWAY = (-6.195, 106.84)  # outside the 250 m radius: only the photo can match
DAYS = 30


def flipped(dhash: str, bits: int, seed: int) -> str:
    value = int(dhash, 16)
    for bit in random.Random(seed).sample(range(64), bits):
        value ^= 1 << bit
    return f"{value:016x}"


def photo_in(dhash: str, n: int) -> PhotoIn:
    digest = f"{n:064x}"
    return PhotoIn(
        sha256=digest,
        dhash=dhash,
        width=1200,
        height=900,
        size=120_000,
        path=f"{digest[:2]}/{digest[2:4]}/{digest}.jpg",
        source_format="JPEG",
    )


def street_photo(seed: int) -> Image.Image:
    """A synthetic street scene: gradients, hard-edged blocks and sensor noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:600, 0:800].astype(np.float32)
    pixels = 120.0 + 60.0 * np.sin(x / 70.0) * np.cos(y / 45.0)
    pixels = np.repeat(pixels[..., None], 3, axis=2)
    for _ in range(40):
        x0, y0 = int(rng.integers(0, 800)), int(rng.integers(0, 600))
        pixels[y0 : y0 + 90, x0 : x0 + 120] = rng.uniform(0, 255, 3)
    pixels += rng.normal(0, 5, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def recompressed_pair() -> tuple[str, str]:
    """The dHashes of a photo and of a copy a chat app made of it: edge trimmed by 8 px,
    resized to 640 px and recompressed at quality 50, each through `prepare_photo`."""
    image = street_photo(7)
    original = prepare_photo(jpeg(image, 92)).dhash
    copy = image.crop((8, 6, 800, 600)).resize((640, 480), Image.Resampling.BILINEAR)
    copied = prepare_photo(jpeg(copy, 50)).dhash
    assert 1 <= hamming(original, copied) <= 6  # near-identical, not the same hash
    return original, copied


def bulk_crowd(engine, now, count: int, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    """`count` open public laporan with unrelated photos, all newer than the targets."""
    with engine.begin() as conn:
        category_id = conn.execute(select(Category.id)).scalars().first()
        # Many reporters: the quota tally's triggers (0009) update one row per reporter and
        # month, and 20,000 updates of one row in one transaction crawl on PostgreSQL.
        reporters = (
            conn.execute(
                insert(Contact).returning(Contact.id),
                [
                    {"channel": "console", "address": f"crowd{i}", "created_at": now}
                    for i in range(500)
                ],
            )
            .scalars()
            .all()
        )
    times = [now - timedelta(seconds=rng.uniform(0, 19 * 86_400)) for _ in range(count)]
    hashes = [rng.getrandbits(64) for _ in range(count)]
    with engine.begin() as conn:
        conn.execute(
            insert(Report),
            [
                {
                    "ticket": f"CROWD-{i:06d}",
                    "kind": ReportKind.LAPORAN.value,
                    "category_id": category_id,
                    "status": "verified",
                    "channel": "console",
                    "reporter_id": reporters[i % len(reporters)],
                    "public": True,
                    "support_count": 0,
                    "latitude": -6.3,
                    "longitude": 106.9,
                    "created_at": times[i],
                    "updated_at": times[i],
                }
                for i in range(count)
            ],
        )
        conn.execute(
            insert(Photo),
            [
                {
                    "sha256": f"c{i:063x}",
                    "dhash": f"{h:016x}",
                    "width": 1200,
                    "height": 900,
                    "size": 1000,
                    "path": "00/00/x.jpg",
                    "source_format": "JPEG",
                    "created_at": times[i],
                }
                for i, h in enumerate(hashes)
            ],
        )
        report_ids = dict(
            conn.execute(
                select(Report.ticket, Report.id).where(Report.ticket.like("CROWD-%"))
            ).all()
        )
        photo_ids = dict(
            conn.execute(select(Photo.sha256, Photo.id).where(Photo.sha256 >= "c")).all()
        )
        ids = [report_ids[f"CROWD-{i:06d}"] for i in range(count)]
        conn.execute(
            insert(ReportPhoto),
            [
                {"report_id": ids[i], "position": 0, "photo_id": photo_ids[f"c{i:063x}"]}
                for i in range(count)
            ],
        )
        chunks = []
        for i, h in enumerate(hashes):
            value = photohash.hash_value(f"{h:016x}")
            assert value is not None
            chunks += [
                {
                    "report_id": ids[i],
                    "position": 0,
                    "chunk": key,
                    "dhash": value,
                    "created_at": times[i],
                }
                for key in photohash.chunk_keys(value)
            ]
        conn.execute(insert(PhotoHashChunk), chunks)


class Crowd:
    """One database per engine kind: targets filed the real way, then 20,000 newer reports."""

    def __init__(self, world: World, original_jpeg: str) -> None:
        self.world = world
        clock = world.clock
        now = clock.now
        rng = random.Random(20261204)
        self.hashes = {name: f"{rng.getrandbits(64):016x}" for name in TARGETS}
        self.hashes["recompressed"] = original_jpeg
        self.tickets: dict[str, str] = {}
        with transaction(world.engine) as session:
            reporter = Contact(channel="console", address="siti", created_at=now)
            session.add(reporter)
            session.flush()
            for n, (name, (days_ago, status, public)) in enumerate(TARGETS.items()):
                report = report_store.create_report(
                    session,
                    kind=ReportKind.LAPORAN,
                    reporter=reporter,
                    now=now - timedelta(days=days_ago),
                    local_now=now,
                    ticket_prefix="JKT",
                    category_slug="sampah",
                    note=None,
                    location=INSIDE_GAMBIR,
                    photos=[photo_in(self.hashes[name], 900_000 + n).to_dict()],
                    public=public,
                )
                report.status = status
                self.tickets[name] = report.ticket
        bulk_crowd(world.engine, now, CROWD, rng)

    def found(self, dhash: str) -> set[str]:
        since = self.world.clock.now - timedelta(days=DAYS)
        with new_session(self.world.engine) as session:
            ids = report_store.similar_photo_reports(session, [dhash], since, 10)
            return set(session.scalars(select(Report.ticket).where(Report.id.in_(ids))))


# name -> (days before now, status, public)
TARGETS = {
    "open": (20, "verified", True),
    "recompressed": (21, "forwarded", True),
    "closed": (20, "resolved", True),
    "rahasia": (20, "verified", False),
    "old": (DAYS + 1, "verified", True),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crowd(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Crowd]:  # type: ignore[no-untyped-def]
    # A database of the module's own, filled once for both tests (20,000 reports take a
    # few seconds): a fresh upgrade, which the per-test databases notice and replace after.
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('crowd') / 'crowd.db'}"
    else:
        url = postgres_url() or pytest.skip(
            f"{POSTGRES_ENV} is not set: PostgreSQL variant skipped"
        )
        reset_postgres(url)
    upgrade(url)
    engine = make_engine(url)
    try:
        original, _ = recompressed_pair()
        yield Crowd(World(engine, FakeClock()), original)
    finally:
        engine.dispose()


def test_a_near_identical_photo_is_offered_among_20000_open_reports(crowd: Crowd) -> None:
    budi = crowd.world.citizen("7000000099")
    budi.text("/lapor")
    budi.choose("cat:jalan-rusak")
    budi.photo(photo_in(flipped(crowd.hashes["open"], 3, seed=1), 1))
    budi.location(*FAR_AWAY)
    budi.choose("note:skip")
    assert budi.state == Step.SIMILAR
    assert crowd.tickets["open"] in budi.said and "foto sama" in budi.said
    assert not re.search(r"CROWD-\d+", budi.said)


@pytest.mark.parametrize(
    ("target", "bits", "offered"),
    [
        ("open", 0, True),
        ("open", 3, True),
        ("open", 10, True),  # the threshold itself
        ("open", 11, False),
        ("open", 20, False),
        ("recompressed", None, True),  # a real JPEG, resized and recompressed
        ("closed", 2, False),  # resolved: nothing left to follow
        ("rahasia", 2, False),  # never offered to other citizens
        ("old", 2, False),  # older than the 30-day window
    ],
)
def test_only_close_photos_of_open_public_reports_in_the_window(
    crowd: Crowd, target: str, bits: int | None, offered: bool
) -> None:
    dhash = (
        recompressed_pair()[1] if bits is None else flipped(crowd.hashes[target], bits, seed=bits)
    )
    found = crowd.found(dhash)
    assert (crowd.tickets[target] in found) is offered
    assert found <= {crowd.tickets[target]}, "unrelated photos are never offered"
