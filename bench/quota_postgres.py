"""The RT/RW standings on PostgreSQL, the production store, at the size of Jakarta.

`bench/quota.py`'s population (32,700 heads, 1,000,000 reports over 12 months) is generated
into a SQLite file at revision 0008 and copied into an empty PostgreSQL database with COPY.
Upgrading that database to head fills the quota tally from the reports, as a production
upgrade would; the fill is timed. Then, interleaved, after one warm-up each:

- `standings(...)` for all heads (read from the tally), ms per call;
- the floor: the same head columns in the same order, no counts;
- the month's reports summed (`from_reports=True`, what standings did before the tally).

The database named by --url is emptied first (its public schema dropped): never point it at
data you keep. The last line of output is one JSON object:

    {"bench": "quota_postgres", "value": <standings ms>, "unit": "ms",
     "baseline": <summed ms>, "ratio": <baseline/value>, "floor_ms": ..., "fill_s": ...}

Run from the repository root (the database must exist):
``.venv/bin/python bench/quota_postgres.py --url postgresql://postgres@127.0.0.1/lapor_bench``
and ``--quick`` for a tenth of the size.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for path in (REPO_ROOT, REPO_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import numpy as np  # noqa: E402
from alembic import command  # noqa: E402
from quota import TODAY, Data  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from lapor.incentives.quota import HEAD_COLUMNS, UNIT_ORDER, QuotaRules, standings  # noqa: E402
from lapor.store.db import make_engine, new_session, normalise_url  # noqa: E402
from lapor.store.migrate import alembic_config  # noqa: E402
from lapor.store.models import Head  # noqa: E402

TABLES = ("kelurahan", "contact", "head", "report")
BOOLEANS = {"reachable", "blocked", "opted_out", "reminders_paused", "active", "public"}


def copy_tables(source: Path, url: str) -> None:
    """The generated rows, table by table, from the SQLite file into PostgreSQL."""
    engine = make_engine(url)
    raw = engine.raw_connection()
    src = sqlite3.connect(source)
    try:
        cursor = raw.cursor()
        for table in TABLES:
            names = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            flags = [i for i, n in enumerate(names) if n in BOOLEANS]
            times = [i for i, n in enumerate(names) if n.endswith("_at")]
            with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {', '.join(names)} FROM {table}"):
                    values = list(row)
                    for i in flags:
                        values[i] = None if values[i] is None else bool(values[i])
                    for i in times:  # SQLite keeps UTC without an offset
                        values[i] = None if values[i] is None else values[i] + "+00"
                    copy.write_row(values)
            # The ids came with the rows: move each sequence past them.
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
                if "id" in names
                else "SELECT 1"
            )
        raw.commit()
    finally:
        src.close()
        raw.close()
        engine.dispose()


def medians(fns: dict[str, Callable[[], Any]], runs: int) -> dict[str, list[float]]:
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="a PostgreSQL database to empty and fill")
    parser.add_argument("--quick", action="store_true", help="3,270 heads, 100,000 reports")
    args = parser.parse_args()
    url = normalise_url(args.url)
    n_heads, n_reports = (3_270, 100_000) if args.quick else (32_700, 1_000_000)

    with tempfile.TemporaryDirectory(prefix="lapor-bench-quota-pg-") as tmp:
        source = Path(tmp) / "quota.db"
        sqlite_url = f"sqlite:///{source}"
        command.upgrade(alembic_config(sqlite_url), "0008")  # no tally, no triggers
        sqlite_engine = make_engine(sqlite_url)
        data = Data(n_heads, n_reports, np.random.default_rng(20261128))
        data.fill(sqlite_engine)
        sqlite_engine.dispose()

        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        command.upgrade(alembic_config(url), "0008")
        started = time.perf_counter()
        copy_tables(source, url)
        copy_s = time.perf_counter() - started
    started = time.perf_counter()
    command.upgrade(alembic_config(url), "head")
    fill_s = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        version = conn.execute(text("SHOW server_version")).scalar_one()
        tally_rows = conn.execute(text("SELECT count(*) FROM quota_tally")).scalar_one()
    print(
        f"PostgreSQL {version}: {n_heads} heads, {n_reports} reports copied in {copy_s:.1f} s; "
        f"upgrading to head filled {tally_rows} tally rows in {fill_s:.1f} s"
    )

    rules = QuotaRules()
    floor = select(*HEAD_COLUMNS).where(Head.active).order_by(*UNIT_ORDER)

    def run(**kwargs: Any) -> Callable[[], list]:
        def call() -> list:
            with new_session(engine) as session:
                return standings(session, rules, TODAY, **kwargs)

        return call

    def heads_alone() -> list:
        with new_session(engine) as session:
            return list(session.connection().execute(floor))

    tallied, summed = run()(), run(from_reports=True)()
    expected = {i + 1: tuple(row) for i, row in enumerate(data.expected.tolist())}
    wrong = sum(1 for s in tallied if expected.get(s.head_id) != s.counts)
    wrong += sum(1 for a, b in zip(tallied, summed, strict=True) if a.counts != b.counts)
    runs = 7 if args.quick else 11
    times = medians(
        {"standings": run(), "floor": heads_alone, "summed": run(from_reports=True)}, runs
    )
    engine.dispose()
    ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
    print(
        f"standings from the tally: {ms['standings']:8.1f} ms (median of {runs}, min "
        f"{min(times['standings']) * 1000:.1f}); {wrong} heads differ from the generated counts"
    )
    print(
        f"  floor, the head rows alone: {ms['floor']:8.1f} ms; standings take "
        f"{ms['standings'] / ms['floor']:.2f}x the floor"
    )
    print(
        f"  the month's reports summed: {ms['summed']:8.1f} ms; "
        f"{ms['summed'] / ms['standings']:.1f}x the tally"
    )
    if wrong:
        print("WRONG ANSWERS: see the lines above")
    print(
        json.dumps(
            {
                "bench": "quota_postgres",
                "value": round(ms["standings"], 1),
                "unit": "ms",
                "baseline": round(ms["summed"], 1),
                "ratio": round(ms["summed"] / ms["standings"], 2),
                "floor_ms": round(ms["floor"], 1),
                "fill_s": round(fill_s, 1),
                "tally_rows": tally_rows,
                "correct": wrong == 0,
                "heads": n_heads,
                "reports": n_reports,
                "quick": args.quick,
            }
        )
    )


if __name__ == "__main__":
    main()
