"""`lapor kelurahan ...`: import the registry, try a point, list and remove kelurahan.
`lapor kecamatan ...`: bind the kecamatan chats that escalations of missed deadlines go to.

Mounted by `lapor/bot/cli.py`. This is the outermost layer, so it may read the settings
from `lapor.bot`; the rest of `lapor.routing` must not.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from lapor.routing.locate import DEFAULT_GAP_M, DEFAULT_POINT_CUTOFF_M, Location
from lapor.routing.registry import (
    RegistryError,
    RemoveRefused,
    import_registry,
    is_demo,
    load_index,
    parse_registry,
    remove_kelurahan,
)
from lapor.store.db import new_session
from lapor.store.models import KecamatanChat, Kelurahan

kelurahan_app = typer.Typer(
    help="The kelurahan registry: where reports are routed.", no_args_is_help=True
)


def _engine() -> Engine:
    """The configured database, migrated to the latest schema before we touch it."""
    from lapor.bot.clidb import migrated_engine

    return migrated_engine()


@kelurahan_app.command("import")
def import_file(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="GeoJSON boundaries or CSV points."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the file and count changes without saving anything."
    ),
) -> None:
    """Import or re-import the registry. Bound groups (destination chats) are kept.

    GeoJSON: a FeatureCollection of Polygon/MultiPolygon features with properties code,
    kelurahan, kecamatan, kota (lat, lon optional). CSV: code,kelurahan,kecamatan,kota,lat,lon.
    A file with any bad row is refused as a whole and every problem is listed. A CSV
    (points only) keeps boundaries imported earlier.
    """
    try:
        records = parse_registry(file)
    except RegistryError as exc:
        typer.secho(
            f"{file.name}: {len(exc.errors)} problem(s), nothing imported:",
            fg=typer.colors.RED,
            err=True,
        )
        for error in exc.errors:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1) from None
    with_boundary = sum(1 for r in records if r.geometry is not None)
    engine = _engine()
    try:
        with new_session(engine) as session:
            with typer.progressbar(length=len(records), label="importing") as bar:
                result = import_registry(session, records, datetime.now(UTC), progress=bar.update)
            if dry_run:
                session.rollback()
            else:
                session.commit()
    finally:
        engine.dispose()
    verb = "would be" if dry_run else "were"
    typer.echo(
        f"{len(records)} kelurahan in {file.name} ({with_boundary} with boundaries): "
        f"{result.added} added, {result.updated} updated, {result.unchanged} unchanged"
        + (" (dry run: nothing saved)" if dry_run else "")
    )
    if result.added or result.updated:
        typer.echo(f"Changes {verb} applied; bound groups are unchanged.")
    if result.demo_removed:
        typer.echo(
            f"The demo registry {'would be' if dry_run else 'was'} replaced: "
            f"{result.demo_removed} demo kelurahan removed."
        )
    if result.demo_kept:
        typer.echo(
            f"{result.demo_kept} demo kelurahan {'would stay' if dry_run else 'stay'} as the "
            "history of their reports or heads; reports are no longer routed to them."
        )


def _coordinates(values: list[str]) -> tuple[float, float]:
    parts = [p for p in re.split(r"[,\s]+", " ".join(values).strip()) if p]
    if len(parts) != 2:
        raise typer.BadParameter("give LAT LON, e.g. -6.1754 106.8272")
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise typer.BadParameter(f"not numbers: {' '.join(parts)}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise typer.BadParameter(f"not a coordinate (latitude first): {lat} {lon}")
    return lat, lon


@kelurahan_app.command(
    "locate", context_settings={"ignore_unknown_options": True, "allow_extra_args": False}
)
def locate_point(
    coordinates: list[str] = typer.Argument(
        ...,
        metavar="LAT LON",
        help="Latitude and longitude (or 'LAT,LON' as copied from a map); negatives are fine.",
    ),
) -> None:
    """Which kelurahan a point is routed to, and how it was decided."""
    lat, lon = _coordinates(coordinates)
    engine = _engine()
    try:
        with new_session(engine) as session:
            index = load_index(session)
    finally:
        engine.dispose()
    if len(index) == 0:
        typer.secho(
            "the kelurahan table is empty: import a registry first (lapor kelurahan import FILE)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(_describe(index.locate(lat, lon), index.has_boundaries))


def _describe(location: Location, boundaries: bool) -> str:
    if location.kelurahan is None:
        reach = (
            f"no kelurahan boundary within {DEFAULT_GAP_M:.0f} m"
            if boundaries
            else f"no kelurahan point within {DEFAULT_POINT_CUTOFF_M:.0f} m"
        )
        return f"outside the service area ({reach})"
    k = location.kelurahan
    lines = [
        f"code:      {k.code}",
        f"kelurahan: {k.name}",
        f"kecamatan: {k.kecamatan}",
        f"kota:      {k.kota}",
        f"how:       {location.how}",
        f"distance:  {location.distance_m:.0f} m",
    ]
    if location.neighbours:
        near = ", ".join(f"{n.code} {n.name}" for n in location.neighbours)
        lines.append(f"also near: {near}")
    return "\n".join(lines)


@kelurahan_app.command("list")
def list_kelurahan(
    kota: str = typer.Option(None, "--kota", help="Only kelurahan whose kota contains this."),
) -> None:
    """Every kelurahan, with the group its reports go to ("-": no group bound yet)."""
    engine = _engine()
    try:
        with new_session(engine) as session:
            query = select(Kelurahan).order_by(Kelurahan.code)
            if kota:
                query = query.where(Kelurahan.kota.ilike(f"%{kota}%"))  # type: ignore[attr-defined]
            rows = session.execute(query).scalars().all()
    finally:
        engine.dispose()
    if not rows:
        typer.echo("no kelurahan (import a registry with: lapor kelurahan import FILE)")
        return
    real = any(not is_demo(row.code) for row in rows)
    for row in rows:
        chat = "-"
        if row.chat_id is not None:
            chat = f"{row.chat_title} [{row.chat_id}]" if row.chat_title else str(row.chat_id)
        # Demo kelurahan left beside a real registry keep their reports' history only.
        note = "  (demo, history only: not routed)" if real and is_demo(row.code) else ""
        typer.echo(f"{row.code}  {row.name}  ({row.kecamatan})  {chat}{note}")


@kelurahan_app.command("remove")
def remove(
    code: str = typer.Argument(..., help="The kelurahan's code, as in lapor kelurahan list."),
    force: bool = typer.Option(
        False, "--force", help="Also when a group is bound or an unused group invite is valid."
    ),
) -> None:
    """Remove a kelurahan from the registry, with its group invites.

    Refused while reports or RT/RW heads refer to it (they keep it as their history), and,
    unless --force, while a Telegram group is bound to it or an unused invite is valid.
    Restart the running bot afterwards, as after an import.
    """
    code = code.strip()
    engine = _engine()
    try:
        with new_session(engine) as session:
            try:
                remove_kelurahan(session, code, datetime.now(UTC), force=force)
            except KeyError:
                typer.secho(
                    f"no kelurahan {code!r} (see: lapor kelurahan list)",
                    fg=typer.colors.RED,
                    err=True,
                )
                raise typer.Exit(1) from None
            except RemoveRefused as exc:
                typer.secho(str(exc), fg=typer.colors.RED, err=True)
                raise typer.Exit(1) from None
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"{code} removed (restart the bot to route without it)")


# -- kecamatan chats ----------------------------------------------------------------------------

kecamatan_app = typer.Typer(
    help="Kecamatan chats: where missed follow-up deadlines of their kelurahan are escalated.",
    no_args_is_help=True,
)


def _kecamatan_names(session: Session) -> dict[str, str]:
    """Every kecamatan of the registry: a loose key (case and spacing) -> its spelling."""
    names = session.scalars(select(Kelurahan.kecamatan).distinct()).all()
    return {_loose(name): name for name in names}


def _loose(name: str) -> str:
    return " ".join(name.casefold().split())


def _bound(session: Session, name: str) -> KecamatanChat | None:
    """The binding of `name`, matched like the registry (case and spacing do not matter)."""
    key = _loose(name)
    for row in session.scalars(select(KecamatanChat)):
        if _loose(row.kecamatan) == key:
            return row
    return None


@kecamatan_app.command(
    "bind", context_settings={"ignore_unknown_options": True, "allow_extra_args": False}
)
def kecamatan_bind(
    name: str = typer.Argument(
        ..., metavar="NAME", help="The kecamatan, as in the registry (any case)."
    ),
    chat_id: int = typer.Argument(
        ..., metavar="CHAT_ID", help="The Telegram group's id (negative, e.g. -1001234567890)."
    ),
    title: str = typer.Option(None, "--title", help="A name for the group, shown in lists."),
) -> None:
    """Send escalations of kecamatan NAME's kelurahan to the Telegram group CHAT_ID too."""
    if chat_id >= 0:
        raise typer.BadParameter(
            "a Telegram group id is negative (e.g. -1001234567890)", param_hint="CHAT_ID"
        )
    engine = _engine()
    try:
        with new_session(engine) as session:
            spelling = _kecamatan_names(session).get(_loose(name))
            if spelling is None:
                typer.secho(
                    f"no kecamatan {name!r} in the kelurahan registry (see: lapor kecamatan list)",
                    fg=typer.colors.RED,
                    err=True,
                )
                raise typer.Exit(1)
            row = _bound(session, spelling) or KecamatanChat(kecamatan=spelling, chat_id=chat_id)
            row.kecamatan, row.chat_id = spelling, chat_id
            row.chat_title = title or None
            row.bound_at = datetime.now(UTC)
            session.add(row)
            kelurahan_group = session.scalars(
                select(Kelurahan.name).where(Kelurahan.chat_id == chat_id)
            ).first()
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"Kec. {spelling}: escalations also go to {_chat(chat_id, title)}")
    if kelurahan_group is not None:
        typer.secho(
            f"note: that group is also Kel. {kelurahan_group}'s group", fg=typer.colors.YELLOW
        )


