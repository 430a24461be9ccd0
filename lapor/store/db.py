"""Engine and sessions. No module-level engine: callers build one from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
URL_EXAMPLES = "sqlite:///lapor.db or postgresql+psycopg://USER:PASSWORD@HOST:5432/NAME"
# What to install when a URL's driver is missing; psycopg comes with lapor itself.
DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}


class DatabaseUrlError(ValueError):
    """A DATABASE_URL that cannot be used: one line for the operator, never the URL itself
    (it may carry a password)."""


def check_url(url: str) -> URL:
    """The parsed URL (plain PostgreSQL URLs made psycopg 3), once its driver imports.

    Without this an unparsable URL or a missing driver surfaces as a traceback from deep
    inside SQLAlchemy (`ModuleNotFoundError: psycopg`), which tells an operator nothing.
    """
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise DatabaseUrlError(f"DATABASE_URL is not a database URL: use {URL_EXAMPLES}") from None
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise DatabaseUrlError(
            f"DATABASE_URL names an unknown database or driver ({parsed.drivername}): "
            f"use {URL_EXAMPLES}"
        ) from None
    except ImportError as exc:
        module = (exc.name or "").split(".")[0] or parsed.drivername
        package = DRIVER_PACKAGES.get(module, module)
        raise DatabaseUrlError(
            f"DATABASE_URL needs the database driver {module!r}, which is not installed: "
            f"pip install '{package}' (or reinstall lapor, which includes psycopg)"
        ) from None
    return parsed


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain PostgreSQL URLs (`postgresql://` means psycopg2 to SQLAlchemy)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, sqlite_cache_mb: int = 8, **kwargs: Any) -> Engine:
    """Build an engine; SQLite gets WAL and real write locks.

    `sqlite_cache_mb` is SQLite's page cache per connection (its default is 2 MB). More
    barely helps (the operating system caches the file too: quota standings over a
    million reports took the same time with 8 and 64 MB) and costs every process memory.

    pysqlite's own transaction handling starts transactions lazily, so two processes can
    both read a row and both write it back: updates are silently lost. SQLAlchemy's
    documented recipe takes transaction control away from the driver and opens every
    transaction with BEGIN IMMEDIATE, which takes the write lock up front; `busy_timeout`
    makes the second writer wait instead of failing. A URL that cannot work raises
    DatabaseUrlError.
    """
    parsed = check_url(url)
    url = parsed.render_as_string(hide_password=False)
    # A failed statement's message would quote its parameters ("[parameters: (...)]"):
    # citizens' phone numbers, names and notes, into the log and any traceback.
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("check_same_thread", False)
    memory = parsed.database in (None, "", ":memory:")
    if memory:
        kwargs.setdefault("poolclass", StaticPool)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{int(sqlite_cache_mb) * 1024}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with new_session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
