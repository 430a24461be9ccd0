"""The city monitoring dashboard (/dashboard): staff log in and see the city at a glance."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from lapor.bot.settings import Settings


def routes(settings: Settings, runtime: Any) -> list[BaseRoute]:
    """The dashboard's routes; none when DASHBOARD_SECRET_KEY is not set."""
    return []
