"""ticket numbers from a sequence per month on PostgreSQL

Every confirmed report took its number with an upsert on the month's `ticket_counter` row,
which stayed locked until the report's transaction committed: at 64 citizens confirming at
once on PostgreSQL, confirms queued on that one row. A sequence hands out numbers without a
lock. `lapor_ticket_number(period)` returns the next number of a month from sequence
`ticket_<period>`, made on the month's first ticket (two first tickets at once: one
creates it, the other waits for that commit and uses it). Numbers are never handed out
twice; a report whose transaction fails leaves a gap, as sequences do.

The upgrade starts each month already counted after its counter's last number; the
downgrade writes where each sequence stands back into `ticket_counter` and drops them.
SQLite keeps the counter table (it has one writer at a time anyway).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = """
CREATE OR REPLACE FUNCTION lapor_ticket_number(period text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    seq text := 'ticket_' || period;
BEGIN
    IF period !~ '^[0-9]{4}$' THEN
        RAISE EXCEPTION 'ticket period must be YYMM, not %', period;
    END IF;
    IF to_regclass(seq) IS NULL THEN
        BEGIN
            EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', seq);
        EXCEPTION WHEN unique_violation OR duplicate_table THEN
            NULL;  -- made by a first ticket of the month in another transaction just now
        END;
    END IF;
    RETURN nextval(seq);
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for period, last in op.get_bind().execute(sa.text("SELECT period, last FROM ticket_counter")):
        if period.isdigit() and len(period) == 4:
            op.execute(f'CREATE SEQUENCE "ticket_{period}" START WITH {int(last) + 1}')


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    sequences = op.get_bind().execute(
        sa.text(
            "SELECT sequencename, last_value FROM pg_sequences "
            "WHERE sequencename ~ '^ticket_[0-9]{4}$'"
        )
    )
    for name, last in list(sequences):
        if last is not None:
            op.execute(
                sa.text(
                    "INSERT INTO ticket_counter (period, last) VALUES (:period, :last) "
                    "ON CONFLICT (period) DO UPDATE SET last = GREATEST(ticket_counter.last, :last)"
                ).bindparams(period=name.removeprefix("ticket_"), last=int(last))
            )
        op.execute(f'DROP SEQUENCE "{name}"')
    op.execute("DROP FUNCTION IF EXISTS lapor_ticket_number(text)")
