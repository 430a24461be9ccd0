"""Shared fixtures: databases (SQLite always, PostgreSQL when configured), a settable clock.

Migrating a database takes 0.1 s on SQLite and 0.2-0.3 s on PostgreSQL, more than most tests
themselves. Each database is therefore migrated from zero once per run; every test then gets
a copy of that state: a copy of the template file on SQLite, and on PostgreSQL the tables a
test wrote emptied again (the seeded rows and the sequences put back as the migrations left
them). Tests that change the schema itself are noticed and get a fresh upgrade.
"""

from __future__ import annotations

import fcntl
import functools
import graphlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from lapor.store.db import make_engine
from lapor.store.migrate import upgrade

POSTGRES_ENV = "LAPOR_TEST_POSTGRES_URL"

# Tests that start several processes of their own and wait for them with timeouts: with
# `--dist loadgroup` (as `./dev test` runs the suite) they run one after another on one
# worker instead of beside each other, so that two of them never compete for the cores.
own_processes = pytest.mark.xdist_group("own-processes")
# A test that must have the machine to itself (the crash test: its workers are SIGKILLed and
# must come back and drain within timeouts): the other workers wait until it is done.
alone = pytest.mark.alone


@pytest.fixture(autouse=True)
def _alone_when_marked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Let a test marked `alone` run while no other worker of this run is inside a test.

    Every test holds a shared lock on a file of this run; an `alone` test takes it
    exclusively. A second lock in front (a turnstile) stops the other workers from starting
    new tests while the `alone` one waits for those already running to end.
    """
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        yield
        return
    # Each worker's temporary folder lies in one folder of the run, which pytest cleans up.
    base = tmp_path_factory.getbasetemp().parent / f"lapor-tests-{run}"
    exclusive = request.node.get_closest_marker("alone") is not None
    turnstile = _locked(f"{base}.turnstile", fcntl.LOCK_EX)
    try:
        held = _locked(f"{base}.lock", fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    finally:
        if not exclusive:
            os.close(turnstile)
    try:
        yield
    finally:
        os.close(held)
        if exclusive:
            os.close(turnstile)


def _locked(path: str, mode: int) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


class FakeClock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@functools.cache
def postgres_url() -> str | None:
    """The PostgreSQL database of this test process, made if it is missing.

    pytest-xdist runs the tests in several worker processes, and each empties and upgrades
    its database as it likes: worker `gw1` gets `<name>_gw1` beside the database the URL
    names (created from the server's maintenance database `postgres`). A run without
    workers uses the database the URL names.
    """
    url = os.environ.get(POSTGRES_ENV) or None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    parsed = make_url(url)
    own = parsed.set(database=f"{parsed.database}_{worker}")
    _create_database(parsed.set(database="postgres"), own.database or "")
    return own.render_as_string(hide_password=False)


def _create_database(maintenance: URL, name: str) -> None:
    engine = make_engine(
        maintenance.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if found.first() is None:
                conn.execute(text(f"CREATE DATABASE {_quoted(name)}"))
            # A test database need not survive a crash of the server: a commit that does not
            # wait for its WAL to reach the disk is a few milliseconds sooner, and the tests
            # commit tens of thousands of times.
            conn.execute(text(f"ALTER DATABASE {_quoted(name)} SET synchronous_commit = off"))
    finally:
        engine.dispose()


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


# The relations the migrations made, their columns, constraints and triggers. A test that
# drops or recreates any of them (a downgrade, `reset_postgres`) changes the answer and the
# next test gets a fresh upgrade. Looked up by name and oid through the catalog's indexes:
# scanning the whole catalog took 20 ms on a database dropped and rebuilt many times.
_SCHEMA_FINGERPRINT = """
WITH rel AS (
    SELECT oid, relname FROM pg_class
    WHERE relnamespace = 'public'::regnamespace AND relname = ANY(:names)
)
SELECT md5(concat_ws('|',
    (SELECT string_agg(relname || '=' || oid, ',' ORDER BY relname) FROM rel),
    (SELECT string_agg(attrelid || '.' || attname || ' ' || atttypid || ' ' || atttypmod
                       || ' ' || attnotnull, ',' ORDER BY attrelid, attnum)
     FROM pg_attribute
     WHERE attrelid IN (SELECT oid FROM rel) AND attnum > 0 AND NOT attisdropped),
    (SELECT string_agg(conname || '=' || oid, ',' ORDER BY conname)
     FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rel)),
    (SELECT string_agg(tgname || ' ' || tgenabled::text || ' ' || tgfoid, ',' ORDER BY tgname)
     FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM rel))
))
"""
_RELATIONS = "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
_SEQUENCES = "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
_FOREIGN_KEYS = """
SELECT child.relname, parent.relname
FROM pg_constraint k
JOIN pg_class child ON child.oid = k.conrelid
JOIN pg_class parent ON parent.oid = k.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace
WHERE k.contype = 'f' AND n.nspname = 'public'
"""


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _digest_sql(table: str) -> str:
    return (
        "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
        f"FROM {_quoted(table)} AS t"
    )


def _referencing_first(tables: list[str], references: list[Any]) -> list[str]:
    """The tables in an order to delete from: every table before the tables it refers to."""
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter(
        {table: set() for table in tables}
    )
    for child, parent in references:
        if child != parent:
            sorter.add(parent, child)
    try:
        return list(sorter.static_order())
    except graphlib.CycleError:
        return sorted(tables)  # _empty falls back to TRUNCATE ... CASCADE


class PostgresTemplate:
    """The PostgreSQL test database, migrated once per run and put back before each test.

    Measured here: a `CREATE DATABASE ... TEMPLATE` copy per test took 0.18 s (against 0.28 s
    for dropping the schema and upgrading), a TRUNCATE of every table 0.07 s, and deleting
    the rows of the few tables a test wrote 2-5 ms, so that is what happens. What the
    migrations left (the categories of 0002, alembic_version, where each sequence stands) is
    recorded after the upgrade and put back.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        # No server-side prepared statements: a test may drop and recreate every table.
        self.engine = make_engine(url, connect_args={"prepare_threshold": None})
        reset_postgres(url)
        upgrade(url)
        with self.engine.connect() as conn:
            self.relations = list(conn.execute(text(_RELATIONS)).scalars())
            self.fingerprint = self._fingerprint(conn)
            tables = list(conn.execute(text(_TABLES)).scalars())
            self.seeds: dict[str, tuple[list[str], list[dict[str, Any]], str]] = {}
            for table in tables:
                result = conn.execute(text(f"SELECT * FROM {_quoted(table)}"))
                rows = [dict(row) for row in result.mappings()]
                if rows:
                    digest = conn.execute(text(_digest_sql(table))).scalar_one()
                    self.seeds[table] = (list(result.keys()), rows, digest)
            self.sequences = {name: last for name, last in conn.execute(text(_SEQUENCES))}
            self.order = _referencing_first(tables, conn.execute(text(_FOREIGN_KEYS)).all())
        # One query names the tables that hold rows or differ from what the migrations left.
        probes = [
            f"SELECT '{table}' WHERE EXISTS (SELECT 1 FROM {_quoted(table)})"
            for table in tables
            if table not in self.seeds
        ]
        probes += [
            f"SELECT '{table}' WHERE ({_digest_sql(table)}) <> '{digest}'"
            for table, (_, _, digest) in self.seeds.items()
        ]
        self._written = text(" UNION ALL ".join(probes))

    def _fingerprint(self, conn: Connection) -> str:
        return conn.execute(text(_SCHEMA_FINGERPRINT), {"names": self.relations}).scalar_one()

    def _upgrade_from_zero(self) -> None:
        reset_postgres(self.url)
        upgrade(self.url)
        # The same schema again, under new oids.
        with self.engine.connect() as conn:
            self.fingerprint = self._fingerprint(conn)

    def reset(self) -> None:
        """The database exactly as a fresh upgrade leaves it."""
        with self.engine.connect() as conn:
            same_schema = self._fingerprint(conn) == self.fingerprint
        try:
            if same_schema and self._restore():
                return
        except OperationalError:
            # A lock held by a connection an earlier test left open in a transaction.
            self._end_other_connections()
            if same_schema and self._restore():
                return
        self._upgrade_from_zero()

    def _restore(self) -> bool:
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            # Deleting reports fires the quota tally's triggers, which may write the tally
            # again: look once more until nothing is left.
            for _ in range(3):
                written = list(conn.execute(self._written).scalars())
                if not written:
                    break
                self._empty(conn, written)
                for table in written:
                    if table in self.seeds:
                        self._reseed(conn, table)
            else:
                return False
            for name, last in list(conn.execute(text(_SEQUENCES))):
                if name not in self.sequences:
                    # Made while running (a month's ticket sequence): a fresh upgrade has none.
                    conn.execute(text(f"DROP SEQUENCE {_quoted(name)}"))
                    continue
                wanted = self.sequences[name]
                if last == wanted:
                    continue
                if wanted is None:
                    conn.execute(text(f"ALTER SEQUENCE {_quoted(name)} RESTART"))
                else:
                    conn.execute(text("SELECT setval(:seq, :last)"), {"seq": name, "last": wanted})
        return True

    def _empty(self, conn: Connection, tables: list[str]) -> None:
        try:
            with conn.begin_nested():
                for table in self.order:
                    if table in tables:
                        conn.execute(text(f"DELETE FROM {_quoted(table)}"))
        except IntegrityError:  # rows that refer to each other across tables
            names = ", ".join(_quoted(table) for table in tables)
            conn.execute(text(f"TRUNCATE {names} CASCADE"))

    def _reseed(self, conn: Connection, table: str) -> None:
        columns, rows, _ = self.seeds[table]
        conn.execute(text(f"DELETE FROM {_quoted(table)}"))
        insert = text(
            f"INSERT INTO {_quoted(table)} ({', '.join(map(_quoted, columns))}) "
            f"VALUES ({', '.join(f':c{i}' for i in range(len(columns)))})"
        )
        conn.execute(insert, [{f"c{i}": row[c] for i, c in enumerate(columns)} for row in rows])

    def _end_other_connections(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    def dispose(self) -> None:
        self.engine.dispose()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[PostgresTemplate]:
    url = postgres_url()
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant skipped")
    template = PostgresTemplate(url)
    yield template
    template.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated from zero once per run; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "lapor.db"
    upgrade(f"sqlite:///{path}")
    # Fold the write-ahead log into the file so that the file alone is the database.
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()
    return path


def copy_sqlite_template(template: Path, directory: Path) -> str:
    path = directory / "lapor.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return copy_sqlite_template(request.getfixturevalue("sqlite_template"), tmp_path)
    template: PostgresTemplate = request.getfixturevalue("postgres_template")
    template.reset()
    return template.url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return copy_sqlite_template(sqlite_template, tmp_path)


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()
