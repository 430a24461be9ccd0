"""The `lapor` command line."""

from __future__ import annotations

import asyncio
import getpass
import logging
import re
import sys

import typer
from sqlalchemy import func, select

from lapor.bot.settings import Settings, SettingsError, load_settings
from lapor.routing.cli import kelurahan_app
from lapor.store.db import make_engine, transaction
from lapor.store.models import Category

app = typer.Typer(help="lapor: a chat reporting channel for city problems.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
categories_app = typer.Typer(help="Report categories (operator data).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(categories_app, name="categories")

app.add_typer(kelurahan_app, name="kelurahan")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


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
    """Run the Telegram bot: polling, or a webhook server when TELEGRAM_WEBHOOK_URL is set."""
    settings = _settings()
    if not settings.token():
        typer.echo(
            "TELEGRAM_BOT_TOKEN is not set, so there is no Telegram bot to run.\n"
            "Set it in .env (see .env.example), or try lapor offline with: lapor console"
        )
        raise typer.Exit(1)
    _logging(settings)
    from lapor.bot.channels.telegram import serve
    from lapor.store.migrate import upgrade

    upgrade(settings.database_url)
    asyncio.run(serve(settings))


# -- categories -------------------------------------------------------------------------------

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def _engine():  # type: ignore[no-untyped-def]
    return make_engine(_settings().database_url)


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


def main() -> None:
    app(prog_name="lapor")


if __name__ == "__main__":
    sys.exit(main())
