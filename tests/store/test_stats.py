"""Dashboard figures on a hand-made history, on SQLite and PostgreSQL.

The clock stands at Saturday 28 November 2026, 10:00 WIB (03:00 UTC). Times below are UTC;
WIB is UTC+7, so 16:30 UTC is 23:30 WIB the same day and 17:00 UTC is the next WIB midnight.
Every expected figure is worked out by hand in the comments.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from lapor.routing import ensure_demo_registry
from lapor.store import stats
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import EventKind, ReportKind, ReportStatus
from lapor.store.models import Contact, Report
from lapor.store.reports import create_report, record_event, transition
from tests.conftest import FakeClock

WIB = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
S = ReportStatus

_photos = itertools.count(1)


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class History:
    """Writes reports and their moves at given times, through the store's own functions."""

    session: object
    clock: FakeClock
    reporter: Contact

    def report(
        self,
        at: datetime,
        kelurahan: str | None,
        category: str | None = "sampah",
        kind: ReportKind = ReportKind.LAPORAN,
    ) -> int:
        self.clock.now = at
        n = next(_photos)
        report = create_report(
            self.session,  # type: ignore[arg-type]
            kind=kind,
            reporter=self.reporter,
            now=self.clock(),
            local_now=self.clock().astimezone(WIB),
            ticket_prefix="JKT",
            category_slug=category if kind is ReportKind.LAPORAN else None,
            note=None,
            location=(-6.175, 106.825),
            photos=[
                {
                    "sha256": f"{n:064x}",
                    "dhash": f"{n:016x}",
                    "width": 10,
                    "height": 10,
                    "size": 100,
                    "path": f"p/{n}.jpg",
                    "source_format": "JPEG",
                }
            ],
            kelurahan_code=kelurahan,
        )
        assert report.id is not None
        return report.id

    def move(self, report_id: int, *steps: tuple[float, ReportStatus]) -> None:
        """Each step: hours after the report was created, and the status it moves to."""
        created = self.session.get(Report, report_id).created_at  # type: ignore[attr-defined]
        for hours, target in steps:
            self.clock.now = created + timedelta(hours=hours)
            moved = transition(
                self.session,  # type: ignore[arg-type]
                report_id,
                target,
                now=self.clock(),
                actor="test",
            )
            assert moved is not None, (report_id, target)

    def set(self, report_id: int, **values: object) -> None:
        self.session.execute(update(Report).where(Report.id == report_id).values(**values))  # type: ignore[attr-defined]


