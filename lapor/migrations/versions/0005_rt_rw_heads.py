"""rt rw heads

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 02:14:00.400866
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("rt", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("rw", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=20), nullable=False),
        sa.Column("whatsapp", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("telegram_username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_paused", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
        ),
        sa.ForeignKeyConstraint(
            ["kelurahan_code"],
            ["kelurahan.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contact_id"),
        sa.UniqueConstraint("kelurahan_code", "rw", "rt", "role", name="uq_head_unit"),
    )
    with op.batch_alter_table("head", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_head_kelurahan_code"), ["kelurahan_code"], unique=False
        )

    op.create_table(
        "head_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["head_id"], ["head.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    with op.batch_alter_table("head_invite", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_head_invite_head_id"), ["head_id"], unique=False)

    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_reporter_kind_created",
            ["reporter_id", "kind", "created_at", "status"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_index("ix_report_reporter_kind_created")

    with op.batch_alter_table("head_invite", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_head_invite_head_id"))

    op.drop_table("head_invite")
    with op.batch_alter_table("head", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_head_kelurahan_code"))

    op.drop_table("head")
