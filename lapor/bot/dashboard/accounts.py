"""Staff accounts in the database: creating them, logging in, and the lockout.

A login is three steps so that neither scrypt nor the database blocks the other:
`claim_attempt` (a short transaction), the password check (CPU, in a thread), then
`record_success` or `record_failure`. The attempt is counted *before* the password is
checked: a burst of parallel guesses therefore gets at most `max_failures` checks per
lockout, not one per request that happened to read the row before the lock was written.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session

from lapor.store import staff_sessions
from lapor.store.models import Staff

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class StaffError(ValueError):
    """An operator mistake with a message fit to print (unknown user, bad username...)."""


def normalise_username(username: str) -> str:
    return username.strip().lower()


def check_username(username: str) -> str:
    name = normalise_username(username)
    if not USERNAME.fullmatch(name):
        raise StaffError(
            "a username is 3-64 characters: lowercase letters, digits, '.', '_' or '-'"
        )
    return name


def session_tag(password_hash: str) -> str:
    """A short fingerprint of the password hash, kept in the session cookie.

    A new password changes it, which ends every session opened with the old one (someone
    who learnt the old password is logged out when it is changed).
    """
    return hashlib.sha256(password_hash.encode("ascii")).hexdigest()[:16]


# -- operator commands ------------------------------------------------------------------


def ensure_free(session: Session, username: str) -> str:
    """The normalised username, if no account has it yet."""
    username = check_username(username)
    if session.scalars(select(Staff).where(Staff.username == username)).first() is not None:
        raise StaffError(f"{username} already exists")
    return username


def add_staff(
    session: Session, username: str, name: str, password_hash: str, now: datetime
) -> Staff:
    username = ensure_free(session, username)
    staff = Staff(username=username, name=name.strip(), password_hash=password_hash, created_at=now)
    session.add(staff)
    session.flush()
    return staff


def get_staff(session: Session, username: str) -> Staff:
    staff = session.scalars(
        select(Staff).where(Staff.username == normalise_username(username))
    ).first()
    if staff is None:
        raise StaffError(f"no staff account named {normalise_username(username)}")
    return staff


def list_staff(session: Session) -> list[Staff]:
    return list(session.scalars(select(Staff).order_by(Staff.username)))


# -- logging in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """A counted login attempt on an existing, active, unlocked account."""

    staff_id: int
    password_hash: str
    number: int  # this attempt's place among the failures since the last success or lock


def claim_attempt(
    session: Session, username: str, now: datetime, max_failures: int, lockout: timedelta
) -> Attempt | None:
    """Count one attempt on `username`; None when it may not be tried (unknown, disabled,
    locked, or this attempt is over the allowance because of parallel guesses)."""
    username = normalise_username(username)
    row = session.execute(
        update(Staff)
        .where(
            Staff.username == username,
            Staff.active,
            or_(Staff.locked_until.is_(None), Staff.locked_until <= now),
        )
        .values(failed_logins=Staff.failed_logins + 1)
        .returning(Staff.id, Staff.password_hash, Staff.failed_logins)
    ).first()
    if row is None:
        return None
    if row[2] > max_failures:
        _lock(session, row[0], now, lockout)
        return None
    return Attempt(row[0], row[1], row[2])


def _lock(session: Session, staff_id: int, now: datetime, lockout: timedelta) -> None:
    # The counter starts again from zero: after the lock the owner gets a full allowance.
    session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .values(failed_logins=0, locked_until=now + lockout)
    )


def record_failure(
    session: Session, attempt: Attempt, now: datetime, max_failures: int, lockout: timedelta
) -> bool:
    """The password was wrong; locks the account at the last allowed attempt. True if locked."""
    if attempt.number >= max_failures:
        _lock(session, attempt.staff_id, now, lockout)
        return True
    return False


def record_success(
    session: Session, attempt: Attempt, now: datetime, new_hash: str | None = None
) -> tuple[str, str, str] | None:
    """The password was right: reset the counter; returns (username, name, session tag).

    None when the account was disabled or locked in the meantime (a parallel request hit
    the limit between our claim and now): a lock wins over a right password.
    """
    values: dict[str, object] = {"failed_logins": 0, "last_login_at": now}
    if new_hash is not None:
        values["password_hash"] = new_hash
    row = session.execute(
        update(Staff)
        .where(
            Staff.id == attempt.staff_id,
            Staff.active,
            or_(Staff.locked_until.is_(None), Staff.locked_until <= now),
        )
        .values(locked_until=None, **values)
        .returning(Staff.username, Staff.name, Staff.password_hash)
    ).first()
    if row is None:
        return None
    return row[0], row[1], session_tag(row[2])


@dataclass(frozen=True)
class SignedIn:
    """The staff member a request belongs to."""

    id: int
    username: str
    name: str


def signed_in(
    session: Session, token: str, tag: str, now: datetime
) -> tuple[SignedIn, int | None] | None:
    """The account behind a session token, if the session is live and the password unchanged.

    The second value is the session's id when its last_seen_at is due for a refresh.
    """
    live = staff_sessions.live_session(session, token, now)
    if live is None or session_tag(live.password_hash) != tag:
        return None
    due = live.id if staff_sessions.needs_touch(live, now) else None
    return SignedIn(live.staff_id, live.username, live.name), due
