"""The database for operator commands: from settings, at the latest schema."""

from __future__ import annotations

import typer
from sqlalchemy.engine import Engine

from lapor.bot.settings import SettingsError, load_settings
from lapor.store.db import make_engine
from lapor.store.migrate import upgrade


def migrated_engine() -> Engine:
    """An engine on DATABASE_URL after `alembic upgrade head`; a bad setting exits 2."""
    try:
        url = load_settings().database_url
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    upgrade(url)
    return make_engine(url)
