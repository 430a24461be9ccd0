"""Staff see at a glance which laporan are rahasia: in the list and on the report's page."""

from __future__ import annotations

import re

from sqlalchemy import update

from lapor.store.db import transaction
from lapor.store.models import Report
from tests.dashboard.conftest import Rig


def row_of(html: str, ticket: str) -> str:
    match = re.search(rf"<tr>\s*<td><a class=\"ticket\"[^>]*>{ticket}</a>.*?</tr>", html, re.S)
    assert match, ticket
    return match.group(0)


async def test_rahasia_laporan_are_marked_in_the_list_and_on_their_page(signed_in: Rig) -> None:
    tickets = signed_in.city.tickets
    public, private, saran = tickets["a"], tickets["b"], tickets["f"]
    with transaction(signed_in.runtime.engine) as session:
        session.execute(update(Report).where(Report.ticket == public).values(public=True))
    listing = (await signed_in.web.get("/dashboard/reports")).text
    expected = {public: False, private: True, saran: False}  # saran has no public choice
    for ticket, marked in expected.items():
        assert ("Rahasia" in row_of(listing, ticket)) is marked, ticket
        page = (await signed_in.web.get(f"/dashboard/reports/{ticket}")).text
        assert ('id="rahasia"' in page) is marked, ticket
