"""`lapor staff ...`: dashboard accounts.

Passwords are typed twice at a hidden prompt, or read from standard input with
`--password-stdin` (for scripts: never on the command line, where `ps` and the shell
history would keep them).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from lapor.bot.dashboard.accounts import (
    StaffError,
    add_staff,
    check_username,
    ensure_free,
    get_staff,
    list_staff,
)
from lapor.bot.dashboard.passwords import PasswordRefused, check_strength, hash_password
from lapor.store.db import transaction
from lapor.store.staff_sessions import revoke_staff_sessions

staff_app = typer.Typer(help="Dashboard staff accounts.", no_args_is_help=True)

PASSWORD_STDIN = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (one line)."
)


def _engine() -> Engine:
    from lapor.bot.clidb import migrated_engine

    return migrated_engine()


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise _fail("the two passwords differ; nothing changed")
    try:
        check_strength(password)
    except PasswordRefused as exc:
        raise _fail(f"{exc}; nothing changed") from None
    return password


def _change(change: Callable[[Session, datetime], str], *, quiet: bool = False) -> None:
    """Run one change on the database and print what it says, or the operator's mistake."""
    engine = _engine()
    try:
        with transaction(engine) as session:
            message = change(session, datetime.now(UTC))
    except StaffError as exc:
        raise _fail(str(exc)) from None
    finally:
        engine.dispose()
    if not quiet:
        typer.echo(message)


@staff_app.command("add")
def add(
    username: str = typer.Argument(..., help="Login name: lowercase letters, digits, . _ -"),
    name: str | None = typer.Option(
        None, "--name", help="Full name, shown in the dashboard (default: the username)."
    ),
    password_stdin: bool = PASSWORD_STDIN,
) -> None:
    """Create a staff account (asks for its password)."""
    try:
        username = check_username(username)
    except StaffError as exc:
        raise _fail(str(exc), 2) from None
    if name is None:
        name = username
    if not name.strip():
        raise _fail("--name may not be empty", 2)
    # Refuse a taken username before asking for a password, not after.
    _change(lambda session, now: ensure_free(session, username), quiet=True)
    password_hash = hash_password(_read_password(password_stdin))

    def change(session: Session, now: datetime) -> str:
        add_staff(session, username, name, password_hash, now)
        return f"{username} added"

    _change(change)


@staff_app.command("list")
def list_accounts() -> None:
    """Every account: active or disabled, locked, last login (WIB)."""
    from lapor.bot.settings import load_settings

    engine = _engine()  # first: it explains a bad setting and exits
    zone = ZoneInfo(load_settings().timezone)
    try:
        with transaction(engine) as session:
            rows = list_staff(session)
    finally:
        engine.dispose()
    if not rows:
        typer.echo("no staff accounts (add one with: lapor staff add USERNAME [--name NAME])")
        return
    now = datetime.now(UTC)

    def when(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"

    width = max(len("username"), *(len(s.username) for s in rows))
    name_width = max(len("name"), *(len(s.name) for s in rows))
    typer.echo(f"{'username':<{width}}  {'name':<{name_width}}  state     last login")
    for staff in rows:
        if not staff.active:
            state = "disabled"
        elif staff.locked_until and staff.locked_until > now:
            state = f"locked until {when(staff.locked_until)}"
        else:
            state = "active"
        typer.echo(
            f"{staff.username:<{width}}  {staff.name:<{name_width}}  {state:<8}  "
            f"{when(staff.last_login_at)}"
        )


@staff_app.command("disable")
def disable(username: str) -> None:
    """Stop an account from logging in; its open sessions end at once (enabling it again
    does not bring them back)."""

    _set_active(username, False)


@staff_app.command("enable")
def enable(username: str) -> None:
    """Let a disabled account log in again."""

    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    def change(session: Session, now: datetime) -> str:
        staff = get_staff(session, username)
        staff.active = active
        if not active:
            revoke_staff_sessions(session, staff.id or 0, now)
        return f"{username} {'enabled' if active else 'disabled'}"

    _change(change)


@staff_app.command("password")
def password(username: str, password_stdin: bool = PASSWORD_STDIN) -> None:
    """Set a new password; sessions opened with the old one end."""
    # Ask for a password only for an account that exists.
    _change(lambda session, now: get_staff(session, username).username, quiet=True)
    password_hash = hash_password(_read_password(password_stdin))

    def change(session: Session, now: datetime) -> str:
        staff = get_staff(session, username)
        staff.password_hash = password_hash
        revoke_staff_sessions(session, staff.id or 0, now)
        return f"password of {username} changed"

    _change(change)


@staff_app.command("unlock")
def unlock(username: str) -> None:
    """Lift a lockout after too many wrong passwords."""

    def change(session: Session, now: datetime) -> str:
        staff = get_staff(session, username)
        staff.failed_logins = 0
        staff.locked_until = None
        return f"{username} unlocked"

    _change(change)
