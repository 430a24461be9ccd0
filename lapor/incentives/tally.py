"""Check and rebuild the quota tally that the triggers on `report` keep (migration 0009).

The triggers are the only writers in normal operation. These are for the operator who
restored a backup table by table, edited reports by hand with triggers off, or simply
wants to see that the tally agrees with the reports: `lapor incentives tally [--rebuild]`.
The expected tally is computed here in Python from each laporan's reporter, WIB date and
status, independently of the triggers' SQL, so a check compares two separate derivations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, text
from sqlmodel import Session

from lapor.incentives.quota import COUNTED, NOT_COUNTED, WAITING, day_key
from lapor.store.lifecycle import ReportKind
from lapor.store.models import TALLY_SPAN, QuotaTally, Report

WIB = ZoneInfo("Asia/Jakarta")
_CLASS = {
    **{status: 0 for status in COUNTED},
    **{status: 1 for status in WAITING},
    **{status: 2 for status in NOT_COUNTED},
}
Counts = tuple[int, int, int]  # counted, waiting, not counted


@dataclass(frozen=True)
class Difference:
    period: int
    contact_id: int
    expected: Counts
    found: Counts


def expected_tally(session: Session) -> dict[int, Counts]:
    """The tally the reports call for: tally id -> counts, rows of zeros left out."""
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    rows = session.execute(
        select(Report.reporter_id, Report.created_at, Report.status)
        .where(Report.kind == ReportKind.LAPORAN.value)
        .execution_options(yield_per=10_000)
    )
    for contact_id, created_at, status in rows:
        which = _CLASS.get(status)
        if which is None:
            continue
        day = day_key(created_at.astimezone(WIB).date())
        for period in (day, day // 100):
            sums[period * TALLY_SPAN + contact_id][which] += 1
    return {key: (c, w, n) for key, (c, w, n) in sums.items()}


def _split(key: int) -> tuple[int, int]:
    """A tally id back into its period and contact id."""
    return divmod(key, TALLY_SPAN)


def _found(session: Session) -> dict[int, Counts]:
    rows = session.execute(
        select(QuotaTally.id, QuotaTally.counted, QuotaTally.waiting, QuotaTally.not_counted)
    )
    return {key: (c, w, n) for key, c, w, n in rows if (c, w, n) != (0, 0, 0)}


def differences(session: Session) -> list[Difference]:
    """Where the tally disagrees with the reports (empty when all is well), by period."""
    expected, found = expected_tally(session), _found(session)
    wrong = [
        Difference(*_split(key), expected.get(key, (0, 0, 0)), found.get(key, (0, 0, 0)))
        for key in expected.keys() | found.keys()
        if expected.get(key) != found.get(key)
    ]
    return sorted(wrong, key=lambda d: (d.period, d.contact_id))


def rebuild(session: Session) -> int:
    """Rewrite the whole tally from the reports; returns its rows. Writers wait meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        # SQLite's write transaction already keeps other writers out (BEGIN IMMEDIATE).
        session.execute(text("LOCK TABLE report IN SHARE MODE"))
    expected = expected_tally(session)
    session.execute(delete(QuotaTally))
    rows = []
    for key, (c, w, n) in expected.items():
        period, contact_id = _split(key)
        rows.append(
            {
                "id": key,
                "period": period,
                "contact_id": contact_id,
                "counted": c,
                "waiting": w,
                "not_counted": n,
            }
        )
    for start in range(0, len(rows), 10_000):
        session.execute(insert(QuotaTally), rows[start : start + 10_000])
    return len(rows)
