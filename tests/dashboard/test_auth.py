"""The login wall, passwords, lockout, CSRF and sessions, over HTTP against the real app."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from lapor.bot.dashboard.passwords import hash_password
from lapor.bot.runtime import Runtime
from lapor.bot.web import create_app
from lapor.store.db import new_session, transaction
from lapor.store.models import Staff, StaffSession
from tests.conftest import FakeClock
from tests.dashboard.conftest import (
    PAGES,
    PASSWORD,
    USERNAME,
    Rig,
    dashboard_settings,
    http_client,
)

GENERIC = "Masuk gagal: nama pengguna atau kata sandi salah, atau akun ini sedang dikunci"


def _error(html: str) -> str:
    start = html.index('class="error"')
    return html[start : html.index("</p>", start)]


def _staff(rig: Rig) -> Staff:
    with new_session(rig.runtime.engine) as session:
        return session.scalars(select(Staff).where(Staff.username == USERNAME)).one()


async def test_every_page_sends_strangers_to_the_login_page(rig: Rig) -> None:
    for page in PAGES:
        path = page.format(a=rig.city.tickets["a"])
        response = await rig.web.get(path)
        assert response.status_code == 303, path
        target = urlsplit(response.headers["location"])
        assert target.path == "/dashboard/login", path
        assert parse_qs(target.query)["next"] == [path]
        assert "Siti" not in response.text and "JKT-" not in response.text


async def test_the_login_page_and_its_stylesheet_are_public(rig: Rig) -> None:
    login = await rig.web.get("/dashboard/login")
    assert login.status_code == 200 and 'name="csrf"' in login.text
    css = await rig.web.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert (await rig.web.get("/dashboard")).headers["location"] == "/dashboard/"


async def test_logging_out_is_a_post_and_strangers_posting_are_sent_away(rig: Rig) -> None:
    response = await rig.web.client.post("/dashboard/logout", data={"csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login"
    assert (await rig.web.get("/dashboard/logout")).status_code == 303  # a GET logs nobody out


async def test_the_right_password_opens_the_dashboard_and_goes_where_it_was_asked(
    rig: Rig,
) -> None:
    response = await rig.web.login(next="/dashboard/reports?status=submitted")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/reports?status=submitted"
    page = await rig.web.get("/dashboard/")
    assert page.status_code == 200 and "Petugas Pemantau" in page.text
    assert _staff(rig).last_login_at == rig.clock()


async def test_after_login_it_never_leaves_the_dashboard(rig: Rig) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/elsewhere", "/dashboardx"):
        response = await rig.web.login(next=target)
        assert response.headers["location"] == "/dashboard/", target


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(rig: Rig) -> None:
    wrong = await rig.web.login(password="bukan-kata-sandinya")
    unknown = await rig.web.login(username="tidak-ada", password="bukan-kata-sandinya")
    empty = await rig.web.login(password="")
    for response in (wrong, unknown, empty):
        assert response.status_code == 401
        assert GENERIC in response.text
    assert _error(wrong.text) == _error(unknown.text)
    assert "set-cookie" not in wrong.headers or "staff" not in wrong.text
    assert (await rig.web.get("/dashboard/")).status_code == 303


async def test_repeated_wrong_passwords_lock_the_account_for_a_while(rig: Rig) -> None:
    max_failures = rig.settings.login_max_failures
    for _ in range(max_failures):
        assert (await rig.web.login(password="tebakan-yang-salah")).status_code == 401
    assert _staff(rig).locked_until is not None
    # Locked: even the right password is refused, with the same words as a wrong one.
    locked = await rig.web.login()
    assert locked.status_code == 401
    unknown = await rig.web.login(username="tidak-ada", password="tebakan-yang-salah")
    assert _error(locked.text) == _error(unknown.text)
    rig.clock.advance(minutes=rig.settings.login_lockout_minutes - 1)
    assert (await rig.web.login()).status_code == 401
    rig.clock.advance(minutes=1, seconds=1)
    assert (await rig.web.login()).status_code == 303
    staff = _staff(rig)
    assert staff.failed_logins == 0 and staff.locked_until is None


async def test_a_good_login_forgives_earlier_mistakes(rig: Rig) -> None:
    for _ in range(rig.settings.login_max_failures - 1):
        await rig.web.login(password="tebakan-yang-salah")
    assert (await rig.web.login()).status_code == 303
    assert _staff(rig).failed_logins == 0
    other = rig.browser()
    for _ in range(rig.settings.login_max_failures - 1):
        await other.login(password="tebakan-yang-salah")
    assert (await other.login()).status_code == 303  # four more misses did not lock it


async def test_a_disabled_account_cannot_log_in(rig: Rig) -> None:
    with transaction(rig.runtime.engine) as session:
        session.execute(update(Staff).values(active=False))
    response = await rig.web.login()
    assert response.status_code == 401 and GENERIC in response.text


async def test_a_login_without_this_sessions_csrf_token_is_forbidden(rig: Rig) -> None:
    await rig.web.csrf()  # the login page gives this browser its token
    for token in (None, "", "wrong-token"):
        data = {"username": USERNAME, "password": PASSWORD}
        if token is not None:
            data["csrf"] = token
        response = await rig.web.client.post("/dashboard/login", data=data)
        assert response.status_code == 403, token
        assert "CSRF" in response.text
    assert (await rig.web.get("/dashboard/")).status_code == 303


async def test_another_browsers_token_does_not_work(rig: Rig) -> None:
    stolen = await rig.browser().csrf()
    await rig.web.csrf()
    response = await rig.web.client.post(
        "/dashboard/login", data={"csrf": stolen, "username": USERNAME, "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_a_login_post_without_any_session_is_forbidden(rig: Rig) -> None:
    response = await rig.browser().client.post(
        "/dashboard/login", data={"csrf": "made-up", "username": USERNAME, "password": PASSWORD}
    )
    assert response.status_code == 403


async def test_logout_needs_the_token_and_ends_the_session(signed_in: Rig) -> None:
    web = signed_in.web
    refused = await web.client.post("/dashboard/logout", data={"csrf": "wrong"})
    assert refused.status_code == 403
    assert (await web.get("/dashboard/")).status_code == 200
    response = await web.logout()
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/login?out=1"
    assert "sudah keluar" in (await web.get("/dashboard/login?out=1")).text
    assert (await web.get("/dashboard/")).status_code == 303


async def test_logging_in_gives_a_new_csrf_token(rig: Rig) -> None:
    before = await rig.web.csrf()
    await rig.web.login()
    after = await rig.web.csrf("/dashboard/")
    assert before != after


async def test_a_session_ends_after_twelve_hours(signed_in: Rig) -> None:
    signed_in.clock.advance(hours=11, minutes=59)
    assert (await signed_in.web.get("/dashboard/")).status_code == 200
    signed_in.clock.advance(minutes=2)
    assert (await signed_in.web.get("/dashboard/")).status_code == 303


async def test_disabling_an_account_or_changing_its_password_ends_its_sessions(
    signed_in: Rig,
) -> None:
    other = signed_in.browser()
    assert (await other.login()).status_code == 303
    with transaction(signed_in.runtime.engine) as session:
        session.execute(update(Staff).values(password_hash=hash_password("kata-sandi-baru-2")))
    assert (await signed_in.web.get("/dashboard/")).status_code == 303
    assert (await other.login(password="kata-sandi-baru-2")).status_code == 303
    with transaction(signed_in.runtime.engine) as session:
        session.execute(update(Staff).values(active=False))
    assert (await other.get("/dashboard/")).status_code == 303


async def test_the_session_cookie_is_signed_scoped_and_http_only(rig: Rig) -> None:
    response = await rig.web.login()
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("lapor_dashboard=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie
    assert "max-age=43200" in cookie
    assert "secure" not in cookie  # plain http in this test; see the https test
    # A forged cookie is no session at all.
    rig.web.client.cookies.set("lapor_dashboard", "eyJzdGFmZiI6IDF9.forged.sig")
    assert (await rig.web.get("/dashboard/")).status_code == 303


async def test_behind_https_the_cookie_is_secure(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = dashboard_settings(sqlite_url, tmp_path, public_base_url="https://lapor.example.org")
    runtime = Runtime.from_settings(settings, clock=clock)
    try:
        async with http_client(create_app(settings, runtime=runtime)) as client:
            response = await client.get("/dashboard/login")
            assert "secure" in response.headers["set-cookie"].lower()
    finally:
        runtime.dispose()


async def test_without_a_secret_key_there_is_no_dashboard(
    sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = dashboard_settings(sqlite_url, tmp_path, dashboard_secret_key="")
    runtime = Runtime.from_settings(settings, clock=clock)
    try:
        async with http_client(create_app(settings, runtime=runtime)) as client:
            assert (await client.get("/dashboard/login")).status_code == 404
            assert (await client.get("/dashboard/")).status_code == 404
    finally:
        runtime.dispose()


async def test_security_headers_are_on_every_response(signed_in: Rig) -> None:
    paths = [
        "/dashboard/login",
        "/dashboard/",
        "/dashboard/reports.csv",
        f"/dashboard/photos/{signed_in.city.photos['a'][0]}",
        "/dashboard/no-such-page",
        "/dashboard/static/dashboard.css",
    ]
    for path in paths:
        response = await signed_in.web.get(path)
        headers = response.headers
        assert headers["content-security-policy"] == (
            "default-src 'self'; img-src 'self' data:; style-src 'self'"
        ), path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-content-type-options"] == "nosniff"
        expected = "no-cache" if "/static/" in path else "no-store"
        assert headers["cache-control"] == expected, path


async def test_a_cookie_copied_before_logout_opens_nothing_after_it(signed_in: Rig) -> None:
    web = signed_in.web
    copied = web.client.cookies.get("lapor_dashboard")
    assert copied and (await web.get("/dashboard/")).status_code == 200
    assert (await web.logout()).status_code == 303
    replay = signed_in.browser()
    replay.client.cookies.set("lapor_dashboard", copied)
    assert (await replay.get("/dashboard/")).status_code == 303
    with new_session(signed_in.runtime.engine) as session:
        ended = session.scalars(select(StaffSession.revoked_at)).one()
    assert ended == signed_in.clock()


async def test_each_login_is_its_own_session(signed_in: Rig) -> None:
    other = signed_in.browser()
    assert (await other.login()).status_code == 303
    assert (await other.logout()).status_code == 303
    # Logging out in one browser leaves the other's session alone.
    assert (await signed_in.web.get("/dashboard/")).status_code == 200
    assert (await other.get("/dashboard/")).status_code == 303
