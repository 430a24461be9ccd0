"""whatsapp delivery and opt-out

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:02:56.057616
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("opted_out", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("delivery_status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("delivery_error", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_outbox_provider_id"), ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_provider_id"))
        batch_op.drop_column("delivery_error")
        batch_op.drop_column("delivery_status")

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("opted_out")
