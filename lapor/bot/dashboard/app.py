"""The dashboard's pages, CSV exports and photos, as one Starlette app mounted at /dashboard.

Every page is rendered on the server from Jinja2 templates; the only static file is the
stylesheet. Database work runs on the runtime's database threads (`runtime.run_db`),
password hashing on a thread of its own, so neither stalls the webhooks sharing the loop.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from lapor.bot.dashboard import accounts, csvout
from lapor.bot.dashboard.charts import bar_chart
from lapor.bot.dashboard.passwords import (
    MAX_LENGTH,
    burn_time,
    hash_password,
    needs_rehash,
    verify_password,
)
from lapor.bot.dashboard.queries import (
    CHANNELS,
    CSV_CHUNK,
    KINDS,
    PAGE_NUMBER,
    STATUS_CHOICES,
    FilterError,
    ReportFilters,
    ReportRow,
    filter_choices,
    list_reports,
    parse_filters,
    photo_path,
    report_chunk,
    report_detail,
)
from lapor.bot.dashboard.security import (
    SESSION_FIELD,
    SecurityHeaders,
    StaffOnly,
    csrf_protected,
    csrf_token,
    safe_next,
)
from lapor.bot.formats import decimal as _decimal
from lapor.bot.formats import hours as _hours
from lapor.bot.formats import number as _number
from lapor.bot.formats import percent as _percent
from lapor.bot.formats import status_label as _status_label
from lapor.bot.settings import Settings
from lapor.handlers.texts import day_text, month_name
from lapor.incentives import quota
from lapor.routing.svgmap import MapArea, load_areas, render_map
from lapor.store import staff_sessions, stats
from lapor.store.db import new_session, transaction
from lapor.store.lifecycle import STATUSES

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
SESSION_MAX_AGE = timedelta(hours=12)  # a working day and some: staff log in once a shift
COOKIE = "lapor_dashboard"
OVERVIEW_DAYS = 30
RTRW_PAGE = 100
# League periods: "" is all time; the others count laporan submitted in the last N WIB days.
PERIODS = {"": "Sepanjang waktu", "30": "30 hari terakhir", "90": "90 hari", "365": "1 tahun"}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _environment(zone: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not a blank
    )

    def wib(value: datetime | None) -> str:
        if value is None:
            return "–"
        local = value.astimezone(zone)
        return f"{day_text(local.date(), 'id')}, {local:%H.%M}"

    env.filters.update(
        wib=wib,
        day=lambda day: day_text(day, "id"),
        number=_number,
        decimal=_decimal,
        hours=_hours,
        percent=_percent,
        rupiah=quota.rupiah,
        status_label=_status_label,
        kind_label=lambda kind: KINDS.get(kind, kind),
        channel_label=lambda channel: CHANNELS.get(channel, channel),
    )
    return env


def _wib_text(value: datetime | None, zone: ZoneInfo) -> str:
    """A CSV timestamp: sortable, and Excel reads it as a date."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


REPORT_CSV_HEADER = (
    "tiket",
    "dibuat_wib",
    "jenis",
    "kategori",
    "kode_kelurahan",
    "kelurahan",
    "status",
    "status_label",
    "kanal",
    "lintang",
    "bujur",
    "lewat_batas_verifikasi",
    "lewat_batas_tindak_lanjut",
)


def report_csv_row(row: ReportRow, zone: ZoneInfo) -> list[object]:
    return [
        row.ticket,
        _wib_text(row.created_at, zone),
        row.kind,
        row.category or "",
        row.kelurahan_code or "",
        row.kelurahan or "",
        row.status,
        row.status_label,
        row.channel,
        row.latitude,
        row.longitude,
        _wib_text(row.verify_breached_at, zone),
        _wib_text(row.followup_breached_at, zone),
    ]


