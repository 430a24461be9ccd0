"""The dashboard in a real browser: headless Chromium, driven by Playwright, against uvicorn.

Skipped (with the reason shown) where no Chromium is installed, except on CI (`CI` set),
where a missing browser is a failure: `.ci/run` installs it and sets LAPOR_TEST_CHROMIUM.
Screenshots go to LAPOR_TEST_ARTIFACTS when set, else to the test's tmp_path.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from tests.conftest import FakeClock
from tests.dashboard.conftest import (
    PASSWORD,
    PERSONAL,
    USERNAME,
    City,
    dashboard_settings,
    seed_city,
    seed_staff,
)
from tests.helpers import artifacts_folder, serving_in_thread

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def chromium() -> str:
    """The browser to drive; skips, or fails on CI, when there is none (checked first)."""
    path = os.environ.get("LAPOR_TEST_CHROMIUM") or "/usr/bin/chromium"
    found = shutil.which(path)
    problem = None
    if found is None:
        problem = f"no Chromium at {path} (set LAPOR_TEST_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run on CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    assert found is not None
    return found


@dataclass
class Served:
    url: str
    city: City


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[Served]:
    """The real app on 127.0.0.1 (a free port), in a background thread."""
    settings = dashboard_settings(sqlite_url, tmp_path)
    runtime = Runtime.from_settings(settings, clock=FakeClock())
    city = seed_city(runtime)
    seed_staff(runtime.engine)
    try:
        with serving_in_thread(create_app(settings, runtime=runtime)) as base:
            yield Served(base, city)
    finally:
        runtime.dispose()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    return artifacts_folder(tmp_path, "dashboard")


def _log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard/")
    assert "/dashboard/login" in page.url
    page.fill("#username", USERNAME)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Masuk')")
    page.wait_for_url(f"{base}/dashboard/")


def test_a_staff_member_works_through_the_dashboard(
    chromium: str, served: Served, artifacts: Path
) -> None:
    from playwright.sync_api import sync_playwright

    base, city = served.url, served.city
    blocked: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            # A CSP violation (an inline style, a stray script) shows up on the console.
            page.on(
                "console",
                lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
            )
            # A download ends its navigation as "aborted": that one is not a failure.
            page.on(
                "requestfailed",
                lambda r: None if ".csv" in r.url else blocked.append(f"failed: {r.url}"),
            )

            # Strangers land on the login page; a wrong password is refused there.
            page.goto(f"{base}/dashboard/reports")
            assert "/dashboard/login" in page.url
            page.screenshot(path=artifacts / "01-login.png")
            page.fill("#username", USERNAME)
            page.fill("#password", "bukan-kata-sandinya")
            page.click("button:has-text('Masuk')")
            assert "Masuk gagal" in page.inner_text(".error")

            page.fill("#password", PASSWORD)
            page.click("button:has-text('Masuk')")
            page.wait_for_url(f"{base}/dashboard/reports")

            page.click("nav >> text=Ringkasan")
            page.wait_for_url(f"{base}/dashboard/")
            assert page.inner_text("#total-laporan") == "4"
            assert page.locator("svg.chart rect.bar").count() == 30
            page.screenshot(path=artifacts / "02-overview.png", full_page=True)

            page.click("nav >> text=Peta")
            page.wait_for_url(f"{base}/dashboard/map")
            assert page.locator("svg [data-code='DEMO.02']").count() == 1
            page.screenshot(path=artifacts / "03-map.png", full_page=True)
            page.locator("svg a[href$='kelurahan=DEMO.02']").first.click()
            page.wait_for_url(f"{base}/dashboard/reports?kelurahan=DEMO.02")
            tickets = page.locator("#reports a.ticket").all_inner_texts()
            assert tickets == [city.tickets["c"], city.tickets["b"]]

            # Filter with the form: resolved reports in Gambir.
            page.goto(f"{base}/dashboard/reports")
            page.select_option("#f-kelurahan", "DEMO.01")
            page.select_option("#f-status", "resolved")
            page.click("button:has-text('Saring')")
            page.wait_for_url("**/dashboard/reports?*status=resolved*")
            assert page.locator("#reports a.ticket").all_inner_texts() == [city.tickets["a"]]
            page.screenshot(path=artifacts / "04-reports.png", full_page=True)

            # The CSV of that list, as a real download.
            with page.expect_download() as info:
                page.click("#csv-link")
            download = info.value
            assert download.suggested_filename == "laporan-2026-11-28.csv"
            raw = Path(download.path()).read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")
            rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
            assert [r["tiket"] for r in rows] == [city.tickets["a"]]
            assert not any(p in raw.decode("utf-8-sig") for p in PERSONAL)

            # The report: timeline, photos (loaded through the session), the reporter.
            page.click(f"#reports a.ticket:has-text('{city.tickets['a']}')")
            page.wait_for_url(f"{base}/dashboard/reports/{city.tickets['a']}")
            assert page.locator("#timeline tbody tr").count() == 5
            assert "Siti Aminah" in page.inner_text("#reporter")
            images = page.locator(".photos img")
            assert images.count() == 3
            for index in range(3):
                images.nth(index).scroll_into_view_if_needed()
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0",
                    arg=images.nth(index).element_handle(),
                )
            page.screenshot(path=artifacts / "05-report.png", full_page=True)

            page.click("nav >> text=Kelurahan")
            page.wait_for_url(f"{base}/dashboard/kelurahan")
            assert page.locator("#league tbody tr").count() == 5
            page.screenshot(path=artifacts / "06-kelurahan.png", full_page=True)
            page.click("nav >> text=RT/RW")
            page.wait_for_url(f"{base}/dashboard/rtrw")
            assert page.inner_text("#shortfall") == "6"
            page.screenshot(path=artifacts / "07-rtrw.png", full_page=True)

            page.click("button:has-text('Keluar')")
            page.wait_for_url(f"{base}/dashboard/login?out=1")
            assert "sudah keluar" in page.inner_text("main")
            page.goto(f"{base}/dashboard/")
            assert "/dashboard/login" in page.url
            context.close()

            # A phone: the overview fits the screen's width; wide tables scroll in their box.
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
            )
            mobile = phone.new_page()
            _log_in(mobile, base)
            mobile.screenshot(path=artifacts / "08-overview-phone.png", full_page=True)
            assert mobile.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            mobile.goto(f"{base}/dashboard/reports")
            assert mobile.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            mobile.screenshot(path=artifacts / "09-reports-phone.png", full_page=True)
            phone.close()
        finally:
            browser.close()
    assert blocked == []
