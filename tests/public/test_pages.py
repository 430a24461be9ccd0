"""The public pages over the real app, on SQLite and PostgreSQL: what shows, what never
shows, 404 rules, photos, ETag and 304, the Atom feed, the map's filters, page sizes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select, update

from lapor.bot import formats
from lapor.routing import import_registry, parse_registry
from lapor.store import stats
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import ReportStatus
from lapor.store.models import Kelurahan, Report
from lapor.store.reports import transition
from tests.public.conftest import NEVER, SHOWN_NOTE, Site
from tests.routing import JAKARTA_GEOJSON, needs_data

ATOM = "{http://www.w3.org/2005/Atom}"
# Every page (and feed) a visitor can open in this city, by label.
PAGES = {
    "report a": "/r/{a}",
    "report b": "/r/{b}",
    "report c": "/r/{c}",
    "duplicate e": "/r/{e}",
    "report i": "/r/{i}",
    "map": "/peta",
    "map zoomed": "/peta?z=3&lat=-6.18&lon=106.83",
    "map filtered": "/peta?category=sampah&status=resolved",
    "league": "/kelurahan",
    "feed": "/kelurahan/DEMO.01/feed.atom",
    "feed of another": "/kelurahan/DEMO.02/feed.atom",
}
PAGE_LIMIT = 100 * 1024


def path(site: Site, template: str) -> str:
    return template.format(**site.city.tickets)


async def test_a_public_report_has_a_page_with_its_story(site: Site) -> None:
    a = site.city.ticket("a")
    response = await site.web.get(f"/r/{a}")
    assert response.status_code == 200
    page = response.text
    for expected in (
        a,
        "Selesai",
        "Sampah",
        "Gambir (demo), Kec. Gambir (demo)",
        "Kelurahan Gambir (demo)",  # the agency holding it, until agencies exist
        'Nilai dari pelapor</dt><dd id="rating">5/5',
        "0 warga lain ikut mengikuti",
        "Catatan petugas: Sudah diangkut",
        f"/r/{a}/foto/1.jpg",
        f"/r/{a}/foto/2.jpg",
        f"/r/{a}/foto/sesudah.jpg",
    ):
        assert expected in page, expected
    steps = re.findall(r"<strong>([^<]+)</strong>", page)
    assert steps == [
        "Menunggu verifikasi",
        "Terverifikasi",
        "Diteruskan ke kelurahan",
        "Diproses",
        "Selesai",
    ]
    # The ticket may be typed in lower case.
    assert (await site.web.get(f"/r/{a.lower()}")).status_code == 200


async def test_the_timeline_shows_changes_and_only_the_officers_public_note(site: Site) -> None:
    page = (await site.web.get(f"/r/{site.city.ticket('i')}")).text
    steps = re.findall(r"<strong>([^<]+)</strong>", page)
    assert steps == [
        "Menunggu verifikasi",
        "Terverifikasi",
        "Diteruskan ke kelurahan",
        "Terverifikasi",
        "Diteruskan ke kelurahan",
        "Selesai",
    ]
    assert page.count("Catatan petugas") == 1
    assert f"Catatan petugas: {SHOWN_NOTE}" in page
    assert "4/5" in page and "3 warga lain ikut mengikuti" in page


async def test_a_duplicate_only_points_to_its_original(site: Site) -> None:
    page = (await site.web.get(f"/r/{site.city.ticket('e')}")).text
    assert f'href="/r/{site.city.ticket("a")}"' in page
    assert "/foto/" not in page and "Gambir" not in page


@pytest.mark.parametrize(
    "segment",
    [
        "{d}",  # public but rejected
        "{f}",  # saran
        "{g}",  # apresiasi
        "{h}",  # rahasia
        "JKT-2611-99999",
        "bukan tiket!",
        "x" * 300,
        "%00",
        "JKT-2611-00001%0a",
    ],
)
async def test_what_is_not_public_is_not_found_and_says_nothing_more(
    site: Site, segment: str
) -> None:
    response = await site.web.get("/r/" + path(site, segment))
    assert response.status_code == 404
    assert "tidak untuk umum" in response.text  # the same words, whatever the reason
    assert "etag" not in response.headers
    for word in NEVER:
        assert word not in response.text


@pytest.mark.parametrize("label", sorted(PAGES))
async def test_no_page_carries_anything_personal_or_private(site: Site, label: str) -> None:
    response = await site.web.get(path(site, PAGES[label]))
    assert response.status_code == 200, response.text
    body = response.text
    for word in NEVER:
        assert word not in body, (label, word)
    for hidden in ("d", "f", "g", "h"):
        assert site.city.ticket(hidden) not in body, (label, hidden)
    # Nothing from another host: no tiles, fonts, scripts or style sheets.
    if not label.startswith("feed"):
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", body), label
        assert "<script" not in body
        assert "default-src 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("label", sorted(PAGES))
async def test_every_page_is_under_100_kb(site: Site, label: str) -> None:
    response = await site.web.get(path(site, PAGES[label]))
    assert 0 < len(response.content) < PAGE_LIMIT, (label, len(response.content))


@pytest.mark.parametrize(
    ("photo", "status"),
    [
        ("{a}/foto/1.jpg", 200),
        ("{a}/foto/2.jpg", 200),
        ("{a}/foto/sesudah.jpg", 200),
        ("{b}/foto/1.jpg", 200),
        ("{a}/foto/3.jpg", 404),  # a has two
        ("{a}/foto/0.jpg", 404),
        ("{a}/foto/-1.jpg", 404),
        ("{a}/foto/1.png", 404),
        ("{a}/foto/..%2F..%2Fetc.jpg", 404),
        ("{b}/foto/sesudah.jpg", 404),  # not resolved
        ("{h}/foto/1.jpg", 404),  # rahasia
        ("{h}/foto/sesudah.jpg", 404),
        ("{d}/foto/1.jpg", 404),  # rejected
        ("{e}/foto/1.jpg", 404),  # a duplicate shows no photo of its own
    ],
)
async def test_only_cleaned_photos_of_public_reports_are_served(
    site: Site, photo: str, status: int
) -> None:
    response = await site.web.get("/r/" + path(site, photo))
    assert response.status_code == status, photo
    if status == 200:
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content.startswith(b"\xff\xd8")
        assert b"Exif" not in response.content[:64]


@pytest.mark.parametrize(
    "target",
    [
        "/r/{a}",
        "/r/{a}/foto/1.jpg",
        "/peta",
        "/peta?status=open",
        "/kelurahan",
        "/kelurahan/DEMO.01/feed.atom",
        "/aset/publik.css",
    ],
)
async def test_a_client_holding_the_etag_gets_304(site: Site, target: str) -> None:
    url = path(site, target)
    first = await site.web.get(url)
    etag = first.headers["etag"]
    assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert "public" in first.headers["cache-control"]
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await site.web.get(url, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b"" and again.headers["etag"] == etag
    stale = await site.web.get(url, headers={"If-None-Match": '"0123"'})
    assert stale.status_code == 200 and stale.content == first.content


async def test_a_status_change_changes_the_etag(site: Site) -> None:
    b = site.city.ticket("b")
    before = (await site.web.get(f"/r/{b}")).headers["etag"]
    with transaction(site.runtime.engine) as session:
        report_id = session.execute(select(Report.id).where(Report.ticket == b)).scalar_one()
        assert transition(
            session, report_id, ReportStatus.IN_PROGRESS, now=site.clock(), actor="telegram:700"
        )
    after = await site.web.get(f"/r/{b}", headers={"If-None-Match": before})
    assert after.status_code == 200 and after.headers["etag"] != before
    assert "Diproses" in after.text


async def test_the_feed_is_valid_atom_of_the_kelurahans_public_reports(site: Site) -> None:
    with transaction(site.runtime.engine) as session:
        # Text a feed must escape (and a stored character XML cannot carry at all).
        session.execute(
            update(Kelurahan).where(Kelurahan.code == "DEMO.01").values(name='Gambir & "Co" <demo>')
        )
    response = await site.web.get("/kelurahan/DEMO.01/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "http://lapor.test/kelurahan/DEMO.01/feed.atom"
    assert feed.findtext(f"{ATOM}title") == 'Laporan warga Kelurahan Gambir & "Co" <demo>'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", feed.findtext(f"{ATOM}updated") or "")
    entries = feed.findall(f"{ATOM}entry")
    # Newest first; DEMO.01's public laporan only: not the rahasia h, not the duplicate e.
    tickets = [e.findtext(f"{ATOM}title", "").split(" · ")[0] for e in entries]
    assert tickets == [site.city.ticket("i"), site.city.ticket("a")]
    for entry in entries:
        for tag in ("id", "title", "updated", "published", "summary"):
            assert entry.findtext(f"{ATOM}{tag}"), tag
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href") == entry.findtext(f"{ATOM}id")
        assert link.get("href", "").startswith("http://lapor.test/r/")
    other = ET.fromstring((await site.web.get("/kelurahan/DEMO.02/feed.atom")).content)
    assert [
        e.findtext(f"{ATOM}title", "").split(" · ")[0] for e in other.findall(f"{ATOM}entry")
    ] == [
        site.city.ticket("c"),
        site.city.ticket("b"),
    ]


@pytest.mark.parametrize("code", ["NOPE", "DEMO.99", "x" * 300, "DEMO.01%00", "%2e%2e"])
async def test_the_feed_of_an_unknown_kelurahan_is_not_found(site: Site, code: str) -> None:
    assert (await site.web.get(f"/kelurahan/{code}/feed.atom")).status_code == 404


def pins(page: str) -> list[str]:
    return re.findall(r'<li><a href="/r/([^"]+)">', page)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["c", "b", "i", "a"]),
        ("?status=open", ["c", "b"]),
        ("?status=resolved", ["i", "a"]),
        ("?category=jalan-rusak", ["b"]),
        ("?category=sampah&status=open", ["c"]),
        ("?category=banjir", []),
        ("?z=5&lat=-6.171&lon=106.822", ["i"]),
        ("?z=2&lat=80&lon=0", None),  # far outside: moved back inside the city
        ("?unknown=1&z=", ["c", "b", "i", "a"]),  # unknown and empty parameters are ignored
    ],
)
async def test_the_map_shows_open_and_recently_resolved_public_reports(
    site: Site, query: str, expected: list[str] | None
) -> None:
    response = await site.web.get(f"/peta{query}")
    assert response.status_code == 200
    shown = pins(response.text)
    if expected is not None:
        assert shown == [site.city.ticket(label) for label in expected]
    for hidden in ("d", "e", "f", "g", "h"):
        assert site.city.ticket(hidden) not in response.text


async def test_pins_in_one_cell_are_a_cluster_that_zooms_in(site: Site) -> None:
    page = (await site.web.get("/peta")).text
    # b and c share a spot: one circle counting 2, linking to the next zoom level there.
    cluster = re.search(r'<a href="(/peta\?[^"]+)"><g class="cluster" data-count="2">', page)
    assert cluster, page
    link = cluster.group(1).replace("&amp;", "&")
    assert "z=1" in link and "lat=-6.19500" in link and "lon=106.83750" in link
    assert re.search(rf'<a href="/r/{site.city.ticket("a")}"><circle class="pin resolved"', page)
    deep = (await site.web.get("/peta?z=5&lat=-6.195&lon=106.8375")).text
    assert 'data-count="2"' in deep and 'href="#daftar"' in deep  # deepest level: the list


async def test_resolved_reports_leave_the_map_after_30_days(site: Site) -> None:
    site.clock.advance(days=40)
    shown = pins((await site.web.get("/peta")).text)
    assert shown == [site.city.ticket("c"), site.city.ticket("b")]


@pytest.mark.parametrize(
    "query",
    [
        "?category=tidak-ada",
        "?status=closed",
        "?z=6",
        "?z=-1",
        "?z=%C2%B2",
        "?lat=-6.2",
        "?lon=106.8",
        "?lat=abc&lon=106.8",
        "?lat=NaN&lon=106.8",
        "?lat=1e3&lon=106.8",
        "?lat=-91&lon=106.8",
        "?lat=-6.2&lon=181",
        "?category=%3Cscript%3E",
    ],
)
async def test_a_bad_map_parameter_is_a_polite_400_page(site: Site, query: str) -> None:
    response = await site.web.get(f"/peta{query}")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "tidak" in response.text  # Bahasa Indonesia first
    assert "<script>" not in response.text


async def test_the_league_has_the_dashboards_figures(site: Site) -> None:
    page = (await site.web.get("/kelurahan")).text
    with new_session(site.runtime.engine) as session:
        rows = stats.league(session)
    names = re.findall(r'<tr><td class="num">\d+</td><td>([^<]+) <a class="feed"', page)
    assert [n.replace("&amp;", "&") for n in names] == [r.name for r in rows]
    gambir = next(r for r in rows if r.code == "DEMO.01")
    row = re.search(r"<tr><td class=\"num\">\d+</td><td>Gambir \(demo\).*?</tr>", page)
    assert row, page
    cells = re.findall(r'<td class="num">([^<]*)</td>', row.group(0))
    assert cells[1:] == [
        formats.number(gambir.open),
        formats.percent(gambir.resolved_share),
        formats.hours(gambir.median_response_hours),
        formats.decimal(gambir.average_rating),
    ]
    # a (5) and i (4) are rated; a, i and the rahasia h are resolved: the league counts
    # every laporan (as the dashboard does), while only public ones have a page.
    assert gambir.average_rating == 4.5 and gambir.resolved == 3


@needs_data(JAKARTA_GEOJSON)
@pytest.mark.parametrize(
    "target", ["/peta", "/peta?z=2&lat=-6.2&lon=106.82", "/peta?z=5", "/kelurahan"]
)
async def test_with_jakartas_267_kelurahan_pages_stay_under_100_kb(site: Site, target: str) -> None:
    before = await site.web.get(target)  # with the demo registry: drawn and kept
    with transaction(site.runtime.engine) as session:
        import_registry(session, parse_registry(JAKARTA_GEOJSON), site.clock())
    response = await site.web.get(target)
    assert response.status_code == 200
    if target.startswith("/peta"):
        # A new registry is drawn at once, however the earlier one was kept.
        assert target != "/peta" or 'data-code="DEMO.01"' in before.text
        assert 'data-code="DEMO.01"' not in response.text
        assert 'data-code="31.' in response.text
    assert len(response.content) < PAGE_LIMIT, (target, len(response.content))
    if target == "/kelurahan":
        assert response.text.count("feed.atom") >= 267
