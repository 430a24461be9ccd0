"""The `lapor` command line."""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys
from pathlib import Path

import typer
from sqlalchemy import func, select

from lapor.bot.clidb import migrated_engine
from lapor.bot.dashboard.cli import staff_app
from lapor.bot.open311 import open311_app
from lapor.bot.settings import Settings, SettingsError, load_settings
from lapor.incentives.cli import heads_app
from lapor.routing.cli import kecamatan_app, kelurahan_app
from lapor.store.codes import hash_code, new_code
from lapor.store.db import transaction
from lapor.store.models import Category

app = typer.Typer(help="lapor: a chat reporting channel for city problems.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
categories_app = typer.Typer(help="Report categories (operator data).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(categories_app, name="categories")

app.add_typer(kelurahan_app, name="kelurahan")
app.add_typer(kecamatan_app, name="kecamatan")
app.add_typer(staff_app, name="staff")
app.add_typer(open311_app, name="open311")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> None:
    from lapor.bot.logs import configure

    configure(settings.log_level, settings.log_format)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Create or upgrade the schema to the latest migration."""
    from lapor.store.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from alembic import command

    from lapor.store.migrate import alembic_config

    command.check(alembic_config(_settings().database_url))
    typer.echo("models and migrations agree")


@app.command()
def console(
    user: str = typer.Option(None, "--user", "-u", help="Who you are in the chat."),
) -> None:
    """Chat with lapor in this terminal: no token, no network."""
    from lapor.bot.channels.console import chat
    from lapor.bot.runtime import Runtime
    from lapor.store.migrate import upgrade

    settings = _settings()
    logging.basicConfig(level=logging.WARNING)
    upgrade(settings.database_url)
    name = user or getpass.getuser()
    runtime = Runtime.from_settings(settings, console=True)
    try:
        asyncio.run(chat(runtime, address=name, name=name))
    finally:
        runtime.dispose()


@app.command()
def run() -> None:
    """Run the bot: Telegram (polling, or its webhook) and WhatsApp, with the dispatcher."""
    settings = _settings()
    if not settings.token() and not settings.whatsapp_enabled():
        typer.echo(
            "TELEGRAM_BOT_TOKEN is not set (nor Twilio for WhatsApp), so there is no bot to run.\n"
            "Set it in .env (see .env.example), or try lapor offline with: lapor console"
        )
        raise typer.Exit(1)
    _logging(settings)
    from lapor.bot.serve import serve
    from lapor.store.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(serve(settings))


@app.command()
def web(
    host: str = typer.Option(None, help="Listen address (default WEB_HOST)."),
    port: int = typer.Option(None, help="Listen port (default WEB_PORT)."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes on one port (PostgreSQL for more than one)."
    ),
    fd: int = typer.Option(None, hidden=True, help="A listening socket from the supervisor."),
) -> None:
    """Serve the webhooks, the dashboard and Open311 (with /healthz, /metrics); never polls."""
    settings = _settings()
    updates: dict[str, object] = {}
    if host:
        updates["web_host"] = host
    if port:
        updates["web_port"] = port
    settings = settings.model_copy(update=updates)
    _logging(settings)
    import socket

    from lapor.bot.serve import serve
    from lapor.store.migrate import upgrade

    if fd is not None:  # a worker of `--workers N`: the supervisor migrated and bound
        sock = socket.socket(fileno=fd)
        asyncio.run(serve(settings, web_only=True, sock=sock))
        return
    if workers > 1 and settings.database_url.startswith("sqlite"):
        typer.secho(
            "--workers needs PostgreSQL: SQLite allows one writer process (use lapor run).",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    upgrade(settings.database_url)
    if workers == 1:
        asyncio.run(serve(settings, web_only=True))
        return
    from lapor.bot.workers import Supervisor, listening_socket, worker_command

    listener = listening_socket(settings.web_host, settings.web_port)
    logging.getLogger(__name__).info(
        "lapor web: %s workers on %s:%s", workers, settings.web_host, settings.web_port
    )
    raise typer.Exit(Supervisor(listener, workers, worker_command(listener)).run())


# -- categories -------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _engine():  # type: ignore[no-untyped-def]
    """The configured database, at the latest schema."""
    return migrated_engine()


def _find(session, slug: str) -> Category:  # type: ignore[no-untyped-def]
    category = session.scalars(select(Category).where(Category.slug == slug)).first()
    if category is None:
        typer.secho(f"no category {slug!r} (see: lapor categories list)", fg="red", err=True)
        raise typer.Exit(1)
    return category


@categories_app.command("list")
def categories_list(all_: bool = typer.Option(False, "--all", help="Include disabled.")) -> None:
    """List categories in the order citizens see them."""
    with transaction(_engine()) as session:
        query = select(Category).order_by(Category.position, Category.id)
        for c in session.scalars(query):
            if c.active or all_:
                state = "" if c.active else "  (disabled)"
                typer.echo(f"{c.position:>3}  {c.slug:<20} {c.name_id} / {c.name_en}{state}")


@categories_app.command("add")
def categories_add(slug: str, name_id: str, name_en: str = typer.Argument(None)) -> None:
    """Add a category: SLUG "Nama Indonesia" ["English name"]."""
    if not _SLUG.match(slug):
        typer.secho("SLUG: lowercase letters, digits and '-', at most 40", fg="red", err=True)
        raise typer.Exit(2)
    with transaction(_engine()) as session:
        if session.scalars(select(Category).where(Category.slug == slug)).first():
            typer.secho(f"category {slug!r} exists already", fg="red", err=True)
            raise typer.Exit(1)
        last = session.execute(select(func.max(Category.position))).scalar() or 0
        session.add(
            Category(slug=slug, name_id=name_id, name_en=name_en or name_id, position=last + 1)
        )
    typer.echo(f"added {slug}")


@categories_app.command("rename")
def categories_rename(slug: str, name_id: str, name_en: str = typer.Argument(None)) -> None:
    """Change a category's names (reports keep their category)."""
    with transaction(_engine()) as session:
        category = _find(session, slug)
        category.name_id = name_id
        if name_en:
            category.name_en = name_en
        session.add(category)
    typer.echo(f"renamed {slug}")


@categories_app.command("disable")
def categories_disable(slug: str) -> None:
    """Stop offering a category; existing reports keep it."""
    _set_active(slug, False)


@categories_app.command("enable")
def categories_enable(slug: str) -> None:
    """Offer a disabled category again."""
    _set_active(slug, True)


def _set_active(slug: str, active: bool) -> None:
    with transaction(_engine()) as session:
        category = _find(session, slug)
        category.active = active
        session.add(category)
    typer.echo(f"{slug} {'enabled' if active else 'disabled'}")


@categories_app.command("move")
def categories_move(slug: str, position: int) -> None:
    """Put a category at POSITION (1 = first) in the list citizens see."""
    with transaction(_engine()) as session:
        ordered = list(session.scalars(select(Category).order_by(Category.position, Category.id)))
        moving = _find(session, slug)
        ordered.remove(moving)
        ordered.insert(max(0, min(position - 1, len(ordered))), moving)
        for index, category in enumerate(ordered, start=1):
            category.position = index
            session.add(category)
    typer.echo(f"{slug} is now number {max(1, min(position, len(ordered)))}")


@categories_app.command("train")
def categories_train(
    with_examples: bool = typer.Option(
        True, "--with-examples/--city-only", help="Also learn from the examples lapor ships."
    ),
    output: Path = typer.Option(
        None, "--output", help="Where to write the model (default CATEGORY_MODEL_PATH)."
    ),
) -> None:
    """Retrain category suggestions on the city's verified reports: each report's final
    category (after re-categorisation) is the label, its note the text."""
    from lapor.routing import suggest
    from lapor.store.reports import verified_notes

    settings = _settings()
    target = output or settings.category_model()
    with transaction(_engine()) as session:
        city = verified_notes(session)
        slugs = [c.slug for c in session.scalars(select(Category).order_by(Category.position))]
    shipped = suggest.shipped_examples() if with_examples else []
    try:
        result = suggest.retrain(city, shipped)
    except ValueError:
        typer.secho(
            "no verified reports with a note yet, and --city-only: nothing to learn from",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from None
    typer.echo(f"verified reports with a note: {len(city)}")
    typer.echo(f"{'category':<22}{'city':>7}{'shipped':>9}")
    for slug in sorted(set(slugs) | set(result.counts.documents), key=_order(slugs)):
        typer.echo(f"{slug:<22}{result.city[slug]:>7}{result.shipped[slug]:>9}")
    untaught = [slug for slug in slugs if slug not in result.counts.documents]
    if untaught:
        typer.echo(f"no examples, so never suggested: {', '.join(untaught)}")
    if result.accuracy is None:
        typer.echo(
            f"held-out accuracy: not measured (fewer than {suggest.MIN_HELD_OUT} city "
            "reports would be held out)"
        )
    else:
        top1, top3 = result.accuracy
        typer.echo(
            f"held-out accuracy on {result.held_out} of the city's reports: "
            f"top-1 {top1:.2f}, top-3 {top3:.2f}"
        )
        if result.shipped_accuracy is not None:
            top1, top3 = result.shipped_accuracy
            typer.echo(
                f"  the shipped model on the same reports: top-1 {top1:.2f}, top-3 {top3:.2f}"
            )
    try:
        suggest.save(result.counts, target)
    except OSError as exc:
        typer.secho(f"cannot write {target}: {exc.strerror or exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"model written to {target}; lapor suggests with it from now on")


def _order(slugs: list[str]):  # type: ignore[no-untyped-def]
    """Categories in the order citizens see them, then any others by name."""
    position = {slug: i for i, slug in enumerate(slugs)}
    return lambda slug: (position.get(slug, len(slugs)), slug)


# -- kelurahan groups, verifiers, contacts ------------------------------------------------------

verifiers_app = typer.Typer(
    help="Who may decide on reports in the admin chat.", no_args_is_help=True
)
contacts_app = typer.Typer(help="Citizens' chat identities: blocking.", no_args_is_help=True)
app.add_typer(verifiers_app, name="verifiers")
app.add_typer(contacts_app, name="contacts")


def _now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


@kelurahan_app.command("invite")
def kelurahan_invite(
    code: str,
    hours: int = typer.Option(72, help="How long the one-time code stays valid."),
) -> None:
    """Make a one-time code that binds a Telegram group to kelurahan CODE."""
    from datetime import timedelta

    from lapor.store.models import GroupInvite, Kelurahan

    one_time = new_code()
    now = _now()
    with transaction(_engine()) as session:
        kelurahan = session.get(Kelurahan, code)
        if kelurahan is None:
            typer.secho(f"no kelurahan {code!r} (see: lapor kelurahan list)", fg="red", err=True)
            raise typer.Exit(1)
        session.add(
            GroupInvite(
                kelurahan_code=code,
                code_hash=hash_code(one_time),
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        name = kelurahan.name
    typer.echo(
        f"One-time code for Kel. {name} ({code}), valid {hours} hours:\n\n"
        f"    /kelurahan {one_time}\n\n"
        "An officer sends that line in the kelurahan's Telegram group, with the bot added.\n"
        "The code is stored hashed: this is the only time it is shown."
    )


@kelurahan_app.command("unbind")
def kelurahan_unbind(code: str) -> None:
    """Stop sending kelurahan CODE's reports to its group (they wait in the admin chat)."""
    from sqlalchemy import update

    from lapor.store.models import Kelurahan

    with transaction(_engine()) as session:
        result = session.execute(
            update(Kelurahan)
            .where(Kelurahan.code == code)
            .values(chat_id=None, chat_title=None, bound_at=None)
        )
        if not result.rowcount:
            typer.secho(f"no kelurahan {code!r}", fg="red", err=True)
            raise typer.Exit(1)
    typer.echo(f"{code}: no group bound")


@verifiers_app.command("add")
def verifiers_add(telegram_id: int, name: str = typer.Option(None, help="Who this is.")) -> None:
    """Allow a Telegram user (numeric id) to decide on reports."""
    from lapor.store.models import Verifier

    with transaction(_engine()) as session:
        verifier = session.get(Verifier, telegram_id)
        if verifier is None:
            session.add(Verifier(telegram_id=telegram_id, name=name, added_at=_now()))
        else:
            verifier.active = True
            verifier.name = name or verifier.name
            session.add(verifier)
    typer.echo(f"verifier {telegram_id} added")


@verifiers_app.command("remove")
def verifiers_remove(telegram_id: int) -> None:
    """Withdraw a verifier (their past decisions stay in the history)."""
    from lapor.store.models import Verifier

    with transaction(_engine()) as session:
        verifier = session.get(Verifier, telegram_id)
        if verifier is None:
            typer.secho(f"no verifier {telegram_id}", fg="red", err=True)
            raise typer.Exit(1)
        verifier.active = False
        session.add(verifier)
    typer.echo(f"verifier {telegram_id} removed")


@verifiers_app.command("list")
def verifiers_list() -> None:
    """The active verifiers."""
    from lapor.store.models import Verifier

    with transaction(_engine()) as session:
        for v in session.scalars(select(Verifier).where(Verifier.active)):
            typer.echo(f"{v.telegram_id:>14}  {v.name or '-'}")


def _contact(session, channel: str, address: str):  # type: ignore[no-untyped-def]
    from lapor.store.models import Contact

    contact = session.scalars(
        select(Contact).where(Contact.channel == channel, Contact.address == address)
    ).first()
    if contact is None:
        typer.secho(f"no contact {channel}:{address}", fg="red", err=True)
        raise typer.Exit(1)
    return contact


@contacts_app.command("block")
def contacts_block(
    channel: str, address: str, reason: str = typer.Option(..., help="Kept in the history.")
) -> None:
    """Block a contact: they are told politely, and nothing they send is forwarded."""
    from lapor.store.models import ContactEvent

    with transaction(_engine()) as session:
        contact = _contact(session, channel, address)
        contact.blocked, contact.blocked_reason = True, reason
        session.add(contact)
        session.add(
            ContactEvent(contact_id=contact.id, at=_now(), actor="cli", action="block", note=reason)
        )
    typer.echo(f"{channel}:{address} blocked")


@contacts_app.command("unblock")
def contacts_unblock(channel: str, address: str) -> None:
    """Restore a blocked contact."""
    from lapor.store.models import ContactEvent

    with transaction(_engine()) as session:
        contact = _contact(session, channel, address)
        contact.blocked, contact.blocked_reason = False, None
        session.add(contact)
        session.add(ContactEvent(contact_id=contact.id, at=_now(), actor="cli", action="unblock"))
    typer.echo(f"{channel}:{address} unblocked")


# -- RT/RW heads and incentives -----------------------------------------------------------------

incentives_app = typer.Typer(
    help="RT/RW quota standings and allowance statements.", no_args_is_help=True
)
app.add_typer(heads_app, name="heads")
app.add_typer(incentives_app, name="incentives")


@heads_app.command("invite")
def heads_invite(
    kelurahan: str = typer.Option(None, help="Only heads of this kelurahan."),
    head: int = typer.Option(None, help="Only this head (id from lapor heads list)."),
    days: int = typer.Option(14, help="How long the codes stay valid."),
    relink: bool = typer.Option(False, help="Also heads already linked (a new phone)."),
) -> None:
    """One-time link codes for heads, as CSV: hand each head their own line."""
    import csv
    from datetime import timedelta

    from lapor.handlers.heads import LINK_PREFIX
    from lapor.store.models import Head, HeadInvite

    settings = _settings()
    now = _now()
    writer = csv.writer(sys.stdout)
    writer.writerow(
        [
            "head_id",
            "role",
            "rw",
            "rt",
            "kelurahan_code",
            "name",
            "code",
            "whatsapp",
            "telegram_link",
            "expires",
        ]
    )
    with transaction(_engine()) as session:
        query = select(Head).where(Head.active).order_by(Head.kelurahan_code, Head.rw, Head.rt)
        if kelurahan:
            query = query.where(Head.kelurahan_code == kelurahan)
        if head is not None:
            query = query.where(Head.id == head)
        if not relink:
            query = query.where(Head.contact_id.is_(None))
        for h in session.scalars(query):
            code = new_code()
            expires = now + timedelta(days=days)
            session.add(
                HeadInvite(
                    head_id=h.id, code_hash=hash_code(code), created_at=now, expires_at=expires
                )
            )
            link = ""
            if settings.telegram_bot_username:
                link = f"https://t.me/{settings.telegram_bot_username}?start={LINK_PREFIX}{code}"
            writer.writerow(
                [
                    h.id,
                    h.role,
                    h.rw,
                    h.rt,
                    h.kelurahan_code,
                    h.name,
                    code,
                    f"DAFTAR {code}",
                    link,
                    expires.date().isoformat(),
                ]
            )


def _month(value: str) -> tuple[int, int]:
    try:
        year, month = (int(x) for x in value.split("-"))
        if not 1 <= month <= 12:
            raise ValueError
    except ValueError:
        typer.secho("--month: use YYYY-MM, e.g. 2026-11", fg="red", err=True)
        raise typer.Exit(2) from None
    return year, month


@incentives_app.command("statement")
def incentives_statement(
    month: str = typer.Option(..., help="YYYY-MM"),
    format: str = typer.Option("csv", help="csv (for finance) or table"),
) -> None:
    """A month's allowance per head: counted reports, capped variable part, fixed, total."""
    import csv

    from lapor.incentives.cli import statement_table
    from lapor.incentives.quota import STATEMENT_COLUMNS, statement, statement_rows

    if format not in ("csv", "table"):
        typer.secho("--format: csv or table", fg="red", err=True)
        raise typer.Exit(2)
    settings = _settings()
    year, number = _month(month)
    with transaction(_engine()) as session:
        rows = statement_rows(statement(session, settings.quota_rules(), year, number))
    if format == "csv":
        # A BOM, so spreadsheet programs open the names (with their accents) as UTF-8.
        sys.stdout.write("\ufeff")
        writer = csv.writer(sys.stdout)
        writer.writerow(STATEMENT_COLUMNS)
        writer.writerows(rows)
        return
    for line in statement_table(rows):
        typer.echo(line)


@incentives_app.command("standings")
def incentives_standings(kelurahan: str = typer.Option(None)) -> None:
    """Today's standing of every head (WIB): counted, waiting, shortfall, estimated allowance."""
    from lapor.incentives.quota import local_day, rupiah, standings

    settings = _settings()
    rules = settings.quota_rules()
    with transaction(_engine()) as session:
        rows = standings(session, rules, local_day(_now(), rules))
    for s in rows:
        if kelurahan and s.kelurahan_code != kelurahan:
            continue
        typer.echo(
            f"{s.kelurahan_code:<14} {s.unit:<14} {s.name[:30]:<30} today {s.today_counted}"
            f" (+{s.today_waiting} waiting) short {s.shortfall}  month {s.month_counted}"
            f"  {rupiah(s.allowance)}" + ("  (blocked: nothing counts)" if s.blocked else "")
        )


@incentives_app.command("tally")
def incentives_tally(
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Rewrite the tally from the reports (writers wait meanwhile)."
    ),
) -> None:
    """Check the quota tally against the reports, or rebuild it.

    The database keeps the tally by itself (triggers on the report table). A check is for
    after a restore or a hand edit; it lists what disagrees and exits 1 if anything does.
    """
    from lapor.incentives import tally

    with transaction(_engine()) as session:
        if rebuild:
            rows = tally.rebuild(session)
            typer.echo(f"quota tally rebuilt from the reports: {rows} rows")
            return
        wrong = tally.differences(session)
    if not wrong:
        typer.echo("quota tally agrees with the reports")
        return
    typer.secho(f"quota tally: {len(wrong)} rows disagree with the reports", fg="red", err=True)
    for d in wrong[:20]:
        typer.echo(
            f"  period {d.period} contact {d.contact_id}: counted/waiting/not counted "
            f"{'/'.join(map(str, d.found))}, reports say {'/'.join(map(str, d.expected))}",
            err=True,
        )
    if len(wrong) > 20:
        typer.echo(f"  ... and {len(wrong) - 20} more", err=True)
    typer.echo("fix with: lapor incentives tally --rebuild", err=True)
    raise typer.Exit(1)


@app.command()
def dispatch() -> None:
    """Send what is in the outbox (run any number of these on PostgreSQL)."""
    settings = _settings()
    _logging(settings)
    from lapor.bot.serve import dispatch_only
    from lapor.store.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(dispatch_only(settings))


@app.command()
def scheduler() -> None:
    """Run the scheduled jobs alone (reminders go to the outbox; a dispatcher sends them)."""
    settings = _settings()
    _logging(settings)
    from lapor.bot.runtime import Runtime
    from lapor.bot.scheduler import build_scheduler
    from lapor.bot.serve import stop_on_signals
    from lapor.store.migrate import upgrade

    upgrade(settings.database_url)

    async def main() -> None:
        from lapor.bot.leader import Leadership, lead_when_possible

        runtime = Runtime.from_settings(settings)
        jobs = build_scheduler(runtime)
        leadership = Leadership(runtime.engine)
        stop = stop_on_signals()
        try:
            # Several `lapor scheduler` processes may run: one leads, the rest stand by.
            await lead_when_possible(leadership, stop, jobs.start)
            await stop.wait()
        finally:
            if jobs.running:
                jobs.shutdown(wait=False)
            leadership.release()
            runtime.dispose()

    asyncio.run(main())


outbox_app = typer.Typer(help="The outbox of outgoing messages.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("purge")
def outbox_purge(
    days: int = typer.Option(30, min=1, help="Keep finished messages of the last DAYS days."),
) -> None:
    """Delete sent, cancelled and failed messages older than DAYS, and old receipts."""
    from datetime import timedelta

    from sqlalchemy import delete

    from lapor.store import outbox
    from lapor.store.models import InboundReceipt

    cutoff = _now() - timedelta(days=days)
    with transaction(_engine()) as session:
        messages = outbox.purge(session, cutoff)
        # Platforms redeliver within minutes or hours, never after DAYS days.
        receipts = session.execute(
            delete(InboundReceipt).where(InboundReceipt.received_at < cutoff)
        ).rowcount
    typer.echo(f"purged {messages} messages and {receipts} inbound receipts older than {days} days")


def main() -> None:
    """`lapor`: a database that cannot be used is one line for the operator, not a traceback."""
    from sqlalchemy.exc import OperationalError

    from lapor.store.db import DatabaseUrlError

    try:
        app(prog_name="lapor")
    except DatabaseUrlError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        # The driver's first line says why (refused, unknown database, bad password);
        # the rest is hints and the statement, which may hold data.
        said = str(exc.orig if exc.orig is not None else exc).strip()
        reason = said.splitlines()[0] if said else type(exc).__name__
        typer.secho(f"cannot use the database (DATABASE_URL): {reason}", fg="red", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    sys.exit(main())