class Views:
    """The endpoints, sharing settings, runtime, templates and time zone."""

    def __init__(self, settings: Settings, runtime: Any) -> None:
        self.runtime = runtime
        self.zone = ZoneInfo(settings.timezone)
        self.rules = settings.quota_rules()
        self.max_failures = settings.login_max_failures
        self.lockout = timedelta(minutes=settings.login_lockout_minutes)
        self.templates = Jinja2Templates(env=_environment(self.zone))

    # -- plumbing -------------------------------------------------------------------------

    async def db(self, function: Callable[..., T], *args: Any) -> T:
        """`function(session, *args)` in a fresh read session on a database thread."""

        def work() -> T:
            with new_session(self.runtime.engine) as session:
                return function(session, *args)

        return await self.runtime.run_db(work)

    async def write(self, function: Callable[..., T], *args: Any) -> T:
        """Like `db`, in a transaction that commits."""

        def work() -> T:
            with transaction(self.runtime.engine) as session:
                return function(session, *args)

        return await self.runtime.run_db(work)

    def today(self) -> date:
        return self.runtime.clock().astimezone(self.zone).date()

    def page(
        self, request: Request, template: str, status_code: int = 200, **context: Any
    ) -> Response:
        context.update(
            base=request.scope.get("root_path", ""),
            staff=getattr(request.state, "staff", None),
            csrf=csrf_token(request.session),
        )
        context.setdefault("nav", "")
        return self.templates.TemplateResponse(request, template, context, status_code=status_code)

    def problem(
        self, request: Request, status_code: int, title: str, messages: list[str]
    ) -> Response:
        return self.page(request, "error.html", status_code, title=title, messages=messages, nav="")

    def forbidden(self, request: Request) -> Response:
        return self.problem(
            request,
            403,
            "Permintaan ditolak",
            [
                "Formulir ini kedaluwarsa atau tidak berasal dari dasbor (token CSRF tidak "
                "cocok). Muat ulang halaman, lalu coba lagi."
            ],
        )

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.problem(
            request, 404, "Tidak ditemukan", ["Halaman atau laporan ini tidak ada."]
        )

    # -- logging in and out -----------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        return self.page(
            request,
            "login.html",
            next=request.query_params.get("next", ""),
            username="",
            error=None,
            logged_out="out" in request.query_params,
        )

    async def login(self, request: Request, form: FormData) -> Response:
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")
        base = request.scope.get("root_path", "")
        target = safe_next(str(form.get("next") or ""), base)
        now = self.runtime.clock()
        signed = None
        if username and password and len(password) <= MAX_LENGTH:
            signed = await self._check(username, password, now)
        if signed is None:
            return self.page(
                request,
                "login.html",
                401,
                next=target,
                username=username,
                error=(
                    "Masuk gagal: nama pengguna atau kata sandi salah, atau akun ini sedang "
                    f"dikunci karena {self.max_failures} kali salah kata sandi. Jika terkunci, "
                    f"coba lagi setelah {int(self.lockout.total_seconds() // 60)} menit."
                ),
                logged_out=False,
            )
        staff_id, tag = signed
        token = await self.write(staff_sessions.open_session, staff_id, now, SESSION_MAX_AGE)
        # A fresh session on login: nothing from before (CSRF token included) carries over.
        request.session.clear()
        request.session.update({SESSION_FIELD: token, "tag": tag})
        csrf_token(request.session)
        return RedirectResponse(target, status_code=303)

    async def _check(self, username: str, password: str, now: datetime) -> tuple[int, str] | None:
        """(staff id, session tag) if the password is right and the account may log in."""
        attempt = await self.write(
            accounts.claim_attempt, username, now, self.max_failures, self.lockout
        )
        if attempt is None:
            await asyncio.to_thread(burn_time, password)
            return None
        if not await asyncio.to_thread(verify_password, password, attempt.password_hash):
            await self.write(accounts.record_failure, attempt, now, self.max_failures, self.lockout)
            return None
        new_hash = None
        if needs_rehash(attempt.password_hash):
            new_hash = await asyncio.to_thread(hash_password, password)
        done = await self.write(accounts.record_success, attempt, now, new_hash)
        if done is None:
            return None
        return attempt.staff_id, done[2]

    async def logout(self, request: Request, form: FormData) -> Response:
        # Ended on the server too: a copy of this cookie opens nothing afterwards.
        token = request.session.get(SESSION_FIELD)
        if isinstance(token, str) and token:
            await self.write(staff_sessions.revoke_session, token, self.runtime.clock())
        request.session.clear()
        base = request.scope.get("root_path", "")
        return RedirectResponse(f"{base}/login?out=1", status_code=303)

    # -- overview and map ---------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        now = self.runtime.clock()
        data = await self.db(stats.overview, now, self.zone, OVERVIEW_DAYS)
        categories, _ = await self.db(filter_choices)
        slugs = {name: slug for slug, name in categories.items()}
        window = {"from": data.first_day.isoformat(), "to": data.last_day.isoformat()}
        return self.page(
            request,
            "overview.html",
            nav="overview",
            o=data,
            window=window,
            slugs=slugs,
            laporan=sum(data.by_status.values()),
            chart=bar_chart(data.per_day),
            statuses=[(s.value, info.label_id) for s, info in STATUSES.items()],
            kinds=KINDS,
        )

    async def map(self, request: Request) -> Response:
        base = request.scope.get("root_path", "")

        def read(session: Session) -> tuple[list[MapArea], dict[str, int], dict[str, str]]:
            return load_areas(session), stats.open_by_kelurahan(session), filter_choices(session)[1]

        areas, counts, names = await self.db(read)
        # Simplifying 267 boundaries is CPU work: off the loop, and off the database thread.
        svg = await asyncio.to_thread(
            render_map,
            areas,
            counts,
            href=lambda code: f"{base}/reports?kelurahan={quote(code)}",
            title="Laporan terbuka per kelurahan",
        )
        table = sorted(
            ((code, names.get(code, code), n) for code, n in counts.items()),
            key=lambda item: (-item[2], item[1]),
        )
        return self.page(
            request,
            "map.html",
            nav="map",
            # render_map escapes every name it draws: the markup is ours, not user input.
            svg=Markup(svg),
            table=table,
            total=sum(n for _, _, n in table),
        )

    # -- kelurahan league ----------------------------------------------------------------------

    async def _league(self, request: Request) -> tuple[str, list[stats.LeagueRow]] | Response:
        period = request.query_params.get("days", "").strip()
        if period not in PERIODS:
            return self.problem(
                request, 400, "Periode tidak dikenal", [f"Periode '{period}' tidak dikenal."]
            )
        since = None
        if period:
            since = stats.day_window(self.runtime.clock(), self.zone, int(period))[2]
        return period, await self.db(stats.league, since)

    async def league(self, request: Request) -> Response:
        result = await self._league(request)
        if isinstance(result, Response):
            return result
        period, rows = result
        return self.page(
            request, "kelurahan.html", nav="kelurahan", rows=rows, period=period, periods=PERIODS
        )

    async def league_csv(self, request: Request) -> Response:
        result = await self._league(request)
        if isinstance(result, Response):
            return result
        _, rows = result
        header = (
            "peringkat",
            "kode_kelurahan",
            "kelurahan",
            "kecamatan",
            "kota",
            "terbuka",
            "selesai",
            "total",
            "persen_selesai",
            "median_respons_jam",
            "rata_rata_rating",
            "jumlah_rating",
            "lewat_batas_tindak_lanjut",
        )
        body = [
            [
                rank,
                r.code,
                r.name,
                r.kecamatan,
                r.kota,
                r.open,
                r.resolved,
                r.total,
                None if r.resolved_share is None else round(r.resolved_share * 100, 1),
                None if r.median_response_hours is None else round(r.median_response_hours, 2),
                None if r.average_rating is None else round(r.average_rating, 2),
                r.ratings,
                r.sla_breaches,
            ]
            for rank, r in enumerate(rows, start=1)
        ]
        return csvout.csv_response("kelurahan", self.today(), csvout.one_chunk(header, body))

    # -- reports -------------------------------------------------------------------------------

    async def _filters(
        self, request: Request
    ) -> tuple[ReportFilters | None, list[str], dict[str, str], dict[str, str]]:
        categories, kelurahan = await self.db(filter_choices)
        try:
            filters = parse_filters(
                request.query_params, categories=categories, kelurahan=kelurahan
            )
        except FilterError as exc:
            return None, exc.messages, categories, kelurahan
        return filters, [], categories, kelurahan

    async def reports(self, request: Request) -> Response:
        filters, errors, categories, kelurahan = await self._filters(request)
        context: dict[str, Any] = {
            "nav": "reports",
            "q": request.query_params,
            "categories": categories,
            "kelurahan": kelurahan,
            "statuses": STATUS_CHOICES,
            "kinds": KINDS,
            "channels": CHANNELS,
        }
        if filters is None:
            return self.page(
                request, "reports.html", 400, errors=errors, result=None, filters=None, **context
            )
        result = await self.db(list_reports, filters, self.zone)
        return self.page(
            request, "reports.html", errors=[], result=result, filters=filters, **context
        )

    async def reports_csv(self, request: Request) -> Response:
        filters, errors, _, _ = await self._filters(request)
        if filters is None:
            return self.problem(request, 400, "Filter tidak valid", errors)
        zone = self.zone
        # The first chunk is read before the answer starts: a query that fails is an error
        # page, not a 200 download cut off after its header.
        first = await self.db(report_chunk, filters, zone, None, CSV_CHUNK)

        async def chunks() -> AsyncIterator[str]:
            yield csvout.lines([REPORT_CSV_HEADER])
            rows = first
            while True:
                if rows:
                    yield csvout.lines(report_csv_row(row, zone) for row in rows)
                if len(rows) < CSV_CHUNK:
                    return
                # One short read per chunk: no connection is held while the client downloads.
                after = (rows[-1].created_at, rows[-1].id)
                rows = await self.db(report_chunk, filters, zone, after, CSV_CHUNK)

        return csvout.csv_response("laporan", self.today(), chunks())

    async def report(self, request: Request) -> Response:
        detail = await self.db(report_detail, request.path_params["ticket"])
        if detail is None:
            raise HTTPException(404)
        return self.page(request, "report.html", nav="reports", d=detail, r=detail.report)

    async def photo(self, request: Request) -> Response:
        path = await self.db(photo_path, request.path_params["photo_id"])
        if path is None:
            raise HTTPException(404)
        try:
            data = await asyncio.to_thread(self.runtime.media.open_bytes, path)
        except (ValueError, OSError):
            raise HTTPException(404) from None
        return Response(data, media_type="image/jpeg")

    # -- RT/RW compliance --------------------------------------------------------------------------

    def _rtrw_params(
        self, request: Request, kelurahan: dict[str, str]
    ) -> tuple[dict[str, Any], list[str]]:
        q = request.query_params
        errors: list[str] = []
        code = q.get("kelurahan", "").strip() or None
        if code is not None and code not in kelurahan:
            errors.append(f"Kelurahan dengan kode '{code}' tidak ada di daftar.")
        short = q.get("short", "").strip()
        if short not in ("", "1"):
            errors.append("Nilai 'short' hanya boleh 1.")
        page_text = q.get("page", "1").strip() or "1"
        page = int(page_text) if PAGE_NUMBER.fullmatch(page_text) and int(page_text) > 0 else 0
        if not page:
            errors.append(f"Halaman '{page_text}' tidak valid.")
        today = self.today()
        last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        month = last_month
        month_text = q.get("month", "").strip()
        if month_text:
            match = _MONTH.fullmatch(month_text)
            parsed = None
            if match and 1 <= int(match.group(2)) <= 12 and int(match.group(1)) >= 2000:
                parsed = date(int(match.group(1)), int(match.group(2)), 1)
            if parsed is None or parsed > today:
                errors.append(
                    f"Bulan '{month_text}' tidak valid: gunakan TTTT-BB, bukan di masa depan."
                )
            else:
                month = parsed
        return {"kelurahan": code, "short": short == "1", "page": page, "month": month}, errors

    async def _standings(
        self, request: Request
    ) -> tuple[dict[str, Any], list[Any], dict[str, str]] | Response:
        _, kelurahan = await self.db(filter_choices)
        params, errors = self._rtrw_params(request, kelurahan)
        if errors:
            return self.problem(request, 400, "Filter tidak valid", errors)
        rows = await self.db(quota.standings, self.rules, self.today())
        if params["kelurahan"]:
            rows = [s for s in rows if s.kelurahan_code == params["kelurahan"]]
        if params["short"]:
            rows = [s for s in rows if s.shortfall > 0]
        return params, rows, kelurahan

    async def rtrw(self, request: Request) -> Response:
        result = await self._standings(request)
        if isinstance(result, Response):
            return result
        params, rows, kelurahan = result
        month: date = params["month"]
        lines = await self.db(quota.statement, self.rules, month.year, month.month)
        totals = [row for row in quota.statement_rows(lines) if row[3] in ("SUBTOTAL", "TOTAL")]
        pages = max(1, -(-len(rows) // RTRW_PAGE))
        page = params["page"]
        query = {
            k: v
            for k, v in (
                ("kelurahan", params["kelurahan"]),
                ("short", "1" if params["short"] else ""),
            )
            if v
        }
        return self.page(
            request,
            "rtrw.html",
            nav="rtrw",
            rows=rows[(page - 1) * RTRW_PAGE : page * RTRW_PAGE],
            count=len(rows),
            meeting=sum(1 for s in rows if s.shortfall == 0),
            shortfall=sum(s.shortfall for s in rows),
            page=page,
            pages=pages,
            query=query,
            params=params,
            kelurahan=kelurahan,
            rules=self.rules,
            today=self.today(),
            month=month,
            month_label=f"{month_name(month.month, 'id')} {month.year}",
            totals=totals,
        )

    async def rtrw_csv(self, request: Request) -> Response:
        result = await self._standings(request)
        if isinstance(result, Response):
            return result
        _, rows, kelurahan = result
        header = (
            "tanggal",
            "kode_kelurahan",
            "kelurahan",
            "id_ketua",
            "peran",
            "rw",
            "rt",
            "akun_terhubung",
            "hari_ini_dihitung",
            "hari_ini_menunggu",
            "hari_ini_tidak_dihitung",
            "kekurangan",
            "bulan_ini_dihitung",
        )
        today = self.today()
        body = [
            [
                today.isoformat(),
                s.kelurahan_code,
                kelurahan.get(s.kelurahan_code, ""),
                s.head_id,
                s.role,
                s.rw,
                s.rt,
                "ya" if s.contact_id is not None else "tidak",
                s.today_counted,
                s.today_waiting,
                s.today_not_counted,
                s.shortfall,
                s.month_counted,
            ]
            for s in rows
        ]
        return csvout.csv_response("rtrw", today, csvout.one_chunk(header, body))

    async def statement_csv(self, request: Request) -> Response:
        _, kelurahan = await self.db(filter_choices)
        params, errors = self._rtrw_params(request, kelurahan)
        if errors:
            return self.problem(request, 400, "Filter tidak valid", errors)
        month: date = params["month"]
        lines = await self.db(quota.statement, self.rules, month.year, month.month)
        # The head's name is left out (column 6): lists and exports carry no personal names;
        # head_id and the RT/RW unit identify the post.
        header = [c for i, c in enumerate(quota.STATEMENT_COLUMNS) if i != 6]
        body = [[v for i, v in enumerate(row) if i != 6] for row in quota.statement_rows(lines)]
        return csvout.csv_response(
            f"rekap-rtrw-{month:%Y-%m}", self.today(), csvout.one_chunk(header, body)
        )


def create_dashboard(
    settings: Settings, runtime: Any, secret: str, prefix: str = "/dashboard"
) -> Starlette:
    """The dashboard app, to be mounted at `prefix`; `secret` signs the session cookie."""
    views = Views(settings, runtime)
    https = (settings.public_base_url or "").startswith("https://")

    def post(path: str, endpoint: Callable[[Request, FormData], Any]) -> Route:
        return Route(path, csrf_protected(endpoint, views.forbidden), methods=["POST"])

    routes = [
        Route("/login", views.login_form, methods=["GET"]),
        post("/login", views.login),
        post("/logout", views.logout),
        Route("/", views.overview, methods=["GET"]),
        Route("/map", views.map, methods=["GET"]),
        Route("/kelurahan", views.league, methods=["GET"]),
        Route("/kelurahan.csv", views.league_csv, methods=["GET"]),
        Route("/reports", views.reports, methods=["GET"]),
        Route("/reports.csv", views.reports_csv, methods=["GET"]),
        Route("/reports/{ticket}", views.report, methods=["GET"]),
        Route("/photos/{photo_id:int}", views.photo, methods=["GET"]),
        Route("/rtrw", views.rtrw, methods=["GET"]),
        Route("/rtrw.csv", views.rtrw_csv, methods=["GET"]),
        Route("/rtrw-statement.csv", views.statement_csv, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=secret,
            session_cookie=COOKIE,
            max_age=int(SESSION_MAX_AGE.total_seconds()),
            path=prefix,
            same_site="lax",
            https_only=https,
        ),
        Middleware(StaffOnly, runtime=runtime),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={404: views.not_found},
    )