@kecamatan_app.command("unbind")
def kecamatan_unbind(name: str) -> None:
    """Stop sending escalations to kecamatan NAME's group (the admin chat still gets them)."""
    engine = _engine()
    try:
        with new_session(engine) as session:
            row = _bound(session, name)
            if row is None:
                typer.secho(f"no chat bound for kecamatan {name!r}", fg=typer.colors.RED, err=True)
                raise typer.Exit(1)
            spelling = row.kecamatan
            session.delete(row)
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"Kec. {spelling}: no group bound")


@kecamatan_app.command("list")
def kecamatan_list() -> None:
    """Every kecamatan of the registry, its number of kelurahan and its group ("-": none)."""
    engine = _engine()
    try:
        with new_session(engine) as session:
            counts = session.execute(
                select(Kelurahan.kecamatan, func.count())
                .group_by(Kelurahan.kecamatan)
                .order_by(Kelurahan.kecamatan)
            ).all()
            chats = {row.kecamatan: row for row in session.scalars(select(KecamatanChat))}
    finally:
        engine.dispose()
    if not counts and not chats:
        typer.echo("no kecamatan (import a registry with: lapor kelurahan import FILE)")
        return
    for kecamatan, count in counts:
        chat = chats.pop(kecamatan, None)
        bound = _chat(chat.chat_id, chat.chat_title) if chat else "-"
        typer.echo(f"{kecamatan}  ({count} kelurahan)  {bound}")
    # Bound before a re-import renamed or dropped the kecamatan: escalations cannot reach it.
    for chat in chats.values():
        typer.echo(
            f"{chat.kecamatan}  (not in the registry)  {_chat(chat.chat_id, chat.chat_title)}"
        )


def _chat(chat_id: int, title: str | None) -> str:
    return f"{title} [{chat_id}]" if title else str(chat_id)
