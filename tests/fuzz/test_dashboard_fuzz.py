"""Random and boundary filters through the real dashboard, signed in, on SQLite and PostgreSQL.

Whatever staff type into a filter (or a link carries), a page answers 200 or a 4xx page,
never a 5xx; a CSV either arrives whole or is a 4xx page, never a 200 download cut off; and
reading writes nothing.
"""

from __future__ import annotations

import csv
import io
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from lapor.store.db import new_session
from lapor.store.models import Report
from tests.dashboard.conftest import Rig
from tests.fuzz.conftest import AWKWARD, PER_REQUEST

FUZZ = PER_REQUEST
BOUNDARY = st.sampled_from(
    [
        *AWKWARD,
        "0",
        "-1",
        "1",
        "999999",
        "1000000",
        "9" * 30,
        "9999-12-31",
        "0001-01-01",
        "2026-11-28",
        "20261128",
        "2026-W48-1",
        "2026-11",
        "9999-12",
        "0001-01",
        "２０２６-１１",
        "open",
        "submitted",
        "laporan",
        "saran",
        "sampah",
        "DEMO.01",
        "DEMO.02",
        "whatsapp",
        "30",
        "365",
        "<script>",
        "x" * 300,
    ]
)
# Anything a URL can carry (lone surrogates cannot be encoded into one).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
DAYS = ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01", "2026-11-28", "20261128"]
DAYS += ["2026-W48-1", "2026-02-30"]
NUMBERS = ["²", "１", "0", "-1", "1", "2", "999999", "1000000", "9" * 30, "1.5"]
# Each filter with values near its edges; any of them may also get any other text.
EDGES = {
    "status": ["open", "submitted", "duplicate", "bogus"],
    "kind": ["laporan", "saran", "apresiasi", "keluhan"],
    "category": ["sampah", "banjir", "tidak-ada"],
    "kelurahan": ["DEMO.01", "DEMO.02", "NOPE"],
    "channel": ["telegram", "whatsapp", "open311", "fax"],
    "from": DAYS,
    "to": DAYS,
    "sla": ["1", "ya"],
    "page": NUMBERS,
    "days": ["30", "90", "365", "7", *NUMBERS],
    "month": ["2026-11", "2026-10", "9999-12", "0001-01", "２０２６-１１", "2026-13", "2027-01"],
    "short": ["1", "2"],
}
PAIR = st.sampled_from(sorted(EDGES)).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(st.sampled_from(EDGES[name]), BOUNDARY, TEXT))
)
QUERY = st.lists(st.one_of(PAIR, st.tuples(TEXT, TEXT)), max_size=5)
PAGES = [
    "/dashboard/",
    "/dashboard/map",
    "/dashboard/reports",
    "/dashboard/kelurahan",
    "/dashboard/rtrw",
]
CSVS = [
    "/dashboard/reports.csv",
    "/dashboard/kelurahan.csv",
    "/dashboard/rtrw.csv",
    "/dashboard/rtrw-statement.csv",
]


def reports(rig: Rig) -> int:
    with new_session(rig.runtime.engine) as session:
        return session.execute(select(func.count()).select_from(Report)).scalar_one()


@settings(FUZZ, max_examples=150)
@given(path=st.sampled_from(PAGES + CSVS), query=QUERY)
async def test_any_filter_is_a_page_or_a_whole_csv(
    signed_in: Rig, path: str, query: list[tuple[str, str]]
) -> None:
    before = reports(signed_in)
    response = await signed_in.web.get(path, params=query)
    assert response.status_code < 500, (path, query)
    if path in CSVS and response.status_code == 200:
        assert "attachment" in response.headers["content-disposition"]
        body = response.content
        assert body.startswith(b"\xef\xbb\xbf") and body.endswith(b"\r\n")
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert rows and len({len(row) for row in rows}) == 1  # every line whole
    elif response.status_code >= 400:
        assert "content-disposition" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
    assert reports(signed_in) == before


@FUZZ
@given(
    endpoint=st.sampled_from(["/dashboard/reports/{}", "/dashboard/photos/{}"]),
    segment=st.one_of(
        BOUNDARY.filter(bool),
        TEXT.filter(bool),
        st.integers(min_value=0, max_value=10**40).map(str),
    ),
)
async def test_any_ticket_or_photo_id_is_found_or_not_found(
    signed_in: Rig, endpoint: str, segment: str
) -> None:
    before = reports(signed_in)
    response = await signed_in.web.get(endpoint.format(quote(segment, safe="")))
    # A segment that is a slash makes a path with a trailing slash, which the router
    # redirects to the same path without it (the report list): no error either.
    redirected = response.status_code == 307 and segment.endswith("/")
    assert response.status_code in (200, 404) or redirected, (endpoint, segment)
    assert reports(signed_in) == before
