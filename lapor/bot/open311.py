"""Open311 GeoReport v2 (/open311/v2): other civic tools read and file reports."""

from __future__ import annotations

from typing import Any

import typer
from starlette.routing import BaseRoute

from lapor.bot.settings import Settings


def routes(settings: Settings, runtime: Any) -> list[BaseRoute]:
    return []


open311_app = typer.Typer(help="Open311 GeoReport v2: API keys.", no_args_is_help=True)
