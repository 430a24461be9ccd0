"""The city monitoring dashboard (/dashboard): staff log in and see the city at a glance."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from lapor.bot.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/dashboard"
# The key signs session cookies: a short one can be brute-forced offline from one cookie.
MIN_SECRET_LENGTH = 32


async def _to_dashboard(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=307)


def routes(settings: Settings, runtime: Any) -> list[BaseRoute]:
    """The dashboard's routes; none when DASHBOARD_SECRET_KEY is not set.

    Without a key there is nothing to sign sessions with, and a dashboard of citizens'
    reports must never be served without a login.
    """
    secret = settings.dashboard_secret()
    if not secret:
        return []
    if len(secret) < MIN_SECRET_LENGTH:
        log.warning(
            "DASHBOARD_SECRET_KEY is shorter than %d characters: generate one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            MIN_SECRET_LENGTH,
        )
    from lapor.bot.dashboard.app import create_dashboard

    return [
        Route(PREFIX, _to_dashboard, methods=["GET"]),
        Mount(PREFIX, app=create_dashboard(settings, runtime, secret, PREFIX)),
    ]