@pytest.fixture
def history(engine: Engine, clock: FakeClock) -> dict[str, int]:
    """The reports of the module docstring; returns their ids by name."""
    with transaction(engine) as session:
        ensure_demo_registry(session, NOW)
        reporter = Contact(channel="console", address="6281100000001", created_at=NOW)
        session.add(reporter)
        session.flush()
        h = History(session, clock, reporter)
        ids: dict[str, int] = {}

        # DEMO.01 Gambir: r1 resolved (rating 5), r2 in progress (follow-up breached),
        # r9 waiting (verification breached), r11 resolved (rating 4).
        ids["r1"] = h.report(utc(26, 1), "DEMO.01")  # 08:00 WIB 26 Nov
        h.move(ids["r1"], (2, S.VERIFIED), (3, S.FORWARDED), (5, S.IN_PROGRESS), (15, S.RESOLVED))
        h.set(ids["r1"], rating=5)
        ids["r2"] = h.report(utc(26, 16, 30), "DEMO.01")  # 23:30 WIB: still 26 Nov
        h.move(ids["r2"], (4, S.VERIFIED), (5, S.FORWARDED), (9, S.IN_PROGRESS))
        h.set(ids["r2"], followup_breached_at=utc(27, 12))
        ids["r9"] = h.report(utc(28, 2, 30), "DEMO.01", category="banjir")
        h.set(ids["r9"], verify_breached_at=utc(28, 2, 45), category_id=None)
        ids["r11"] = h.report(utc(27, 4), "DEMO.01")
        h.move(ids["r11"], (3, S.VERIFIED), (4, S.FORWARDED), (10, S.IN_PROGRESS), (13, S.RESOLVED))
        h.set(ids["r11"], rating=4)

        # DEMO.02 Menteng: r3 rejected; r4 resolved straight from forwarded, reopened by a
        # poor rating, resolved again, then rated 3 (a resolved -> resolved note).
        ids["r3"] = h.report(utc(26, 17), "DEMO.02", category="banjir")  # 00:00 WIB 27 Nov
        h.move(ids["r3"], (1, S.REJECTED))
        ids["r4"] = h.report(utc(27, 2), "DEMO.02", category="jalan-rusak")
        h.move(
            ids["r4"],
            (6, S.VERIFIED),
            (7, S.FORWARDED),
            (10, S.RESOLVED),
            (12, S.IN_PROGRESS),
            (20, S.RESOLVED),
        )
        clock.now = utc(27, 2) + timedelta(hours=22)
        record_event(session, session.get(Report, ids["r4"]), now=clock(), actor="x", note="3/5")
        h.set(ids["r4"], rating=3)

        # DEMO.03 Tanah Abang: r5 a duplicate; r8 submitted before the window, resolved in it.
        ids["r5"] = h.report(utc(27, 3), "DEMO.03")
        h.move(ids["r5"], (0.5, S.DUPLICATE))
        ids["r8"] = h.report(utc(20, 1), "DEMO.03", category="banjir")
        h.move(ids["r8"], (48, S.VERIFIED), (49, S.FORWARDED), (50, S.IN_PROGRESS))
        clock.now = utc(26, 3)
        assert transition(session, ids["r8"], S.RESOLVED, now=clock(), actor="test")
        h.set(ids["r8"], rating=4, followup_breached_at=utc(25, 1))

        # r10: forwarded to Tanah Abang, sent back ("bukan wilayah kami"), re-routed to
        # Senen and forwarded again; Senen takes it up half an hour later.
        ids["r10"] = h.report(utc(27, 5), "DEMO.03")
        h.move(ids["r10"], (1, S.VERIFIED), (2, S.FORWARDED), (10, S.VERIFIED))
        h.set(ids["r10"], kelurahan_code="DEMO.04")
        h.move(ids["r10"], (11, S.FORWARDED), (11.5, S.IN_PROGRESS))

        # Saran and apresiasi: counted by kind, nowhere else.
        ids["saran"] = h.report(utc(28, 1), "DEMO.01", kind=ReportKind.SARAN)
        h.move(ids["saran"], (1, S.ACKNOWLEDGED))
        h.set(ids["saran"], verify_breached_at=utc(28, 1, 30))
        ids["apresiasi"] = h.report(utc(28, 2), "DEMO.01", kind=ReportKind.APRESIASI)
    return ids


def test_overview_counts_the_window(engine: Engine, history: dict[str, int]) -> None:
    with new_session(engine) as session:
        view = stats.overview(session, NOW, WIB, days=3)

    assert (view.first_day, view.last_day) == (date(2026, 11, 26), date(2026, 11, 28))
    # Submitted in 26..28 Nov WIB: laporan r1 r2 r3 r4 r5 r9 r10 r11 (r8 is older).
    assert view.by_kind == {"laporan": 8, "saran": 1, "apresiasi": 1}
    assert view.by_status == {
        "submitted": 1,  # r9
        "verified": 0,
        "forwarded": 0,
        "in_progress": 2,  # r2 r10
        "resolved": 3,  # r1 r4 r11
        "rejected": 1,  # r3
        "duplicate": 1,  # r5
        "acknowledged": 0,  # the saran is not a laporan
    }
    assert view.by_category == [
        ("Sampah", 5),  # r1 r2 r5 r10 r11
        ("Banjir", 1),  # r3
        ("Jalan Rusak", 1),  # r4
        ("Tanpa kategori", 1),  # r9
    ]
    # r2 at 23:30 WIB stays on the 26th; r3 at 00:00 WIB is the 27th's.
    assert view.per_day == [
        (date(2026, 11, 26), 2),  # r1 r2
        (date(2026, 11, 27), 5),  # r3 r4 r5 r10 r11
        (date(2026, 11, 28), 1),  # r9 (saran and apresiasi left out)
    ]
    # r2 (follow-up) and r9 (verification); the saran's breach is not a laporan's.
    assert view.sla_breaches == 2


