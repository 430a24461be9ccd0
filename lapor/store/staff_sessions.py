"""Dashboard sessions on the server: opened at login, checked on every request, revoked.

A signed cookie alone stays valid until it expires, whatever happens on the server: a
cookie copied before logout, or kept by someone whose account was disabled, would still
open the dashboard for hours. The cookie therefore carries only a random token; the
session it names lives here, and logging out, `lapor staff disable` and a new password
revoke it at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlmodel import Session

from lapor.store.models import Staff, StaffSession

# Writing last_seen_at on every page view would make each dashboard request a write
# (SQLite has one writer); once every few minutes is enough to see who is active.
SEEN_EVERY = timedelta(minutes=5)
# Expired and revoked sessions are kept this long (who was logged in when), then dropped.
KEEP_ENDED = timedelta(days=30)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LiveSession:
    """A session that may be used now, and the account behind it."""

    id: int
    staff_id: int
    username: str
    name: str
    password_hash: str
    last_seen_at: datetime | None


def open_session(session: Session, staff_id: int, now: datetime, lifetime: timedelta) -> str:
    """A new session for `staff_id`; returns the token for the cookie (shown only here)."""
    token = secrets.token_urlsafe(32)
    session.execute(
        delete(StaffSession).where(
            StaffSession.staff_id == staff_id, StaffSession.expires_at < now - KEEP_ENDED
        )
    )
    session.add(
        StaffSession(
            token_hash=token_hash(token),
            staff_id=staff_id,
            created_at=now,
            expires_at=now + lifetime,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def live_session(session: Session, token: str, now: datetime) -> LiveSession | None:
    """The session named by `token` if it is not revoked, not expired, and its account active."""
    row = session.execute(
        select(
            StaffSession.id,
            StaffSession.staff_id,
            Staff.username,
            Staff.name,
            Staff.password_hash,
            StaffSession.last_seen_at,
        )
        .join(Staff, Staff.id == StaffSession.staff_id)
        .where(
            StaffSession.token_hash == token_hash(token),
            StaffSession.revoked_at.is_(None),
            StaffSession.expires_at > now,
            StaffSession.created_at <= now,
            Staff.active,
        )
    ).first()
    return LiveSession(*row) if row is not None else None


def needs_touch(live: LiveSession, now: datetime) -> bool:
    return live.last_seen_at is None or now - live.last_seen_at >= SEEN_EVERY


def touch(session: Session, session_id: int, now: datetime) -> None:
    session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(last_seen_at=now)
    )


def revoke_session(session: Session, token: str, now: datetime) -> bool:
    """Log out: the session named by `token` ends. True if it was live."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == token_hash(token), StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


def revoke_staff_sessions(session: Session, staff_id: int, now: datetime) -> int:
    """Every open session of an account ends (disabled, or a new password); how many."""
    result = session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)
