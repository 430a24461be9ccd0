"""Random and boundary input through the public pages, on SQLite and PostgreSQL.

Nobody logs in here, so anyone can send anything: whatever a link carries, a page answers
200, 304, 400 or 404, never a 5xx; a 400 is a page that names the problem; nothing is
written; and no answer ever carries a hidden report's ticket or a reporter's details.
"""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from lapor.store.db import new_session
from lapor.store.models import Report, ReportEvent
from tests.fuzz.conftest import AWKWARD, PER_REQUEST
from tests.public.conftest import NEVER, Site

FUZZ = PER_REQUEST
BOUNDARY = st.sampled_from(
    [
        *AWKWARD,
        "0",
        "-0",
        "-1",
        "5",
        "6",
        "99",
        "9" * 40,
        "1e308",
        "NaN",
        "inf",
        "-6.2",
        "106.8",
        "-90",
        "90.000000001",
        "-6.123456789",
        "open",
        "resolved",
        "closed",
        "sampah",
        "jalan-rusak",
        "DEMO.01",
        "<script>",
        "'\"&",
        "x" * 300,
    ]
)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
EDGES = {
    "category": ["sampah", "banjir", "tidak-ada", "SAMPAH"],
    "status": ["open", "resolved", "closed", "submitted"],
    "z": ["0", "1", "5", "6", "-1", "01", "1.5"],
    "lat": ["-6.19", "-6.2", "80", "-90", "90", "-91", "abc", "-6.1234567891"],
    "lon": ["106.83", "106.8", "0", "180", "-180", "181", "１０６"],
}
PAIR = st.sampled_from(sorted(EDGES)).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(st.sampled_from(EDGES[name]), BOUNDARY, TEXT))
)
QUERY = st.lists(st.one_of(PAIR, st.tuples(TEXT, TEXT)), max_size=6)
PAGES = ["/peta", "/kelurahan", "/r/{a}", "/kelurahan/DEMO.01/feed.atom", "/aset/publik.css"]
HIDDEN = ("d", "f", "g", "h")


def writes(site: Site) -> tuple[int, int]:
    with new_session(site.runtime.engine) as session:
        return (
            session.execute(select(func.count()).select_from(Report)).scalar_one(),
            session.execute(select(func.count()).select_from(ReportEvent)).scalar_one(),
        )


def check(site: Site, response) -> None:  # type: ignore[no-untyped-def]
    body = response.text if "image" not in response.headers.get("content-type", "") else ""
    for label in HIDDEN:
        assert site.city.ticket(label) not in body
    for word in NEVER:
        assert word not in body, word


@FUZZ
@given(path=st.sampled_from(PAGES), query=QUERY, etag=st.one_of(st.none(), TEXT, BOUNDARY))
async def test_any_query_is_a_page_or_a_polite_refusal(
    site: Site, path: str, query: list[tuple[str, str]], etag: str | None
) -> None:
    before = writes(site)
    headers = {}
    if etag is not None and etag.isascii() and etag.isprintable():
        headers["If-None-Match"] = etag
    response = await site.web.get(path.format(**site.city.tickets), params=query, headers=headers)
    assert response.status_code in (200, 304, 400), (path, query, response.status_code)
    if response.status_code == 400:
        assert path == "/peta" and response.headers["content-type"].startswith("text/html")
        assert "tidak" in response.text
    check(site, response)
    assert writes(site) == before


@FUZZ
@given(
    endpoint=st.sampled_from(
        ["/r/{}", "/r/{}/foto/1.jpg", "/r/{}/foto/sesudah.jpg", "/kelurahan/{}/feed.atom"]
    ),
    segment=st.one_of(
        BOUNDARY.filter(bool),
        TEXT.filter(bool),
        st.sampled_from(["{a}", "{d}", "{e}", "{f}", "{g}", "{h}", "{i}"]),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
    ),
)
async def test_any_ticket_or_code_is_found_or_not_found(
    site: Site, endpoint: str, segment: str
) -> None:
    before = writes(site)
    if segment.startswith("{"):
        segment = segment.format(**site.city.tickets)
    response = await site.web.get(endpoint.format(quote(segment, safe="")))
    # A segment that is a slash becomes a path the router redirects, which is no error.
    redirected = response.status_code in (307, 404) and "/" in segment
    assert response.status_code in (200, 404) or redirected, (endpoint, segment)
    check(site, response)
    assert writes(site) == before
