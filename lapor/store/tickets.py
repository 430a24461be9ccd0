"""Public ticket numbers: PREFIX-YYMM-NNNNN, counted per month in WIB."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from lapor.store.models import TicketCounter
from lapor.store.upsert import insert_for


def next_ticket(session: Session, prefix: str, local_now: datetime) -> str:
    """Take the next number of the month, atomically (one upsert, safe across workers).

    The month is the local (WIB) one, since that is the calendar citizens and the
    kelurahan read tickets by; five digits hold a month of Qlue-scale traffic
    (~3,000 a day) and grow to six when a month goes past 99,999.
    """
    period = local_now.strftime("%y%m")
    stmt = (
        insert_for(session, TicketCounter)
        .values(period=period, last=1)
        .on_conflict_do_update(index_elements=["period"], set_={"last": TicketCounter.last + 1})
        .returning(TicketCounter.last)
    )
    number = session.execute(stmt).scalar_one()
    return f"{prefix}-{period}-{number:05d}"
