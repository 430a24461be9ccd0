"""`lapor heads ...`: import the RT/RW heads list and see who has linked their chat.

Mounted by `lapor/bot/cli.py` as `lapor heads`. This is the outermost layer, so it may read
the settings from `lapor.bot` (lazily, so importing this module needs no configuration);
the rest of `lapor.incentives` must not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.engine import Engine

from lapor.incentives.heads import HeadsError, import_heads, known_kelurahan_codes, parse_heads
from lapor.incentives.quota import rupiah, unit_label
from lapor.store.db import new_session
from lapor.store.models import Head

heads_app = typer.Typer(
    help="RT/RW heads (ketua RT/RW): the list, and who has linked a chat account.",
    no_args_is_help=True,
)


def _engine() -> Engine:
    """The configured database, migrated to the latest schema before we touch it."""
    from lapor.bot.clidb import migrated_engine

    return migrated_engine()


@heads_app.command("import")
def import_file(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="CSV of RT/RW heads."
    ),
) -> None:
    """Import or re-import the heads list. Linked chat accounts are kept.

    CSV header: name,role,rt,rw,kelurahan_code,whatsapp,telegram_username (the last two
    optional), `,` or `;` separated. role is RT or RW; rt is empty for an RW head;
    kelurahan_code must be in the kelurahan registry. A file with any bad row is refused
    as a whole and every problem is listed.
    """
    engine = _engine()
    try:
        with new_session(engine) as session:
            known = known_kelurahan_codes(session)
            if not known:
                typer.secho(
                    "the kelurahan table is empty: import the registry first "
                    "(lapor kelurahan import FILE)",
                    fg=typer.colors.RED,
                    err=True,
                )
                raise typer.Exit(1)
            try:
                records = parse_heads(file, known)
            except HeadsError as exc:
                typer.secho(
                    f"{file.name}: {len(exc.errors)} problem(s), nothing imported:",
                    fg=typer.colors.RED,
                    err=True,
                )
                for error in exc.errors:
                    typer.echo(f"  {error}", err=True)
                raise typer.Exit(1) from None
            with typer.progressbar(length=len(records), label="importing") as bar:
                result = import_heads(session, records, datetime.now(UTC), progress=bar.update)
            session.commit()
    finally:
        engine.dispose()
    rt = sum(1 for r in records if r.role == "RT")
    typer.echo(
        f"{len(records)} heads in {file.name} ({rt} RT, {len(records) - rt} RW): "
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
    )


@heads_app.command("list")
def list_heads(
    kelurahan: str = typer.Option(None, "--kelurahan", help="Only heads of this kelurahan code."),
    unlinked: bool = typer.Option(
        False, "--unlinked", help="Only heads who have not linked a chat account yet."
    ),
) -> None:
    """Every head with their unit and whether their chat account is linked."""
    engine = _engine()
    try:
        with new_session(engine) as session:
            query = select(Head).order_by(
                Head.kelurahan_code,  # type: ignore[arg-type]
                Head.rw,  # type: ignore[arg-type]
                Head.rt,  # type: ignore[arg-type]  # "" first: the RW head before its RTs
            )
            if kelurahan:
                query = query.where(Head.kelurahan_code == kelurahan.strip())
            if unlinked:
                query = query.where(Head.contact_id.is_(None))  # type: ignore[union-attr]
            rows = session.execute(query).scalars().all()
    finally:
        engine.dispose()
    if not rows:
        if kelurahan or unlinked:
            typer.echo("no heads match")
        else:
            typer.echo("no heads (import a list with: lapor heads import FILE)")
        return
    width = max(len(str(row.id)) for row in rows)
    code_width = max(len("kelurahan"), *(len(row.kelurahan_code) for row in rows))
    name_width = max(len("name"), *(len(_name(row)) for row in rows))
    typer.echo(
        f"{'id':>{width}}  role  {'RT/RW':<13}  {'kelurahan':<{code_width}}  "
        f"{'name':<{name_width}}  linked"
    )
    for row in rows:
        unit = unit_label(row.role, row.rt, row.rw)
        linked = "yes" if row.contact_id is not None else "no"
        typer.echo(
            f"{row.id:>{width}}  {row.role:<4}  {unit:<13}  "
            f"{row.kelurahan_code:<{code_width}}  {_name(row):<{name_width}}  {linked}"
        )


def _name(head: Head) -> str:
    return head.name if head.active else f"{head.name} (inactive)"


STATEMENT_TABLE_HEADER = (
    "kelurahan",
    "unit",
    "name",
    "counted",
    "paid",
    "variable",
    "fixed",
    "total",
)
# Right-aligned: the counts and the amounts.
_NUMERIC = frozenset(range(3, len(STATEMENT_TABLE_HEADER)))
MAX_TABLE_NAME = 40


def statement_table(rows: list[list[object]]) -> list[str]:
    """`lapor incentives statement --format table`: the statement's rows (`statement_rows`)
    as aligned lines under a header, for reading in a terminal. Finance gets the CSV."""
    cells = [list(STATEMENT_TABLE_HEADER)]
    for row in rows:
        code, kelurahan, _, role, rw, rt, name = (str(value) for value in row[:7])
        counted, paid, _, variable, fixed, total, blocked = row[7:14]
        if role in ("SUBTOTAL", "TOTAL"):
            unit, who = role, kelurahan
        else:
            unit = unit_label(role, rt, rw)
            who = name[:MAX_TABLE_NAME] + (" (blocked)" if blocked else "")
        amounts = (rupiah(int(value)) for value in (variable, fixed, total))  # type: ignore[call-overload]
        cells.append([code, unit, who, str(counted), str(paid), *amounts])
    widths = [max(len(line[k]) for line in cells) for k in range(len(STATEMENT_TABLE_HEADER))]
    return [
        "  ".join(
            cell.rjust(width) if k in _NUMERIC else cell.ljust(width)
            for k, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]
