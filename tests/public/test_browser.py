"""The public pages in a real browser: headless Chromium, driven by Playwright, against
uvicorn, on a database with public, rahasia and rejected reports.

What shows and what never shows, the map's pins, clusters and filters, a phone's width
(360 px, no sideways scrolling), no CSP violation and not one request leaving the host.
Skipped (with the reason shown) where no Chromium is installed, a failure on CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from tests.conftest import FakeClock
from tests.dashboard.conftest import dashboard_settings
from tests.dashboard.test_browser import CHROMIUM_ARGS, chromium
from tests.helpers import artifacts_folder, serving_in_thread
from tests.public.conftest import NEVER, SHOWN_NOTE, PublicCity, seed_public_city

__all__ = ["chromium"]

PAGES = ["/r/{a}", "/r/{i}", "/r/{e}", "/peta", "/peta?z=2&lat=-6.19&lon=106.83", "/kelurahan"]


@dataclass
class Served:
    url: str
    city: PublicCity


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[Served]:
    """The real app on 127.0.0.1 (a free port), in a background thread."""
    settings = dashboard_settings(sqlite_url, tmp_path)
    runtime = Runtime.from_settings(settings, clock=FakeClock())
    city = seed_public_city(runtime)
    try:
        with serving_in_thread(create_app(settings, runtime=runtime)) as base:
            yield Served(base, city)
    finally:
        runtime.dispose()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return artifacts_folder(tmp_path, "public")


class Watch:
    """Every request the pages make, CSP complaints, and requests to any other host (which
    are stopped before they leave)."""

    def __init__(self, context: Any, base: str) -> None:
        self.host = urlsplit(base).netloc
        self.outside: list[str] = []
        self.csp: list[str] = []
        self.failed: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc != self.host:
            self.outside.append(url)
            route.abort()
        else:
            route.continue_()

    def page(self, context: Any) -> Any:
        page = context.new_page()
        page.on(
            "console",
            lambda m: self.csp.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        return page


def _text(page: Any) -> str:
    return page.inner_text("body") + page.content()


def test_a_citizen_browses_the_public_pages(chromium: str, served: Served, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, city = served.url, served.city
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            watch = Watch(context, base)
            page = watch.page(context)

            # A resolved public report: its story, its photos before and after.
            page.goto(f"{base}/r/{city.ticket('a')}")
            assert page.inner_text("#status") == "Selesai"
            assert page.inner_text("#category") == "Sampah"
            assert "Catatan petugas: Sudah diangkut" in page.inner_text("#timeline")
            images = page.locator(".photos img")
            assert images.count() == 3
            for index in range(3):
                images.nth(index).scroll_into_view_if_needed()
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0",
                    arg=images.nth(index).element_handle(),
                )
            page.screenshot(path=artifacts / "01-report.png", full_page=True)

            # The officer's note shows without the reporter's name and number.
            page.goto(f"{base}/r/{city.ticket('i')}")
            assert SHOWN_NOTE in page.inner_text("#timeline")

            # Rahasia, rejected, saran and apresiasi: not found, and nothing of them shown.
            for hidden in ("h", "d", "f", "g"):
                response = page.goto(f"{base}/r/{city.ticket(hidden)}")
                assert response is not None and response.status == 404
                assert "tidak untuk umum" in page.inner_text("main")
            response = page.goto(f"{base}/r/{city.ticket('h')}/foto/1.jpg")
            assert response is not None and response.status == 404

            # The map: every public pin links to its page; b and c share a cluster.
            page.goto(f"{base}/peta")
            assert page.locator("#map svg").count() == 1
            assert page.locator("#map svg g.cluster").count() == 1
            listed = page.locator("#pins a").all_inner_texts()
            assert listed == [city.ticket(k) for k in ("c", "b", "i", "a")]
            page.screenshot(path=artifacts / "02-map.png", full_page=True)
            page.locator(f"#map svg a[href='/r/{city.ticket('a')}']").click()
            page.wait_for_url(f"{base}/r/{city.ticket('a')}")
            page.go_back()
            page.locator("#map svg g.cluster").click()
            page.wait_for_url("**/peta?z=1*")
            page.click("#zoom-out")
            page.wait_for_url(f"{base}/peta")

            # Filters with the form.
            page.select_option("#f-status", "resolved")
            page.click("button:has-text('Tampilkan')")
            page.wait_for_url("**/peta?*status=resolved*")
            assert page.locator("#pins a").all_inner_texts() == [
                city.ticket("i"),
                city.ticket("a"),
            ]
            response = page.goto(f"{base}/peta?z=99")
            assert response is not None and response.status == 400
            assert "Tingkat zoom" in page.inner_text("main")

            # The league, and a kelurahan's feed from it.
            page.goto(f"{base}/kelurahan")
            assert page.locator("#league tbody tr").count() == 5
            page.screenshot(path=artifacts / "03-kelurahan.png", full_page=True)

            # Nothing private anywhere a visitor can reach.
            for template in PAGES:
                page.goto(base + template.format(**city.tickets))
                seen = _text(page)
                for word in NEVER:
                    assert word not in seen, (template, word)
                for hidden in ("d", "f", "g", "h"):
                    assert city.ticket(hidden) not in seen, (template, hidden)
            context.close()

            # A phone 360 px wide: every page fits, wide tables scroll in their own box.
            phone = browser.new_context(
                viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
            )
            phone_watch = Watch(phone, base)
            mobile = phone_watch.page(phone)
            for n, template in enumerate(PAGES, start=1):
                mobile.goto(base + template.format(**city.tickets))
                fits = mobile.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
                assert fits, template
                mobile.screenshot(path=artifacts / f"phone-{n}.png", full_page=True)
            phone.close()
        finally:
            browser.close()
    for watched in (watch, phone_watch):
        assert watched.outside == [], "requests left the host"
        assert watched.csp == []
    assert [u for u in watch.failed if "/foto/" not in u] == []
