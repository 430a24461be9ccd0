"""seed report categories

Qlue's common set, as Jakarta citizens know it. Operators edit the list afterwards with
`lapor categories`; this only fills an empty table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTS = [
    ("sampah", "Sampah", "Rubbish"),
    ("parkir-liar", "Parkir Liar", "Illegal parking"),
    ("pelanggaran", "Pelanggaran", "Violations"),
    ("fasilitas-umum", "Fasilitas Umum", "Public facilities"),
    ("kemacetan", "Kemacetan", "Traffic jam"),
    ("banjir", "Banjir", "Flooding"),
    ("jalan-rusak", "Jalan Rusak", "Damaged road"),
    ("lampu-jalan", "Lampu Jalan", "Street lights"),
    ("pohon-tumbang", "Pohon Tumbang", "Fallen tree"),
    ("pkl-liar", "PKL Liar", "Unlicensed street vendors"),
    ("kebakaran", "Kebakaran", "Fire"),
    ("lainnya", "Lainnya", "Other"),
]

category = sa.table(
    "category",
    sa.column("slug", sa.String),
    sa.column("name_id", sa.String),
    sa.column("name_en", sa.String),
    sa.column("position", sa.Integer),
    sa.column("active", sa.Boolean),
)


def upgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.select(sa.func.count()).select_from(category)).scalar():
        return
    op.bulk_insert(
        category,
        [
            {"slug": slug, "name_id": name_id, "name_en": name_en, "position": i, "active": True}
            for i, (slug, name_id, name_en) in enumerate(DEFAULTS, start=1)
        ],
    )


def downgrade() -> None:
    op.execute(category.delete().where(category.c.slug.in_([slug for slug, _, _ in DEFAULTS])))
