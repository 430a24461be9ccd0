"""The similar-photo index: its pigeonhole misses nothing, and migration 0011 fills it."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import insert, select

from lapor.store import photohash
from lapor.store.db import make_engine, new_session, transaction
from lapor.store.lifecycle import ReportKind
from lapor.store.migrate import alembic_config
from lapor.store.models import Category, Contact, Photo, PhotoHashChunk, Report, ReportPhoto
from lapor.store.reports import create_report, similar_photo_reports

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def is_candidate(value: int, probe: photohash.Probe) -> bool:
    """What the index query selects, computed in Python: a chunk in `near`, or `need` in `ring`."""
    keys = photohash.chunk_keys(value)
    near, ring = set(probe.near), set(probe.ring)
    return any(k in near for k in keys) or sum(k in ring for k in keys) >= probe.need


def with_chunk_distances(base: int, distances: tuple[int, ...], rng: random.Random) -> int:
    """`base` with exactly distances[i] bits flipped in chunk i (chunk 0 = top 16 bits)."""
    value = base
    for number, bits in enumerate(distances):
        shift = photohash.CHUNK_BITS * (photohash.CHUNKS - 1 - number)
        for bit in rng.sample(range(photohash.CHUNK_BITS), bits):
            value ^= 1 << (shift + bit)
    return value


@pytest.mark.parametrize("max_bits", [0, 1, 3, 4, 7, 8, 10, 11, 12])
def test_every_way_of_spreading_the_changed_bits_is_found(max_bits: int) -> None:
    # Every split of up to max_bits changed bits over the 4 chunks, and one past it: the
    # sharpened pigeonhole (near, or `need` chunks in the ring) must never drop a close hash.
    rng = random.Random(max_bits)
    base = rng.getrandbits(64)
    probe = photohash.probe([base], max_bits)
    close = far = 0
    for distances in itertools.product(range(max_bits + 2), repeat=photohash.CHUNKS):
        if sum(distances) > max_bits + 1 or max(distances) > photohash.CHUNK_BITS:
            continue
        value = with_chunk_distances(base, distances, rng)
        assert photohash.distance(value, base) == sum(distances)
        if sum(distances) <= max_bits:
            close += 1
            assert is_candidate(value, probe), distances
        else:
            far += is_candidate(value, probe)
    assert close > 0
    # Not everything is a candidate: the index does narrow the search.
    assert far < close or max_bits == 0


@pytest.mark.parametrize(
    ("dhash", "value"),
    [
        ("0000000000000000", 0),
        ("7fffffffffffffff", 2**63 - 1),
        ("8000000000000000", -(2**63)),
        ("ffffffffffffffff", -1),
        ("FFFFFFFFFFFFFFFE", -2),
        ("", None),
        ("fffffffffffffff", None),  # 15 digits
        ("ffffffffffffffff0", None),
        ("zzzzzzzzzzzzzzzz", None),
        (" fffffffffffffff", None),
    ],
)
def test_hash_values_fit_a_signed_bigint(dhash: str, value: int | None) -> None:
    assert photohash.hash_value(dhash) == value


@pytest.mark.parametrize("dhash", ["", "xyz", "0123456789abcdeg", "  0123456789abcd"])
def test_a_photo_whose_hash_is_not_a_dhash_is_filed_and_never_matched(engine, dhash: str) -> None:  # type: ignore[no-untyped-def]
    since = NOW - timedelta(days=30)
    with transaction(engine) as session:
        reporter = Contact(channel="console", address="a", created_at=NOW)
        session.add(reporter)
        session.flush()
        photo = {
            "sha256": "ab" * 32,
            "dhash": dhash,
            "width": 1,
            "height": 1,
            "size": 1,
            "path": "ab/ab/x.jpg",
            "source_format": "JPEG",
        }
        report = create_report(
            session,
            kind=ReportKind.LAPORAN,
            reporter=reporter,
            now=NOW,
            local_now=NOW,
            ticket_prefix="JKT",
            category_slug="sampah",
            note=None,
            location=(-6.2, 106.8),
            photos=[photo],
            public=True,
        )
        assert report.ticket
    with new_session(engine) as session:
        assert session.scalars(select(PhotoHashChunk)).all() == []
        assert similar_photo_reports(session, [dhash], since, 10) == []
        assert similar_photo_reports(session, [dhash, "0" * 16], since, 10) == []


def _add_report(conn, contact_id: int, category_id: int, n: int, *, public: bool = True) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(
        insert(Report).returning(Report.id),
        {
            "ticket": f"JKT-2611-{n:05d}",
            "kind": "laporan",
            "category_id": category_id,
            "status": "verified",
            "channel": "console",
            "reporter_id": contact_id,
            "public": public,
            "support_count": 0,
            "latitude": -6.2,
            "longitude": 106.8,
            "created_at": NOW - timedelta(days=n),
            "updated_at": NOW,
        },
    ).scalar_one()


def _add_photo(conn, n: int, dhash: str) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(
        insert(Photo).returning(Photo.id),
        {
            "sha256": f"{n:064x}",
            "dhash": dhash,
            "width": 1200,
            "height": 900,
            "size": 1000,
            "path": f"00/00/{n:064x}.jpg",
            "source_format": "JPEG",
            "created_at": NOW - timedelta(days=90),
        },
    ).scalar_one()


def test_upgrade_fills_the_chunks_of_photos_already_stored(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "0010")
    hashes = ["0123456789abcdef", "fedcba9876543210", "8000000000000001"]
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            contact_id = conn.execute(
                insert(Contact).returning(Contact.id),
                {"channel": "console", "address": "a", "created_at": NOW},
            ).scalar_one()
            category_id = conn.execute(select(Category.id)).scalars().first()
            photos = [_add_photo(conn, n, h) for n, h in enumerate(hashes)]
            # A photo stored 90 days ago comes back in a new report: the report's time counts.
            first = _add_report(conn, contact_id, category_id, 1)
            second = _add_report(conn, contact_id, category_id, 2)
            rahasia = _add_report(conn, contact_id, category_id, 3, public=False)
            conn.execute(
                insert(ReportPhoto),
                [
                    {"report_id": first, "position": 0, "photo_id": photos[0]},
                    {"report_id": first, "position": 1, "photo_id": photos[1]},
                    {"report_id": second, "position": 0, "photo_id": photos[2]},
                    {"report_id": rahasia, "position": 0, "photo_id": photos[0]},
                ],
            )
        command.upgrade(config, "head")
        with new_session(engine) as session:
            stored = {
                (row.report_id, row.position, row.chunk, row.dhash, row.created_at)
                for row in session.scalars(select(PhotoHashChunk))
            }
            expected = set()
            for report_id, position, dhash, days in [
                (first, 0, hashes[0], 1),
                (first, 1, hashes[1], 1),
                (second, 0, hashes[2], 2),
                (rahasia, 0, hashes[0], 3),
            ]:
                value = photohash.hash_value(dhash)
                assert value is not None
                expected |= {
                    (report_id, position, key, value, NOW - timedelta(days=days))
                    for key in photohash.chunk_keys(value)
                }
            assert stored == expected
            since = NOW - timedelta(days=30)
            # 2 bits off the first photo, 3 off the second's, 10 off the third's.
            found = similar_photo_reports(
                session, ["0123456789abcdec", "fedcba9876543217"], since, 10
            )
            assert found == [first]
            assert similar_photo_reports(session, ["80000000000003fe"], since, 10) == [second]
            assert similar_photo_reports(session, ["80000000000007fe"], since, 10) == []
    finally:
        engine.dispose()
