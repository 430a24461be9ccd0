"""A tiny made-up registry so that a fresh install routes out of the box.

Five rectangles and one pentagon around Monas, written for lapor (not derived from any
official data) and named "(demo)" everywhere they show, so nobody mistakes them for real
kelurahan. Operators replace them by importing their registry, which deletes them (or,
once they hold reports, keeps them out of routing: registry.py); the demo is only loaded
into an empty kelurahan table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from lapor.routing.registry import ImportResult, import_registry, parse_registry
from lapor.store.models import Kelurahan

DEMO_REGISTRY = Path(__file__).with_name("demo.geojson")


def ensure_demo_registry(session: Session, now: datetime) -> ImportResult | None:
    """Import the demo registry if the kelurahan table is empty; None when it was not.

    Never mixes with a real registry: one existing kelurahan, demo or not, is enough to
    leave the table alone.
    """
    if session.execute(select(Kelurahan.code).limit(1)).first() is not None:
        return None
    return import_registry(session, parse_registry(DEMO_REGISTRY), now)
