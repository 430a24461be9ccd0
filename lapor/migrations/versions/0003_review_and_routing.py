"""review and routing

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:37:48.955711
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kelurahan",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kecamatan", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kota", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("boundary", sa.Text(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("bound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    with op.batch_alter_table("kelurahan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kelurahan_chat_id"), ["chat_id"], unique=False)

    op.create_table(
        "verifier",
        sa.Column("telegram_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("telegram_id"),
    )
    op.create_table(
        "contact_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("contact_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_event_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "group_invite",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kelurahan_code", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_chat", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["kelurahan_code"],
            ["kelurahan.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_table(
        "report_follower",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id", "contact_id"),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("blocked", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("blocked_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True)
        )

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.alter_column("contact_id", existing_type=sa.Integer(), nullable=True)

    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("support_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("after_photo_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("admin_message_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("group_chat_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("group_message_id", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            "fk_report_after_photo_id_photo", "photo", ["after_photo_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_constraint("fk_report_after_photo_id_photo", type_="foreignkey")
        batch_op.drop_column("group_message_id")
        batch_op.drop_column("group_chat_id")
        batch_op.drop_column("admin_message_id")
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")
        batch_op.drop_column("after_photo_id")
        batch_op.drop_column("support_count")
        batch_op.drop_column("public")

    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.alter_column("contact_id", existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("blocked_reason")
        batch_op.drop_column("blocked")

    op.drop_table("report_follower")
    op.drop_table("group_invite")
    with op.batch_alter_table("contact_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_event_contact_id"))

    op.drop_table("contact_event")
    op.drop_table("verifier")
    with op.batch_alter_table("kelurahan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kelurahan_chat_id"))

    op.drop_table("kelurahan")
