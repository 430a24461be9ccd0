"""INSERT ... ON CONFLICT for the two dialects we run on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def insert_for(session: Session, table: Any) -> Any:
    """An `insert()` with `on_conflict_do_*` for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {name} dialect")