def test_overview_medians(engine: Engine, history: dict[str, int]) -> None:
    with new_session(engine) as session:
        view = stats.overview(session, NOW, WIB, days=3)

    # Review decisions made in the window: r5 0.5 h, r3 1 h, r10 1 h, r1 2 h, r11 3 h,
    # r2 4 h, r4 6 h (r8's verification was on 22 Nov). Seven values: the fourth, 2 h.
    assert view.verify_count == 7
    assert view.median_verify_hours == 2.0
    # Laporan resolved now whose last resolution fell in the window, from submission:
    # r11 13 h, r1 15 h, r4 20 h (its second resolution; not 10 h, not the 22 h rating),
    # r8 146 h (submitted 20 Nov, resolved 26 Nov 03:00 UTC). Median (15 + 20) / 2.
    assert view.resolve_count == 4
    assert view.median_resolve_hours == 17.5


def test_overview_of_one_day_and_of_an_empty_window(
    engine: Engine, history: dict[str, int]
) -> None:
    with new_session(engine) as session:
        today = stats.overview(session, NOW, WIB, days=1)
        later = stats.overview(session, NOW + timedelta(days=60), WIB, days=7)
        month = stats.overview(session, NOW, WIB)

    assert today.per_day == [(date(2026, 11, 28), 1)]
    assert today.median_verify_hours is None and today.verify_count == 0
    # Resolved on the 28th WIB: r11 at 17:00 UTC on the 27th (WIB midnight, so it counts)
    # after 13 h, r4 after 20 h.
    assert today.median_resolve_hours == 16.5 and today.resolve_count == 2
    assert later.by_kind == {"laporan": 0, "saran": 0, "apresiasi": 0}
    assert set(later.by_status.values()) == {0}
    assert later.by_category == [] and later.sla_breaches == 0
    assert [n for _, n in later.per_day] == [0] * 7
    assert len(month.per_day) == 30 and month.per_day[0][0] == date(2026, 10, 30)
    assert dict(month.per_day)[date(2026, 11, 20)] == 1  # r8, 08:00 WIB
    assert sum(n for _, n in month.per_day) == 9


def test_per_day_folds_quarter_hours_into_local_days_across_a_dst_change(
    engine: Engine, clock: FakeClock
) -> None:
    # London leaves summer time on 25 Oct 2026: 24 Oct is UTC+1, 25 Oct is UTC+0.
    london = ZoneInfo("Europe/London")
    with transaction(engine) as session:
        reporter = Contact(channel="console", address="1", created_at=NOW)
        session.add(reporter)
        session.flush()
        h = History(session, clock, reporter)
        h.report(datetime(2026, 10, 23, 23, 0, tzinfo=UTC), None)  # 00:00 BST on the 24th
        h.report(datetime(2026, 10, 24, 22, 59, tzinfo=UTC), None)  # 23:59 BST on the 24th
        h.report(
            datetime(2026, 10, 24, 23, 0, tzinfo=UTC), None
        )  # 00:00 BST on the 25th (a 25-hour day)
        h.report(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), None)  # 23:30 GMT on the 25th
    with new_session(engine) as session:
        view = stats.overview(session, datetime(2026, 10, 26, 12, tzinfo=UTC), london, days=3)
    assert view.per_day == [
        (date(2026, 10, 24), 2),
        (date(2026, 10, 25), 2),
        (date(2026, 10, 26), 0),
    ]


