"""The public web (no login): a page per public report, the map, the league, the feeds.

Qlue's point was a platform that makes the city's answers visible; FixMyStreet gives
every report a page and a map. What is public is decided once, in `store.public.shown`
(the rule Open311 uses too): a laporan its reporter filed as public and that was not
rejected. Everything else is a 404 that does not say whether the ticket exists.

Routes (at the root of the web app, next to the dashboard and Open311):

    /r/{ticket}                       a report's page
    /r/{ticket}/foto/{1,2,3}.jpg      its cleaned photos; /r/{ticket}/foto/sesudah.jpg after
    /peta                             the map (category, status, z, lat, lon)
    /kelurahan                        the league
    /kelurahan/{code}/feed.atom       a kelurahan's new public reports
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from lapor.bot.settings import Settings


def routes(settings: Settings, runtime: Any) -> list[BaseRoute]:
    from lapor.bot.public.app import Views

    views = Views(settings, runtime)
    return [
        Route("/r/{ticket}", views.report, methods=["GET"]),
        Route("/r/{ticket}/foto/{which}.jpg", views.photo, methods=["GET"]),
        Route("/peta", views.map, methods=["GET"]),
        Route("/kelurahan", views.league, methods=["GET"]),
        Route("/kelurahan/{code}/feed.atom", views.feed, methods=["GET"]),
        Route("/aset/publik.css", views.stylesheet, methods=["GET"]),
    ]
