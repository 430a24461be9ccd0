"""photo hash chunks: the index behind similar photos

Each report photo's 64-bit dHash in 4 chunks of 16 bits (`lapor/store/photohash.py`), so a
lookup finds every open report with a photo within the threshold instead of comparing the
newest 5,000 in Python. The upgrade fills the chunks of the report photos already stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 16:30:06.695287
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The chunking as of this revision (lapor/store/photohash.py), frozen here so that a later
# change there cannot change what this upgrade wrote.
CHUNKS = 4
CHUNK_BITS = 16
BATCH = 5_000

report = sa.table("report", sa.column("id", sa.Integer), sa.column("created_at", sa.DateTime))
report_photo = sa.table(
    "reportphoto",
    sa.column("report_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("photo_id", sa.Integer),
)
photo = sa.table("photo", sa.column("id", sa.Integer), sa.column("dhash", sa.String))
photo_hash_chunk = sa.table(
    "photo_hash_chunk",
    sa.column("report_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("chunk", sa.Integer),
    sa.column("dhash", sa.BigInteger),
    sa.column("created_at", sa.DateTime),
)


def _chunk_rows(report_id: int, position: int, dhash: str, created_at: Any) -> Iterator[dict]:
    try:
        value = int(dhash, 16) if len(dhash) == 16 else None
    except ValueError:
        value = None
    if value is None:
        return  # not a dHash: such a photo was never matched, and still is not
    signed = value - (1 << 64) if value >= 1 << 63 else value
    for number in range(CHUNKS):
        bits = (value >> (CHUNK_BITS * (CHUNKS - 1 - number))) & ((1 << CHUNK_BITS) - 1)
        yield {
            "report_id": report_id,
            "position": position,
            "chunk": (number << CHUNK_BITS) | bits,
            "dhash": signed,
            "created_at": created_at,
        }


def _fill() -> None:
    """Chunks for every report photo, a batch of reports at a time (keyset on the report id:
    bounded memory however many photos there are, and no cursor left open across inserts)."""
    bind = op.get_bind()
    last = 0
    while True:
        ids = (
            bind.execute(
                sa.select(report.c.id).where(report.c.id > last).order_by(report.c.id).limit(BATCH)
            )
            .scalars()
            .all()
        )
        if not ids:
            return
        last = ids[-1]
        sources = bind.execute(
            sa.select(
                report_photo.c.report_id,
                report_photo.c.position,
                photo.c.dhash,
                report.c.created_at,
            )
            .join(photo, photo.c.id == report_photo.c.photo_id)
            .join(report, report.c.id == report_photo.c.report_id)
            .where(report.c.id >= ids[0], report.c.id <= last)
        ).all()
        rows = [row for source in sources for row in _chunk_rows(*source)]
        if rows:
            bind.execute(photo_hash_chunk.insert(), rows)


def upgrade() -> None:
    op.create_table(
        "photo_hash_chunk",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("dhash", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id", "position", "chunk"),
    )
    _fill()
    # After the fill: one sort instead of an index update per row.
    with op.batch_alter_table("photo_hash_chunk", schema=None) as batch_op:
        batch_op.create_index(
            "ix_photo_hash_chunk_lookup",
            ["chunk", "created_at", "dhash", "report_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("photo_hash_chunk", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_hash_chunk_lookup")

    op.drop_table("photo_hash_chunk")