def test_league_ranks_every_kelurahan(engine: Engine, history: dict[str, int]) -> None:
    with new_session(engine) as session:
        rows = stats.league(session)

    assert [r.code for r in rows] == ["DEMO.03", "DEMO.02", "DEMO.01", "DEMO.04", "DEMO.05"]
    by_code = {r.code: r for r in rows}

    gambir = by_code["DEMO.01"]
    assert (gambir.name, gambir.kecamatan, gambir.kota) == (
        "Gambir (demo)",
        "Gambir (demo)",
        "Jakarta Pusat (demo)",
    )
    # r2 owed; r1 and r11 resolved; r9 not forwarded yet; the apresiasi does not count.
    assert (gambir.open, gambir.resolved, gambir.total) == (1, 2, 3)
    assert gambir.resolved_share == pytest.approx(2 / 3)
    # Forwarded -> in progress: r1 2 h, r2 4 h, r11 6 h.
    assert gambir.median_response_hours == 4.0 and gambir.responses == 3
    assert gambir.average_rating == 4.5 and gambir.ratings == 2
    assert gambir.sla_breaches == 1  # r2's follow-up; r9's verification is not Gambir's

    menteng = by_code["DEMO.02"]
    assert (menteng.open, menteng.resolved, menteng.total) == (0, 1, 1)  # r3 was rejected
    assert menteng.resolved_share == 1.0
    # r4 was resolved 3 h after forwarding without "in progress"; the reopening later
    # (resolved -> in progress) is not a response.
    assert menteng.median_response_hours == 3.0
    assert menteng.average_rating == 3.0
    assert menteng.sla_breaches == 0

    tanah_abang = by_code["DEMO.03"]
    # r8 (1 h response, rating 4, follow-up breached); r5 is a duplicate; r10 left for Senen.
    assert (tanah_abang.open, tanah_abang.resolved, tanah_abang.total) == (0, 1, 1)
    assert tanah_abang.median_response_hours == 1.0 and tanah_abang.responses == 1
    assert tanah_abang.average_rating == 4.0
    assert tanah_abang.sla_breaches == 1

    senen = by_code["DEMO.04"]
    # r10 is timed from its second forwarding (to Senen): 0.5 h, not 9.5 h.
    assert (senen.open, senen.resolved, senen.total) == (1, 0, 1)
    assert senen.resolved_share == 0.0
    assert senen.median_response_hours == 0.5
    assert senen.average_rating is None and senen.ratings == 0

    petojo = by_code["DEMO.05"]
    assert (petojo.open, petojo.resolved, petojo.total, petojo.sla_breaches) == (0, 0, 0, 0)
    assert petojo.resolved_share is None and petojo.median_response_hours is None
    assert petojo.average_rating is None


def test_league_since_counts_only_laporan_submitted_since(
    engine: Engine, history: dict[str, int]
) -> None:
    start = datetime(2026, 11, 26, tzinfo=WIB)
    with new_session(engine) as session:
        rows = {r.code: r for r in stats.league(session, since=start)}
        nothing = stats.league(session, since=NOW + timedelta(days=1))

    # r8 (20 Nov) drops out: Tanah Abang has nothing left.
    tanah_abang = rows["DEMO.03"]
    assert (tanah_abang.total, tanah_abang.sla_breaches, tanah_abang.responses) == (0, 0, 0)
    assert tanah_abang.resolved_share is None and tanah_abang.average_rating is None
    assert rows["DEMO.01"].total == 3
    # Nothing since tomorrow: zeros everywhere, ranked by name.
    assert [r.name for r in nothing] == [
        "Gambir (demo)",
        "Menteng (demo)",
        "Petojo (demo)",
        "Senen (demo)",
        "Tanah Abang (demo)",
    ]
    assert all(r.total == 0 and r.resolved_share is None for r in nothing)


def test_open_by_kelurahan(engine: Engine, history: dict[str, int]) -> None:
    with new_session(engine) as session:
        counts = stats.open_by_kelurahan(session)
    # Gambir: r2 (in progress) and r9 (submitted), not the apresiasi; Senen: r10.
    assert counts == {"DEMO.01": 2, "DEMO.02": 0, "DEMO.03": 0, "DEMO.04": 1, "DEMO.05": 0}


def test_window_is_whole_local_days() -> None:
    first, last, start, end = stats.day_window(utc(27, 17), WIB, 2)  # 00:00 WIB 28 Nov
    assert (first, last) == (date(2026, 11, 27), date(2026, 11, 28))
    assert start == utc(26, 17) and end == utc(28, 17)
    with pytest.raises(ValueError):
        stats.day_window(NOW, WIB, 0)


def test_replies_progress_photos_and_additions_leave_every_figure_unchanged(
    engine: Engine, history: dict[str, int], clock: FakeClock
) -> None:
    """Only status changes are timed: a reply on a submitted report is no review decision,
    one on a resolved report no resolution, and none of them answers a forwarding."""
    with new_session(engine) as session:
        before = (stats.overview(session, NOW, WIB, days=3), stats.league(session))
    with transaction(engine) as session:
        for name, kind in itertools.product(
            ("r1", "r2", "r4", "r9", "r10", "r11"),
            (EventKind.REPLY, EventKind.PROGRESS, EventKind.ADDITION),
        ):
            clock.now = NOW - timedelta(minutes=5)
            report = session.get(Report, history[name])
            record_event(session, report, now=clock(), actor="x", note="kabar", kind=kind)
    with new_session(engine) as session:
        after = (stats.overview(session, NOW, WIB, days=3), stats.league(session))
    assert after == before
