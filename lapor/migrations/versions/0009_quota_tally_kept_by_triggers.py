"""quota tally kept by triggers

The RT/RW standings read each head's day and month from `quota_tally` instead of summing
the month's reports. Triggers on `report` keep it (SQLite and PostgreSQL each their own
dialect); the upgrade fills it from the reports already there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The quota's classes as of this revision (lapor/incentives/quota.py).
COUNTED = "('verified', 'forwarded', 'in_progress', 'resolved')"
WAITING = "('submitted')"
NOT_COUNTED = "('rejected', 'duplicate')"
SPAN = 4294967296  # 2**32: id = period * SPAN + contact_id
WATCHED = ("kind", "status", "reporter_id", "created_at")

# A report's WIB day as 20261128 (WIB has been UTC+7 since 1964, without summer time).
SQLITE_DAY = "CAST(strftime('%Y%m%d', {row}.created_at, '+7 hours') AS INTEGER)"
POSTGRES_DAY = "to_char({row}.created_at AT TIME ZONE 'Asia/Jakarta', 'YYYYMMDD')::integer"


def _sqlite_bump(row: str, sign: str, period: str) -> str:
    """One upsert adding (sign '+') or taking away ('-') report `row` in one period's row."""
    return f"""
        INSERT INTO quota_tally (id, period, contact_id, counted, waiting, not_counted)
        SELECT {period} * {SPAN} + {row}.reporter_id, {period}, {row}.reporter_id,
               {sign}({row}.status IN {COUNTED}), {sign}({row}.status IN {WAITING}),
               {sign}({row}.status IN {NOT_COUNTED})
        WHERE {row}.kind = 'laporan'
        ON CONFLICT (id) DO UPDATE SET
            counted = counted + excluded.counted,
            waiting = waiting + excluded.waiting,
            not_counted = not_counted + excluded.not_counted;"""


def _sqlite_bumps(row: str, sign: str) -> str:
    day = SQLITE_DAY.format(row=row)
    return _sqlite_bump(row, sign, day) + _sqlite_bump(row, sign, f"({day} / 100)")


def _changed(old: str, new: str, distinct: str) -> str:
    return " OR ".join(f"{old}.{c} {distinct} {new}.{c}" for c in WATCHED)


SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER quota_tally_report_insert AFTER INSERT ON report
    WHEN NEW.kind = 'laporan'
    BEGIN {_sqlite_bumps("NEW", "+")}
    END""",
    f"""CREATE TRIGGER quota_tally_report_delete AFTER DELETE ON report
    WHEN OLD.kind = 'laporan'
    BEGIN {_sqlite_bumps("OLD", "-")}
    END""",
    f"""CREATE TRIGGER quota_tally_report_update AFTER UPDATE OF {", ".join(WATCHED)} ON report
    WHEN (OLD.kind = 'laporan' OR NEW.kind = 'laporan') AND ({_changed("OLD", "NEW", "IS NOT")})
    BEGIN {_sqlite_bumps("OLD", "-")} {_sqlite_bumps("NEW", "+")}
    END""",
)

POSTGRES_FUNCTIONS = (
    f"""CREATE FUNCTION quota_tally_bump(p_contact integer, p_at timestamptz, p_status text,
                                         p_sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        day integer := to_char(p_at AT TIME ZONE 'Asia/Jakarta', 'YYYYMMDD')::integer;
        c integer := CASE WHEN p_status IN {COUNTED} THEN p_sign ELSE 0 END;
        w integer := CASE WHEN p_status IN {WAITING} THEN p_sign ELSE 0 END;
        n integer := CASE WHEN p_status IN {NOT_COUNTED} THEN p_sign ELSE 0 END;
    BEGIN
        -- The month's row before the day's, always: concurrent writers lock in one order.
        INSERT INTO quota_tally AS t (id, period, contact_id, counted, waiting, not_counted)
        VALUES ((day / 100)::bigint * {SPAN} + p_contact, day / 100, p_contact, c, w, n),
               (day::bigint * {SPAN} + p_contact, day, p_contact, c, w, n)
        ON CONFLICT (id) DO UPDATE SET
            counted = t.counted + EXCLUDED.counted,
            waiting = t.waiting + EXCLUDED.waiting,
            not_counted = t.not_counted + EXCLUDED.not_counted;
    END $$""",
    """CREATE FUNCTION quota_tally_report() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'laporan' THEN
            PERFORM quota_tally_bump(OLD.reporter_id, OLD.created_at, OLD.status, -1);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'laporan' THEN
            PERFORM quota_tally_bump(NEW.reporter_id, NEW.created_at, NEW.status, 1);
        END IF;
        RETURN NULL;
    END $$""",
)

POSTGRES_TRIGGERS = (
    """CREATE TRIGGER quota_tally_report_insert_delete AFTER INSERT OR DELETE ON report
    FOR EACH ROW EXECUTE FUNCTION quota_tally_report()""",
    f"""CREATE TRIGGER quota_tally_report_update AFTER UPDATE OF {", ".join(WATCHED)} ON report
    FOR EACH ROW
    WHEN ((OLD.kind = 'laporan' OR NEW.kind = 'laporan')
          AND ({_changed("OLD", "NEW", "IS DISTINCT FROM")}))
    EXECUTE FUNCTION quota_tally_report()""",
)


def _fill(day: str) -> str:
    """The tally of the reports already there: every WIB day, then every WIB month."""
    rows = []
    for period in (day, f"({day} / 100)"):
        rows.append(
            f"""INSERT INTO quota_tally (id, period, contact_id, counted, waiting, not_counted)
            SELECT p * {SPAN} + reporter_id, p, reporter_id, sum(c), sum(w), sum(n)
            FROM (SELECT {period} AS p, r.reporter_id,
                         CASE WHEN r.status IN {COUNTED} THEN 1 ELSE 0 END AS c,
                         CASE WHEN r.status IN {WAITING} THEN 1 ELSE 0 END AS w,
                         CASE WHEN r.status IN {NOT_COUNTED} THEN 1 ELSE 0 END AS n
                  FROM report r WHERE r.kind = 'laporan') AS x
            GROUP BY p, reporter_id"""
        )
    return ";\n".join(rows)


def upgrade() -> None:
    op.create_table(
        "quota_tally",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("counted", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("not_counted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        statements = [*POSTGRES_FUNCTIONS, *POSTGRES_TRIGGERS]
        fill = _fill(POSTGRES_DAY.format(row="r"))
    else:
        statements = list(SQLITE_TRIGGERS)
        fill = _fill(SQLITE_DAY.format(row="r"))
    for statement in [*statements, *fill.split(";\n")]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS quota_tally_report_insert_delete ON report")
        op.execute("DROP TRIGGER IF EXISTS quota_tally_report_update ON report")
        op.execute("DROP FUNCTION IF EXISTS quota_tally_report()")
        op.execute("DROP FUNCTION IF EXISTS quota_tally_bump(integer, timestamptz, text, integer)")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS quota_tally_report_{name}")
    op.drop_table("quota_tally")
