"""report events of every kind: replies, progress photos, citizens' additions

A report's history held status changes and notes (from == to). Officers' replies to the
citizens, progress photos and what citizens add are events too, told apart by `kind`, so
response-time figures keep counting status changes only. Existing rows become `status`
or, when they changed no status, `note`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 18:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="status",
            )
        )
        batch_op.add_column(sa.Column("photo_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_report_event_photo_id_photo", "photo", ["photo_id"], ["id"])
    op.execute(
        "UPDATE report_event SET kind = 'note' "
        "WHERE from_status IS NOT NULL AND from_status = to_status"
    )


def downgrade() -> None:
    # Replies, progress photos and additions stay in the history, as notes (from == to).
    with op.batch_alter_table("report_event", schema=None) as batch_op:
        batch_op.drop_constraint("fk_report_event_photo_id_photo", type_="foreignkey")
        batch_op.drop_column("photo_id")
        batch_op.drop_column("kind")
