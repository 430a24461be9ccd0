"""The pages, the filtered list and its CSV, a report in full, photos: signed in, over HTTP."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import httpx
import pytest

from lapor.store.db import transaction
from lapor.store.lifecycle import ReportKind
from lapor.store.models import Contact
from lapor.store.reports import create_report
from tests.dashboard.conftest import HEAD_NAME, PERSONAL, WIB, Rig, utc

TICKET = re.compile(r'class="ticket" href="/dashboard/reports/[^"]+">([^<]+)<')


def listed(html: str) -> list[str]:
    return TICKET.findall(html)


def parse_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, for Excel"
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


def labels(rig: Rig, *names: str) -> list[str]:
    return [rig.city.tickets[name] for name in names]


# Each filter and the seeded reports it must return, newest first (see conftest.seed_city).
FILTERS = [
    ("", "cgfebad"),
    ("status=submitted", "cg"),
    ("status=open", "cgb"),
    ("status=resolved", "a"),
    ("kind=laporan", "cebad"),
    ("kind=saran", "f"),
    ("category=sampah", "cea"),
    ("kelurahan=DEMO.02", "cb"),
    ("channel=whatsapp", "ead"),
    ("channel=telegram", "cfb"),
    ("channel=console", "g"),
    # c came in at 03:00 WIB on the 28th (20:00 UTC on the 27th): WIB days count.
    ("from=2026-11-28", "c"),
    ("to=2026-11-27", "gfebad"),
    ("from=2026-11-26&to=2026-11-27", "gfe"),
    ("sla=1", "cb"),
    ("kind=laporan&kelurahan=DEMO.02&status=forwarded", "b"),
    ("kelurahan=DEMO.05", ""),
    ("status=submitted&kind=apresiasi&channel=console&from=2026-11-27&to=2026-11-27", "g"),
]


async def test_filters_return_exactly_the_right_reports_and_the_csv_agrees(
    signed_in: Rig,
) -> None:
    # One seeded city for the whole table: the filters only read.
    for query, expected in FILTERS:
        page = await signed_in.web.get(f"/dashboard/reports?{query}")
        assert page.status_code == 200, query
        want = labels(signed_in, *expected)
        assert listed(page.text) == want, query
        assert f'id="result-count">{len(want)}<' in page.text, query
        # The CSV link carries the same filters, and the CSV holds the same tickets.
        link = re.search(r'id="csv-link" href="([^"]+)"', page.text)
        assert link, query
        export = await signed_in.web.get(link.group(1).replace("&amp;", "&"))
        assert export.status_code == 200, query
        assert export.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in export.headers["content-disposition"]
        assert [row["tiket"] for row in parse_csv(export.content)] == want, query


async def test_lists_and_csvs_carry_no_names_phone_numbers_or_notes(signed_in: Rig) -> None:
    pages = [
        "/dashboard/reports",
        "/dashboard/reports.csv",
        "/dashboard/",
        "/dashboard/map",
        "/dashboard/kelurahan",
        "/dashboard/kelurahan.csv",
        "/dashboard/rtrw",
        "/dashboard/rtrw.csv",
        "/dashboard/rtrw-statement.csv?month=2026-11",
    ]
    for path in pages:
        text = (await signed_in.web.get(path)).content.decode("utf-8-sig")
        for personal in [*PERSONAL, HEAD_NAME, "Catatan"]:
            assert personal not in text, (path, personal)


async def test_a_csv_row_has_the_list_columns_in_wib(signed_in: Rig) -> None:
    rows = parse_csv((await signed_in.web.get("/dashboard/reports.csv?kelurahan=DEMO.02")).content)
    c, b = rows
    assert c == {
        "tiket": signed_in.city.tickets["c"],
        "dibuat_wib": "2026-11-28 03:00",
        "jenis": "laporan",
        "kategori": "Sampah",
        "kode_kelurahan": "DEMO.02",
        "kelurahan": "Menteng (demo)",
        "status": "submitted",
        "status_label": "Menunggu verifikasi",
        "kanal": "telegram",
        "lintang": "-6.195",
        "bujur": "106.8375",
        "lewat_batas_verifikasi": "2026-11-28 09:00",
        "lewat_batas_tindak_lanjut": "",
    }
    assert b["lewat_batas_tindak_lanjut"] == "2026-11-27 07:00"


BAD_FILTERS = [
    ("status=bogus", "Status &#39;bogus&#39; tidak dikenal"),
    ("kind=keluhan", "Jenis &#39;keluhan&#39; tidak dikenal"),
    ("category=tidak-ada", "Kategori &#39;tidak-ada&#39; tidak dikenal"),
    ("kelurahan=NOPE", "Kelurahan dengan kode &#39;NOPE&#39; tidak ada"),
    ("channel=fax", "Kanal &#39;fax&#39; tidak dikenal"),
    ("from=2026-13-01", "Tanggal mulai &#39;2026-13-01&#39; tidak valid"),
    ("to=kemarin", "Tanggal akhir &#39;kemarin&#39; tidak valid"),
    ("from=2026-11-28&to=2026-11-01", "Tanggal mulai jatuh setelah tanggal akhir"),
    ("page=0", "Halaman &#39;0&#39; tidak valid"),
    ("page=-3", "Halaman &#39;-3&#39; tidak valid"),
    ("sla=ya", "Nilai &#39;sla&#39; hanya boleh 1"),
    # Days at the ends of what datetime holds: a day's bounds in UTC used to overflow, and
    # the CSV answered 200 before failing mid-stream.
    ("to=9999-12-31", "Tanggal akhir &#39;9999-12-31&#39; di luar jangkauan"),
    ("from=0001-01-01", "Tanggal mulai &#39;0001-01-01&#39; di luar jangkauan"),
    ("to=0001-01-01", "Tanggal akhir &#39;0001-01-01&#39; di luar jangkauan"),
    ("from=9999-12-31", "Tanggal mulai &#39;9999-12-31&#39; di luar jangkauan"),
    ("from=1999-12-31", "antara 2000-01-01 dan 2099-12-31"),
    # "²" is a digit to isdigit(), not to int().
    ("page=%C2%B2", "Halaman &#39;²&#39; tidak valid"),
    ("page=%EF%BC%91", "Halaman &#39;１&#39; tidak valid"),
    ("page=1000000", "Halaman &#39;1000000&#39; tidak valid"),
]


async def test_bad_filter_values_get_a_clear_message(signed_in: Rig) -> None:
    for query, message in BAD_FILTERS:
        page = await signed_in.web.get(f"/dashboard/reports?{query}")
        assert page.status_code == 400, query
        assert message in page.text, query
        assert listed(page.text) == [], query
        export = await signed_in.web.get(f"/dashboard/reports.csv?{query}")
        assert export.status_code == 400 and message in export.text, query
        assert "content-disposition" not in export.headers, query


async def test_every_bad_value_is_named_at_once_and_escaped(signed_in: Rig) -> None:
    page = await signed_in.web.get(
        "/dashboard/reports?status=<script>alert(1)</script>&from=x&channel=fax"
    )
    assert page.status_code == 400
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;" in page.text
    assert page.text.count("<li>") == 3


async def test_the_list_is_paginated_fifty_at_a_time_and_the_csv_streams_it_all(
    signed_in: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(signed_in.runtime.engine) as session:
        warga = Contact(
            channel="telegram", address="555", name="Warga", created_at=utc(2026, 11, 1)
        )
        session.add(warga)
        session.flush()
        # Sixty suggestions, many sharing a second: the pages and the CSV order by id too.
        for n in range(60):
            at = utc(2026, 11, 24, 1) + timedelta(seconds=n // 4)
            create_report(
                session,
                kind=ReportKind.SARAN,
                reporter=warga,
                now=at,
                local_now=at.astimezone(WIB),
                ticket_prefix="JKT",
                category_slug=None,
                note=None,
                location=None,
                photos=[],
            )
    first = await signed_in.web.get("/dashboard/reports?kind=saran")
    assert len(listed(first.text)) == 50
    assert "Halaman 1 dari 2" in first.text
    assert 'rel="next" href="/dashboard/reports?kind=saran&amp;page=2"' in first.text
    second = await signed_in.web.get("/dashboard/reports?kind=saran&page=2")
    assert len(listed(second.text)) == 11
    assert 'rel="prev"' in second.text
    everything = listed(first.text) + listed(second.text)
    assert len(set(everything)) == 61
    beyond = await signed_in.web.get("/dashboard/reports?kind=saran&page=3")
    assert beyond.status_code == 200 and listed(beyond.text) == []
    # The CSV is the whole list, in the list's order, whatever the page; read in chunks.
    monkeypatch.setattr("lapor.bot.dashboard.app.CSV_CHUNK", 7)
    rows = parse_csv((await signed_in.web.get("/dashboard/reports.csv?kind=saran&page=2")).content)
    assert [row["tiket"] for row in rows] == everything


async def test_a_report_page_shows_everything_including_who_reported_it(signed_in: Rig) -> None:
    city = signed_in.city
    page = await signed_in.web.get(f"/dashboard/reports/{city.tickets['a']}")
    assert page.status_code == 200
    html = page.text
    # The reporter's identity: here, and only here.
    assert "Siti Aminah" in html and "+6281200000001" in html and "Nomor WhatsApp" in html
    assert "Catatan a: hubungi saya" in html
    assert "-6.175000, 106.825000" in html
    assert "https://www.openstreetmap.org/?mlat=-6.175000&amp;mlon=106.825000" in html
    assert "Gambir (demo)" in html
    assert "5/5" in html and "Cepat sekali" in html
    for photo_id in [*city.photos["a"], city.after_photo]:
        assert f'src="/dashboard/photos/{photo_id}"' in html
    timeline = html[html.index('id="timeline"') :]
    steps = re.findall(
        r"<tr>\s*<td class=\"nowrap\">([^<]+)</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>", timeline
    )
    assert [(s[1], s[2]) for s in steps] == [
        ("–", "Menunggu verifikasi"),
        ("Menunggu verifikasi", "Terverifikasi"),
        ("Terverifikasi", "Diteruskan ke kelurahan"),
        ("Diteruskan ke kelurahan", "Diproses"),
        ("Diproses", "Selesai"),
    ]
    assert steps[0][0] == "20 Nov 2026, 09.00"  # 02:00 UTC is 09:00 WIB
    assert "Sudah diangkut" in timeline and "telegram:700" in timeline
    # The duplicate points back to it, and it lists the duplicate.
    assert city.tickets["e"] in html
    duplicate = await signed_in.web.get(f"/dashboard/reports/{city.tickets['e']}")
    assert f'id="duplicate-of" href="/dashboard/reports/{city.tickets["a"]}"' in duplicate.text
    rejected = await signed_in.web.get(f"/dashboard/reports/{city.tickets['d']}")
    assert "Foto tidak jelas" in rejected.text


async def test_ticket_case_and_unknown_tickets(signed_in: Rig) -> None:
    ticket = signed_in.city.tickets["b"]
    assert (await signed_in.web.get(f"/dashboard/reports/{ticket.lower()}")).status_code == 200
    missing = await signed_in.web.get("/dashboard/reports/JKT-2611-99999")
    assert missing.status_code == 404 and "Tidak ditemukan" in missing.text
    odd = await signed_in.web.get("/dashboard/reports/%3Cscript%3E")
    assert odd.status_code == 404 and "<script>" not in odd.text


async def test_photos_are_served_only_with_a_session(signed_in: Rig) -> None:
    photo_id = signed_in.city.after_photo
    response = await signed_in.web.get(f"/dashboard/photos/{photo_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8")
    assert (await signed_in.web.get("/dashboard/photos/99999")).status_code == 404
    assert (await signed_in.web.get("/dashboard/photos/abc")).status_code == 404
    stranger = signed_in.browser()
    refused = await stranger.get(f"/dashboard/photos/{photo_id}")
    assert refused.status_code == 303 and not refused.content.startswith(b"\xff\xd8")


@pytest.mark.parametrize("photo_id", [0, 2**31 - 1, 2**31, 10**11, 10**30])
async def test_photo_ids_no_row_can_have_are_not_found(signed_in: Rig, photo_id: int) -> None:
    """Ids are 32-bit INTEGER columns: PostgreSQL refused a larger number with an error."""
    missing = await signed_in.web.get(f"/dashboard/photos/{photo_id}")
    assert missing.status_code == 404 and "Tidak ditemukan" in missing.text


async def test_the_csv_is_read_before_its_answer_starts(
    signed_in: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query that fails is an error page, never a 200 download cut off after its header."""

    def broken(*args: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("lapor.bot.dashboard.app.report_chunk", broken)
    # As a server would answer it: the error is the app's answer, not raised in the test.
    transport = httpx.ASGITransport(app=signed_in.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://lapor.test", cookies=signed_in.web.client.cookies
    ) as client:
        export = await client.get("/dashboard/reports.csv")
    assert export.status_code == 500
    assert "content-disposition" not in export.headers


async def test_the_overview_counts_the_last_thirty_days(signed_in: Rig) -> None:
    html = (await signed_in.web.get("/dashboard/")).text
    # Laporan from 30 Oct to 28 Nov WIB: a, b, c, e (d is from 15 October).
    assert 'id="total-laporan">4<' in html
    assert 'id="sla-breaches">2<' in html
    assert "30 Okt 2026 – 28 Nov 2026" in html
    assert '<svg class="chart"' in html and html.count('<rect class="bar"') == 30
    assert "style=" not in html  # the CSP allows no inline styles
    assert "<script" not in html
    assert (
        'href="/dashboard/reports?kind=laporan&amp;sla=1&amp;from=2026-10-30&amp;to=2026-11-28"'
        in html
    )


async def test_the_map_shades_open_reports_and_links_to_the_list(signed_in: Rig) -> None:
    html = (await signed_in.web.get("/dashboard/map")).text
    assert "<svg" in html and 'data-code="DEMO.02"' in html
    assert 'href="/dashboard/reports?kelurahan=DEMO.02"' in html
    row = re.search(r"Menteng \(demo\)</a></td><td>DEMO.02</td><td class=\"num\">(\d+)<", html)
    assert row and row.group(1) == "2"  # b (forwarded) and c (waiting)
    assert "style=" not in html and "<script" not in html


async def test_the_kelurahan_league_and_its_csv(signed_in: Rig) -> None:
    html = (await signed_in.web.get("/dashboard/kelurahan")).text
    assert "Gambir (demo)" in html and "100%" in html
    rows = parse_csv((await signed_in.web.get("/dashboard/kelurahan.csv")).content)
    assert len(rows) == 5
    first = rows[0]
    assert (first["kode_kelurahan"], first["selesai"], first["persen_selesai"]) == (
        "DEMO.01",
        "1",
        "100.0",
    )
    menteng = next(r for r in rows if r["kode_kelurahan"] == "DEMO.02")
    assert (menteng["terbuka"], menteng["lewat_batas_tindak_lanjut"]) == ("1", "1")
    assert (await signed_in.web.get("/dashboard/kelurahan?days=30")).status_code == 200
    recent = parse_csv((await signed_in.web.get("/dashboard/kelurahan.csv?days=30")).content)
    assert len(recent) == 5
    bad = await signed_in.web.get("/dashboard/kelurahan?days=7")
    assert bad.status_code == 400 and "Periode" in bad.text


async def test_rtrw_standings_and_the_statement(signed_in: Rig) -> None:
    html = (await signed_in.web.get("/dashboard/rtrw")).text
    assert 'id="heads">2<' in html and 'id="meeting">0<' in html
    # Budi's c is waiting for verification today: nothing counted, three short; his RW too.
    assert 'id="shortfall">6<' in html
    assert "RT 001/RW 002" in html and "Okt 2026" in html
    rows = parse_csv((await signed_in.web.get("/dashboard/rtrw.csv?short=1")).content)
    assert [
        (r["peran"], r["hari_ini_menunggu"], r["kekurangan"], r["bulan_ini_dihitung"]) for r in rows
    ] == [
        ("RW", "0", "3", "0"),
        ("RT", "1", "3", "1"),
    ]
    assert (
        parse_csv((await signed_in.web.get("/dashboard/rtrw.csv?kelurahan=DEMO.01")).content) == []
    )
    november = parse_csv(
        (await signed_in.web.get("/dashboard/rtrw-statement.csv?month=2026-11")).content
    )
    assert "name" not in november[0]
    total = november[-1]
    assert total["role"] == "TOTAL" and total["counted_reports"] == "1"
    assert total["total"] == str(10_000 + 75_000 + 75_000)
    for query in (
        "month=2027-01",
        "month=2026-13",
        "kelurahan=NOPE",
        "short=2",
        "page=x",
        "page=%C2%B2",
        "page=0",
    ):
        bad = await signed_in.web.get(f"/dashboard/rtrw?{query}")
        assert bad.status_code == 400, query
