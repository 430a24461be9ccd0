"""What stands between the dashboard and the internet: headers, the login wall, CSRF.

Pure ASGI middleware (not BaseHTTPMiddleware), so the CSV stream passes through chunk by
chunk instead of being collected first.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lapor.bot.dashboard.accounts import SignedIn, signed_in
from lapor.store import staff_sessions
from lapor.store.db import new_session, transaction

CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'"
CSRF_FIELD = "csrf"
# The cookie field naming the server-side session (store.staff_sessions).
SESSION_FIELD = "sid"
# Paths anyone may open: the login form and the stylesheet it needs.
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)


def route_path(scope: Scope) -> str:
    """The path inside the dashboard ("/reports"), whatever prefix it is mounted under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class SecurityHeaders:
    """Adds the dashboard's security headers to every response it sends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = route_path(scope).startswith(PUBLIC_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"
                ]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-content-type-options", b"nosniff"),
                    # Pages, CSVs and photos show citizens' reports: nothing may stay in a
                    # shared computer's cache. The stylesheet may, revalidated by its ETag.
                    (b"cache-control", b"no-cache" if static else b"no-store"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def safe_next(target: str | None, base: str) -> str:
    """Where to go after logging in: only a path inside the dashboard, never another site."""
    fallback = f"{base}/"
    if not target:
        return fallback
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith(f"{base}/")
        or target.startswith("//")
        or "\\" in target
    ):
        return fallback
    return target


class StaffOnly:
    """Everything but the login page needs a live staff session; else off to the login page.

    The cookie names a session kept on the server (`store.staff_sessions`): it is live
    until it expires (by the injected clock, so tests move time instead of waiting), is
    revoked (logout, `lapor staff disable`, a new password), or its account is disabled
    or its password changed. A copied cookie therefore dies with the session it names.
    """

    def __init__(self, app: ASGIApp, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] = scope["session"]
        staff = await self._staff(session)
        if staff is None:
            if SESSION_FIELD in session or "staff" in session:
                # Keep the CSRF token: the login page about to open needs one anyway.
                csrf = session.get(CSRF_FIELD)
                session.clear()
                if csrf:
                    session[CSRF_FIELD] = csrf
            request = Request(scope)
            base = scope.get("root_path", "")
            target = f"{base}/login"
            if request.method == "GET":
                wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                target += "?next=" + quote(wanted, safe="/")
            response: Response = RedirectResponse(target, status_code=303)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["staff"] = staff
        await self.app(scope, receive, send)

    async def _staff(self, session: dict[str, Any]) -> SignedIn | None:
        token, tag = session.get(SESSION_FIELD), session.get("tag")
        if not isinstance(token, str) or not token or not isinstance(tag, str):
            return None
        now = self.runtime.clock()
        engine = self.runtime.engine

        def lookup() -> SignedIn | None:
            with new_session(engine) as db:
                found = signed_in(db, token, tag, now)
            if found is None:
                return None
            staff, due = found
            if due is not None:
                with transaction(engine) as db:
                    staff_sessions.touch(db, due, now)
            return staff

        return await self.runtime.run_db(lookup)


def csrf_token(session: dict[str, Any]) -> str:
    """This session's CSRF token, made on first use (the login page makes it pre-login)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


FormEndpoint = Callable[[Request, FormData], Awaitable[Response]]


def csrf_protected(
    endpoint: FormEndpoint, forbidden: Callable[[Request], Response]
) -> Callable[[Request], Awaitable[Response]]:
    """A POST endpoint that runs only when the form carries this session's CSRF token.

    Every POST route is built through this, so none can forget the check.
    """

    async def checked(request: Request) -> Response:
        # Small forms only: the dashboard posts a username and a password at most.
        form = await request.form(max_files=0, max_fields=20)
        given = form.get(CSRF_FIELD)
        expected = request.session.get(CSRF_FIELD)
        if (
            not isinstance(given, str)
            or not isinstance(expected, str)
            or not expected
            or not hmac.compare_digest(given.encode(), expected.encode())
        ):
            return forbidden(request)
        return await endpoint(request, form)

    return checked
