"""The citizen conversation: menu, report, saran/apresiasi, my reports, language, help.

Each step is a short function: it reads the stored draft and the event, and returns the
next step, the new draft and what to say. Steps never touch the network and never
commit; `core.Core.process` wraps them in the caller's transaction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from lapor.handlers import heads, payloads, review
from lapor.handlers.context import (
    Ctx,
    Event,
    Reply,
    Turn,
    category_name,
    joined,
    page_link,
)
from lapor.handlers.payloads import (
    MENU_PAYLOADS,
    AddTo,
    AskRating,
    CategoryPick,
    Follow,
    KelurahanPick,
    Language,
    Rate,
)
from lapor.handlers.steps import Step
from lapor.handlers.texts import CATALOGUE, day_text
from lapor.handlers.types import Choice, Inbound, PhotoIn
from lapor.routing.locate import haversine_m
from lapor.store import chats
from lapor.store import reports as report_store
from lapor.store.lifecycle import OPEN_STATUSES, EventKind, ReportKind, status_label
from lapor.store.models import Report
from lapor.store.text import fit

# -- choices and commands ---------------------------------------------------------------------

COMMANDS = {
    "start": "menu",
    "menu": "menu",
    "batal": "cancel",
    "cancel": "cancel",
    "bantuan": "help",
    "help": "help",
    "lapor": "report",
    "laporan": "report",
    "saran": "saran",
    "apresiasi": "apresiasi",
    "laporansaya": "mine",
    "saya": "mine",
    "bahasa": "language",
    "language": "language",
    "berhenti": "optout",
    "stop": "optout",
    "mulai": "optin",
    "kuota": "quota",
    "jeda": "pause",
    "lanjut": "resume",
}
# Plain words that act like commands wherever they are typed, on any channel.
WORD_COMMANDS = {
    "menu": "menu",
    "batal": "cancel",
    "cancel": "cancel",
    "bantuan": "help",
    # WhatsApp users expect these words to stop and restart unsolicited messages.
    "stop": "optout",
    "berhenti": "optout",
    "mulai": "optin",
}

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def _normal(text: str) -> str:
    return _NON_WORD.sub(" ", text).strip().casefold()


def parse_command(text: str | None) -> tuple[str | None, str]:
    """`/lapor@bot args` -> ("report", "args"); known plain words count too."""
    if not text:
        return None, ""
    stripped = text.strip()
    first, _, rest = stripped.partition(" ")
    if first.casefold() == "daftar" and rest.strip():
        return "link", rest.strip()  # WhatsApp and console: DAFTAR <code>
    if stripped.startswith("/"):
        head, _, args = stripped[1:].partition(" ")
        name = head.split("@", 1)[0].casefold()
        return COMMANDS.get(name, "unknown"), args.strip()
    return WORD_COMMANDS.get(_normal(stripped)), ""


def match_choice(
    text: str | None, choices: tuple[Choice, ...], also: tuple[Choice, ...] = ()
) -> str | None:
    """A typed number ("2") or label ("sampah") picks the same payload as its button.

    A number counts only in `choices` (the numbered list the user last saw); a label may
    also name one of `also` (the current step's own buttons).
    """
    if not text or not (choices or also):
        return None
    wanted = _normal(text)
    if wanted.isascii() and wanted.isdecimal():
        number = payloads.typed_number(wanted)
        index = -1 if number is None else number - 1
        return choices[index].payload if 0 <= index < len(choices) else None
    for choice in (*choices, *also):
        if _normal(choice.label) == wanted:
            return choice.payload
    return None


# -- prompts ----------------------------------------------------------------------------------


def menu_choices(ctx: Ctx) -> tuple[Choice, ...]:
    choices = (
        Choice(ctx.t("menu.report"), "menu:report"),
        Choice(ctx.t("menu.saran"), "menu:saran"),
        Choice(ctx.t("menu.apresiasi"), "menu:apresiasi"),
        Choice(ctx.t("menu.mine"), "menu:mine"),
        Choice(ctx.t("menu.help"), "menu:help"),
        Choice(ctx.t("menu.language"), "menu:lang"),
    )
    if ctx.is_head:
        choices = (*choices[:4], Choice(ctx.t("menu.quota"), "menu:quota"), *choices[4:])
    return choices


def _cancel(ctx: Ctx) -> Choice:
    return Choice(ctx.t("cancel"), payloads.CANCEL)


def _photo_count(data: dict[str, Any]) -> int:
    return len(data.get("photos", []))


def _location_text(ctx: Ctx, data: dict[str, Any]) -> str:
    loc = data.get("location")
    if not loc:
        return ctx.t("none")
    text = f"{loc[0]:.5f}, {loc[1]:.5f}"
    return f"{text} ({loc[2]})" if len(loc) > 2 and loc[2] else text


def prompt(ctx: Ctx, step: Step, data: dict[str, Any]) -> Reply:
    """What the user sees on arriving at `step` (and again after input that did not fit)."""
    if step is Step.IDLE:
        return Reply(ctx.t("menu.prompt"), menu_choices(ctx))
    if step is Step.LANGUAGE:
        return Reply(
            ctx.t("language.prompt"),
            (
                Choice("Bahasa Indonesia", payloads.language("id")),
                Choice("English", payloads.language("en")),
            ),
        )
    if step is Step.CATEGORY:
        choices = tuple(
            Choice(category_name(c, ctx.lang), payloads.category(c.slug)) for c in ctx.categories
        )
        return Reply(ctx.t("category.prompt"), (*choices, _cancel(ctx)))
    if step is Step.PHOTO:
        return Reply(ctx.t("photo.prompt", category=data.get("category_name", "")), (_cancel(ctx),))
    if step is Step.LOCATION:
        choices: tuple[Choice, ...] = ()
        if data.get("photo_gps") and not data.get("location"):
            choices = (Choice(ctx.t("location.use_photo"), payloads.LOCATION_FROM_PHOTO),)
        how = _for_channel(ctx, "location.how", fallback="location.how.telegram")
        text = ctx.t("location.prompt", how=ctx.t(how))
        return Reply(text, (*choices, _cancel(ctx)), ask_location=True)
    if step is Step.NOTE:
        text = (
            ctx.t("note.current", note=data["note"]) if data.get("note") else ctx.t("note.prompt")
        )
        return Reply(text, (Choice(ctx.t("note.skip"), payloads.NOTE_SKIP), _cancel(ctx)))
    if step is Step.KELURAHAN:
        options = data.get("kelurahan_options", [])
        choices = tuple(Choice(f"Kel. {o[1]} ({o[2]})", payloads.kelurahan(o[0])) for o in options)
        return Reply(ctx.t("location.which"), (*choices, _cancel(ctx)))
    if step is Step.SIMILAR:
        lines = [ctx.t("dup.header")]
        for item in data.get("similar", []):
            distance = (
                f"{item['metres']} m" if item["metres"] is not None else ctx.t("dup.same_photo")
            )
            category = next((c for c in ctx.categories if c.id == item.get("category_id")), None)
            lines.append(
                ctx.t(
                    "dup.line",
                    ticket=item["ticket"],
                    distance=distance,
                    category=category_name(category, ctx.lang) if category else "-",
                    status=status_label(item["status"], ctx.lang),
                )
            )
        lines.append(ctx.t("dup.question"))
        choices = tuple(
            Choice(ctx.t("dup.follow", ticket=item["ticket"]), payloads.follow(item["id"]))
            for item in data.get("similar", [])
        )
        return Reply(
            "\n".join(lines),
            (*choices, Choice(ctx.t("dup.new"), payloads.SEND_ANYWAY), _cancel(ctx)),
        )
    if step is Step.CONFIRM:
        place = _location_text(ctx, data)
        if data.get("kelurahan"):
            place += f" · Kel. {data['kelurahan'][1]}"
        summary = ctx.t(
            "confirm.summary",
            category=data.get("category_name", ""),
            photos=_photo_count(data),
            location=place,
            note=data.get("note") or ctx.t("none"),
        )
        summary += "\n" + ctx.t("confirm.visibility")
        return Reply(
            summary,
            (
                Choice(ctx.t("confirm.public"), payloads.CONFIRM_PUBLIC),
                Choice(ctx.t("confirm.private"), payloads.CONFIRM_PRIVATE),
                _cancel(ctx),
            ),
        )
    if step is Step.RATING:
        report = ctx.session.get(Report, data.get("report"))
        ticket = report.ticket if report else ""
        return Reply(
            f"{ticket}: {ctx.t('rate.prompt')}",
            (*rating_choices(data.get("report", 0)), Choice(ctx.t("menu.back"), "menu:home")),
        )
    if step is Step.RATING_COMMENT:
        return Reply(ctx.t("rate.comment"), (_cancel(ctx),))
    if step is Step.ADD:
        return Reply(ctx.t("add.prompt", ticket=data.get("ticket", "")), (_cancel(ctx),))
    if step is Step.FEEDBACK_TEXT:
        return Reply(ctx.t(f"feedback.prompt.{data['kind']}"), (_cancel(ctx),))
    if step is Step.FEEDBACK_CONFIRM:
        summary = ctx.t(
            "feedback.summary",
            kind=ctx.t(f"kind.{data['kind']}"),
            text=data.get("text", ""),
            photos=_photo_count(data),
            location=_location_text(ctx, data),
        )
        return Reply(
            summary, (Choice(ctx.t("feedback.send"), payloads.FEEDBACK_SEND), _cancel(ctx))
        )
    raise AssertionError(f"no prompt for {step}")


# -- flow entry points ------------------------------------------------------------------------


def start(ctx: Ctx, action: str, step: Step, data: dict[str, Any]) -> Turn:
    """Global actions: they work at every step (menu buttons, commands, typed words)."""
    if action == "menu":
        name = f", {ctx.contact.name}" if ctx.contact.name else ""
        return Turn(Step.IDLE, {}, [Reply(ctx.t("greeting", name=name), menu_choices(ctx))])
    if action == "cancel":
        key = "cancelled" if step is not Step.IDLE else "nothing_to_cancel"
        return Turn(Step.IDLE, {}, [joined(ctx.t(key), prompt(ctx, Step.IDLE, {}))])
    if action == "help":
        return Turn(step, data, [joined(ctx.t("help"), prompt(ctx, step, data))])
    if action == "report":
        if not ctx.categories:
            return Turn(Step.IDLE, {}, [Reply(ctx.t("category.none"), menu_choices(ctx))])
        return Turn(Step.CATEGORY, {}, [prompt(ctx, Step.CATEGORY, {})])
    if action in ("saran", "apresiasi"):
        new = {"kind": action}
        return Turn(Step.FEEDBACK_TEXT, new, [prompt(ctx, Step.FEEDBACK_TEXT, new)])
    if action == "mine":
        # A look at one's reports (and a rating from there) keeps a draft in progress.
        return Turn(step, data, [my_reports(ctx)])
    if action == "quota":
        return Turn(
            step, data, [joined(heads.quota_text(ctx, ctx.config.quota), prompt(ctx, step, data))]
        )
    if action in ("pause", "resume"):
        notice = heads.pause(ctx, action == "pause")
        return Turn(step, data, [joined(notice.text, prompt(ctx, step, data))])
    if action in ("optout", "optin"):
        chats.set_opted_out(ctx.session, ctx.contact, action == "optout")
        key = "optout.done" if action == "optout" else "optin.done"
        return Turn(step, data, [joined(ctx.t(key), prompt(ctx, step, data))])
    if action == "language":
        # Remember where the user was, so changing language does not throw a draft away.
        resume = {"step": step.value, "data": data} if step is not Step.IDLE else None
        new = {"resume": resume} if resume else {}
        return Turn(Step.LANGUAGE, new, [prompt(ctx, Step.LANGUAGE, new)])
    raise AssertionError(f"unknown action {action}")


def my_reports(ctx: Ctx) -> Reply:
    """The sender's latest reports and the ones they follow: ticket, category or kind,
    status label, date (WIB); resolved, unrated reports can be rated from here."""
    limit = ctx.config.my_reports_limit
    own = report_store.latest_for_contact(ctx.session, ctx.contact.id, limit)
    followed = report_store.followed_by_contact(ctx.session, ctx.contact.id, limit)
    rows = sorted(
        [(r, c, False) for r, c in own] + [(r, c, True) for r, c in followed],
        key=lambda row: (row[0].created_at, row[0].id or 0),
        reverse=True,
    )[:limit]
    back = (Choice(ctx.t("menu.report"), "menu:report"), Choice(ctx.t("menu.back"), "menu:home"))
    if not rows:
        return Reply(ctx.t("mine.none"), back)
    lines = [ctx.t("mine.header")]
    rate: list[Choice] = []
    for report, category, is_followed in rows:
        what = category_name(category, ctx.lang) if category else ctx.t(f"kind.{report.kind}")
        local = report.created_at.astimezone(ctx.config.timezone)
        line = ctx.t(
            "mine.line",
            ticket=report.ticket,
            what=what,
            status=_mine_status(ctx, report),
            date=day_text(local.date(), ctx.lang),
        )
        lines.append(line + (ctx.t("mine.followed") if is_followed else ""))
        if not is_followed and report.status == "resolved" and report.rating is None:
            rate.append(
                Choice(ctx.t("mine.rate", ticket=report.ticket), payloads.ask_rating(report.id))
            )
        if not is_followed and _addable(report):
            rate.append(Choice(ctx.t("mine.add", ticket=report.ticket), payloads.add_to(report.id)))
    return Reply("\n".join(lines), (*rate, *back))


def _mine_status(ctx: Ctx, report: Report) -> str:
    """Saran and apresiasi are read, not verified: "Diterima", then "Sudah dibaca"."""
    if report.kind != ReportKind.LAPORAN.value:
        key = f"mine.feedback.{report.status}"
        if key in CATALOGUE:
            return ctx.t(key)
    return status_label(report.status, ctx.lang)


# -- steps ------------------------------------------------------------------------------------


def _for_channel(ctx: Ctx, key: str, fallback: str | None = None) -> str:
    """The catalogue key of `key` as the contact's channel says it ("photo.expected.console":
    the console has no camera button), else `fallback`, else `key` itself."""
    specific = f"{key}.{ctx.contact.channel}"
    return specific if specific in CATALOGUE else fallback or key


def _again(ctx: Ctx, step: Step, data: dict[str, Any], key: str, **values: object) -> Turn:
    """Input that does not fit: say what is expected, with the step's prompt, in one message."""
    return Turn(step, data, [joined(ctx.t(key, **values), prompt(ctx, step, data))])


def on_idle(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Anything that is not a menu choice gets the greeting and the menu."""
    return start(ctx, "menu", Step.IDLE, data)


def on_language(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Bahasa Indonesia or English; then back to the menu or to the interrupted step."""
    if not isinstance(event.payload, Language):
        return _again(ctx, Step.LANGUAGE, data, "language.invalid")
    chats.set_language(ctx.session, ctx.contact, event.payload.code)
    resume = data.get("resume")
    step, resumed = (Step(resume["step"]), resume["data"]) if resume else (Step.IDLE, {})
    return Turn(step, resumed, [joined(ctx.t("language.set"), prompt(ctx, step, resumed))])


def on_category(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """A category button (or its number) leads to the photo step."""
    if isinstance(event.payload, CategoryPick):
        for category in ctx.categories:
            if category.slug == event.payload.slug:
                new = {
                    "category": category.slug,
                    "category_name": category_name(category, ctx.lang),
                    "photos": [],
                }
                return Turn(Step.PHOTO, new, [prompt(ctx, Step.PHOTO, new)])
    return _again(ctx, Step.CATEGORY, data, "category.invalid")


def _bad_photo(ctx: Ctx, step: Step, data: dict[str, Any], reason: str) -> Turn:
    known = f"photo.bad.{reason}"
    reason_text = ctx.t(known if known in CATALOGUE else "photo.bad.format")
    return _again(ctx, step, data, "photo.bad", reason=reason_text)


def _add_photos(ctx: Ctx, data: dict[str, Any], photos: tuple[PhotoIn, ...]) -> tuple[int, int]:
    """Keep up to max_photos; returns (kept, dropped). The first EXIF GPS becomes a hint."""
    kept = dropped = 0
    stored = data.setdefault("photos", [])
    for photo in photos:
        if len(stored) >= ctx.config.max_photos:
            dropped += 1
            continue
        stored.append(photo.to_dict())
        kept += 1
        if photo.gps and not data.get("photo_gps"):
            data["photo_gps"] = list(photo.gps)
    return kept, dropped


def on_photo(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """One photo (or an album) moves on to the location; a caption becomes the note."""
    inbound = event.inbound
    if inbound.photo_error:
        return _bad_photo(ctx, Step.PHOTO, data, inbound.photo_error)
    if not inbound.photos:
        return _again(ctx, Step.PHOTO, data, _for_channel(ctx, "photo.expected"))
    new = dict(data)
    new["photos"] = list(data.get("photos", []))
    _add_photos(ctx, new, inbound.photos)
    if inbound.media_group:
        new["media_group"] = inbound.media_group
    if inbound.text and not new.get("note"):
        new["note"] = inbound.text[: ctx.config.max_note]
    received = ctx.t("photo.received", count=_photo_count(new), max=ctx.config.max_photos)
    return Turn(Step.LOCATION, new, [joined(received, prompt(ctx, Step.LOCATION, new))])


def on_location(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """A shared location (or the photo's own) leads to the note; more photos are welcome."""
    inbound = event.inbound
    location: list[Any] | None = None
    if event.choice == payloads.LOCATION_FROM_PHOTO and data.get("photo_gps"):
        location = [*data["photo_gps"], None]
    elif inbound.location is not None:
        if not inbound.location.is_valid():
            return _again(ctx, Step.LOCATION, data, "location.invalid")
        loc = inbound.location
        location = [loc.latitude, loc.longitude, loc.label]
    if location is not None:
        return _located(ctx, {**data, "location": location})

    if inbound.photo_error:
        return _bad_photo(ctx, Step.LOCATION, data, inbound.photo_error)
    if inbound.photos:
        new = {**data, "photos": list(data.get("photos", []))}
        kept, dropped = _add_photos(ctx, new, inbound.photos)
        same_album = inbound.media_group and inbound.media_group == data.get("media_group")
        if same_album and not dropped:
            # The rest of an album: one step for the user, so no reply per photo.
            return Turn(Step.LOCATION, new, [])
        if not kept:
            if same_album:
                return Turn(Step.LOCATION, new, [])
            return _again(ctx, Step.LOCATION, new, "photo.full", max=ctx.config.max_photos)
        received = ctx.t("photo.received", count=_photo_count(new), max=ctx.config.max_photos)
        return Turn(Step.LOCATION, new, [joined(received, prompt(ctx, Step.LOCATION, new))])
    return _again(ctx, Step.LOCATION, data, "location.expected")


def _kelurahan_entry(record: Any) -> list[str]:
    return [record.code, record.name, record.kecamatan]


def _located(ctx: Ctx, data: dict[str, Any]) -> Turn:
    """Say which kelurahan the pin falls in; outside the area, ask again; on a border, ask."""
    new = {k: v for k, v in data.items() if k not in ("kelurahan", "kelurahan_options")}
    if ctx.locate is None:
        return Turn(Step.NOTE, new, [prompt(ctx, Step.NOTE, new)])
    found = ctx.locate(new["location"][0], new["location"][1])
    if found.kelurahan is None:
        new.pop("location", None)
        return _again(ctx, Step.LOCATION, new, "location.outside")
    if found.neighbours:
        options = [_kelurahan_entry(found.kelurahan)]
        options += [_kelurahan_entry(k) for k in found.neighbours][:3]
        new["kelurahan_options"] = options
        return Turn(Step.KELURAHAN, new, [prompt(ctx, Step.KELURAHAN, new)])
    return _with_kelurahan(ctx, new, _kelurahan_entry(found.kelurahan))


def _with_kelurahan(ctx: Ctx, data: dict[str, Any], entry: list[str]) -> Turn:
    new = {k: v for k, v in data.items() if k != "kelurahan_options"}
    new["kelurahan"] = entry
    where = ctx.t("location.in", kelurahan=entry[1], kecamatan=entry[2])
    return Turn(Step.NOTE, new, [joined(where, prompt(ctx, Step.NOTE, new))])


def on_kelurahan(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """On a border: the citizen says which of the kelurahan is meant."""
    picked = event.payload.code if isinstance(event.payload, KelurahanPick) else None
    for entry in data.get("kelurahan_options", []):
        if picked is not None and entry[0] == picked:
            return _with_kelurahan(ctx, data, entry)
    if event.inbound.location is not None and event.inbound.location.is_valid():
        loc = event.inbound.location
        return _located(ctx, {**data, "location": [loc.latitude, loc.longitude, loc.label]})
    return _again(ctx, Step.KELURAHAN, data, "location.pick")


def _to_confirm(ctx: Ctx, data: dict[str, Any]) -> Turn:
    """Before confirming, show open reports like this one nearby (follow instead of repeat)."""
    similar = similar_reports(ctx, data)
    new = {**data, "similar": similar}
    step = Step.SIMILAR if similar else Step.CONFIRM
    return Turn(step, new, [prompt(ctx, step, new)])


def similar_reports(ctx: Ctx, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to 3 open laporan: same category within the radius, or a near-identical photo."""
    config = ctx.config
    since = ctx.now - timedelta(days=config.similar_days)
    lat, lon = data["location"][0], data["location"][1]
    category = next((c for c in ctx.categories if c.slug == data.get("category")), None)
    found: dict[int, dict[str, Any]] = {}
    for report in report_store.nearby_open(
        ctx.session,
        category_id=category.id if category else None,
        latitude=lat,
        longitude=lon,
        radius_m=config.similar_radius_m,
        since=since,
    ):
        metres = _metres(lat, lon, report.latitude, report.longitude)
        if metres <= config.similar_radius_m and report.reporter_id != ctx.contact.id:
            found[report.id] = {"id": report.id, "metres": round(metres)}
    mine = [p["dhash"] for p in data.get("photos", [])]
    for report_id in report_store.similar_photo_reports(
        ctx.session, mine, since, config.similar_photo_bits
    ):
        found.setdefault(report_id, {"id": report_id, "metres": None})
    rows = []
    for item in sorted(found.values(), key=lambda i: (i["metres"] is None, i["metres"] or 0)):
        report = ctx.session.get(Report, item["id"])
        if report is None or report.reporter_id == ctx.contact.id or not report.public:
            continue
        rows.append(
            {
                **item,
                "ticket": report.ticket,
                "status": report.status,
                "category_id": report.category_id,
            }
        )
        if len(rows) == 3:
            break
    return rows


def _metres(lat1: float, lon1: float, lat2: float | None, lon2: float | None) -> float:
    """Distance for the radius check (geopy is for figures shown to people)."""
    if lat2 is None or lon2 is None:
        return float("inf")
    return haversine_m(lat1, lon1, lat2, lon2)


def on_similar(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Follow one of the similar reports, or go on and send this one."""
    if event.choice == payloads.SEND_ANYWAY:
        return Turn(Step.CONFIRM, data, [prompt(ctx, Step.CONFIRM, data)])
    followed = event.payload.report_id if isinstance(event.payload, Follow) else None
    for item in data.get("similar", []):
        if followed is not None and item["id"] == followed:
            report = ctx.session.get(Report, item["id"])
            if report is not None:
                report_store.follow(ctx.session, report, ctx.contact.id, ctx.now)
            done = Reply(
                ctx.t("dup.followed", ticket=item["ticket"]),
                (Choice(ctx.t("menu.mine"), "menu:mine"), Choice(ctx.t("menu.back"), "menu:home")),
            )
            return Turn(Step.IDLE, {}, [done])
    return _again(ctx, Step.SIMILAR, data, "dup.question")


def on_note(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Text becomes the note; Skip keeps what there is (maybe nothing)."""
    if event.choice == payloads.NOTE_SKIP:
        return _to_confirm(ctx, data)
    text = (event.text or "").strip()
    if text and not event.inbound.photos and event.inbound.location is None:
        if len(text) > ctx.config.max_note:
            return _again(
                ctx, Step.NOTE, data, "note.too_long", length=len(text), max=ctx.config.max_note
            )
        return _to_confirm(ctx, {**data, "note": text})
    return _again(ctx, Step.NOTE, data, "note.expected")


def on_confirm(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Send stores the report with a ticket; anything else asks again."""
    if event.choice not in (payloads.CONFIRM_PUBLIC, payloads.CONFIRM_PRIVATE):
        return _again(ctx, Step.CONFIRM, data, "confirm.expected")
    limited = over_limit(ctx)
    if limited is not None:
        return Turn(Step.IDLE, {}, [limited])
    location = data["location"]
    kelurahan = data.get("kelurahan")
    report = report_store.create_report(
        ctx.session,
        kind=ReportKind.LAPORAN,
        reporter=ctx.contact,
        now=ctx.now,
        local_now=ctx.now.astimezone(ctx.config.timezone),
        ticket_prefix=ctx.config.ticket_prefix,
        category_slug=data["category"],
        note=data.get("note"),
        location=location,
        photos=data["photos"],
        kelurahan_code=kelurahan[0] if kelurahan else None,
        public=event.choice == payloads.CONFIRM_PUBLIC,
    )
    done = Reply(
        ctx.t("report.done", ticket=report.ticket),
        (Choice(ctx.t("menu.mine"), "menu:mine"), Choice(ctx.t("menu.back"), "menu:home")),
        link=page_link(ctx.config, report, ctx.lang),
    )
    return Turn(Step.IDLE, {}, [done], created=[report.id])


def over_limit(ctx: Ctx) -> Reply | None:
    """A polite no when a contact has sent too many reports lately (None: go ahead)."""
    config = ctx.config
    hour = report_store.count_since(ctx.session, ctx.contact.id, ctx.now - timedelta(hours=1))
    if hour >= config.reports_per_hour:
        return Reply(ctx.t("limit.hour", count=hour), menu_choices(ctx))
    day_start = report_store.local_day_start(ctx.now, config.timezone)
    day = report_store.count_since(ctx.session, ctx.contact.id, day_start)
    if day >= config.reports_per_day:
        return Reply(ctx.t("limit.day", count=day), menu_choices(ctx))
    return None


def _feedback_extras(
    ctx: Ctx, event: Event, data: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Photos and a location may ride along with a saran or apresiasi."""
    inbound = event.inbound
    new = {**data, "photos": list(data.get("photos", []))}
    notes: list[str] = []
    if inbound.photos:
        kept, dropped = _add_photos(ctx, new, inbound.photos)
        if kept:
            count = _photo_count(new)
            notes.append(ctx.t("feedback.photo_added", count=count, max=ctx.config.max_photos))
        if dropped and not (inbound.media_group and kept):
            notes.append(ctx.t("photo.full", max=ctx.config.max_photos))
    if inbound.location is not None and inbound.location.is_valid():
        loc = inbound.location
        new["location"] = [loc.latitude, loc.longitude, loc.label]
        notes.append(ctx.t("feedback.location_added"))
    return new, notes


def on_feedback_text(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """The message itself; a photo with a caption counts as message plus photo."""
    if event.inbound.photo_error:
        return _bad_photo(ctx, Step.FEEDBACK_TEXT, data, event.inbound.photo_error)
    new, notes = _feedback_extras(ctx, event, data)
    text = (event.text or "").strip()
    if not text:
        if notes:
            reply = joined(" ".join(notes), prompt(ctx, Step.FEEDBACK_TEXT, new))
            return Turn(Step.FEEDBACK_TEXT, new, [reply])
        return _again(ctx, Step.FEEDBACK_TEXT, data, "feedback.need_text")
    if len(text) > ctx.config.max_note:
        return _again(
            ctx,
            Step.FEEDBACK_TEXT,
            data,
            "feedback.too_long",
            length=len(text),
            max=ctx.config.max_note,
        )
    new["text"] = text
    return Turn(Step.FEEDBACK_CONFIRM, new, [prompt(ctx, Step.FEEDBACK_CONFIRM, new)])


def on_feedback_confirm(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """Send stores it; a photo, a location or new text updates the draft first."""
    inbound = event.inbound
    if event.choice == payloads.FEEDBACK_SEND:
        limited = over_limit(ctx)
        if limited is not None:
            return Turn(Step.IDLE, {}, [limited])
        location = data.get("location")
        report = report_store.create_report(
            ctx.session,
            kind=ReportKind(data["kind"]),
            reporter=ctx.contact,
            now=ctx.now,
            local_now=ctx.now.astimezone(ctx.config.timezone),
            ticket_prefix=ctx.config.ticket_prefix,
            category_slug=None,
            note=data["text"],
            location=location,
            photos=data.get("photos", []),
        )
        done = Reply(
            ctx.t(f"feedback.done.{data['kind']}", ticket=report.ticket),
            (Choice(ctx.t("menu.back"), "menu:home"),),
        )
        return Turn(Step.IDLE, {}, [done], created=[report.id])
    if inbound.photo_error:
        return _bad_photo(ctx, Step.FEEDBACK_CONFIRM, data, inbound.photo_error)
    new, notes = _feedback_extras(ctx, event, data)
    text = (event.text or "").strip()
    if text and not event.choice:
        if len(text) > ctx.config.max_note:
            return _again(
                ctx,
                Step.FEEDBACK_CONFIRM,
                data,
                "feedback.too_long",
                length=len(text),
                max=ctx.config.max_note,
            )
        new["text"] = text
        notes.append(ctx.t("feedback.text_updated"))
    if notes:
        silent = inbound.media_group and inbound.media_group == data.get("media_group")
        if inbound.media_group:
            new["media_group"] = inbound.media_group
        if silent and not text:
            return Turn(Step.FEEDBACK_CONFIRM, new, [])
        reply = joined(" ".join(notes), prompt(ctx, Step.FEEDBACK_CONFIRM, new))
        return Turn(Step.FEEDBACK_CONFIRM, new, [reply])
    return _again(ctx, Step.FEEDBACK_CONFIRM, data, "feedback.expected")


def rating_choices(report_id: int) -> tuple[Choice, ...]:
    return tuple(Choice(str(n), payloads.rate(report_id, n)) for n in payloads.RATINGS)


def _rateable(ctx: Ctx, report: Report | None) -> bool:
    return (
        report is not None
        and report.reporter_id == ctx.contact.id
        and report.status == "resolved"
        and report.kind == ReportKind.LAPORAN.value
    )


def _resume(step: Step, data: dict[str, Any]) -> dict[str, Any] | None:
    """Where a rating (or an addition) interrupted the user, so the draft survives it."""
    if step in (Step.IDLE, Step.RATING, Step.RATING_COMMENT, Step.ADD):
        return None
    return {"step": step.value, "data": data}


def _back_to(ctx: Ctx, resume: dict[str, Any] | None, replies: list[Reply]) -> Turn:
    """After a rating: on with the interrupted step (its prompt under the thanks), or idle."""
    first, *rest = replies
    if resume is None:
        back = Reply(first.text, (Choice(ctx.t("menu.back"), "menu:home"),))
        return Turn(Step.IDLE, {}, [back, *rest])
    step, data = Step(resume["step"]), resume["data"]
    return Turn(step, data, [joined(first.text, prompt(ctx, step, data)), *rest])


def on_rating_step(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """A conversation stored by an older version while waiting for a rating: the menu."""
    return start(ctx, "menu", Step.IDLE, {})


def ask_rating(ctx: Ctx, ask: AskRating, step: Step, data: dict[str, Any]) -> Turn:
    """ "Beri nilai" under "Laporan saya": the 1-5 question, wherever the user is."""
    report = ctx.session.get(Report, ask.report_id)
    if not _rateable(ctx, report):
        return _again(ctx, step, data, "rate.not_yours")
    assert report is not None
    choices = rating_choices(report.id)
    if step is Step.IDLE:
        choices = (*choices, Choice(ctx.t("menu.back"), "menu:home"))
    return Turn(step, data, [Reply(f"{report.ticket}: {ctx.t('rate.prompt')}", choices)])


def on_rating(ctx: Ctx, rating: Rate, step: Step, data: dict[str, Any]) -> Turn:
    """A rating of a resolved report, at any step: 3-5 is thanks; 1-2 asks what is wrong.
    A draft in progress is kept and its step asked again afterwards."""
    report = ctx.session.get(Report, rating.report_id)
    if not _rateable(ctx, report):
        return _again(ctx, step, data, "rate.not_yours")
    assert report is not None
    resume = _resume(step, data) if step is not Step.RATING_COMMENT else data.get("resume")
    if rating.rating <= 2:
        new = {"report": report.id, "rating": rating.rating, "resume": resume}
        return Turn(Step.RATING_COMMENT, new, [prompt(ctx, Step.RATING_COMMENT, new)])
    return _back_to(ctx, resume, review.rate(ctx, report, rating.rating, None, ctx.rooms))


def on_rating_comment(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """The comment behind a low rating; the report goes back to the kelurahan with it."""
    text = (event.text or "").strip()
    if not text or event.choice:
        return _again(ctx, Step.RATING_COMMENT, data, "rate.comment_expected")
    report = ctx.session.get(Report, data["report"])
    if report is None:
        return start(ctx, "menu", Step.IDLE, {})
    replies = review.rate(ctx, report, data["rating"], text[: ctx.config.max_note], ctx.rooms)
    return _back_to(ctx, data.get("resume"), replies)


# -- adding to one's report -------------------------------------------------------------------


def _addable(report: Report) -> bool:
    """A laporan can be added to while it is open: closed, rejected or duplicate ones are done."""
    return report.kind == ReportKind.LAPORAN.value and report.status in OPEN_STATUSES


def ask_addition(ctx: Ctx, pick: AddTo, step: Step, data: dict[str, Any]) -> Turn:
    """ "Tambah keterangan/foto" under "Laporan saya": ask for the note or the photo. A draft
    in progress is kept and asked again afterwards."""
    report = ctx.session.get(Report, pick.report_id)
    if report is None or report.reporter_id != ctx.contact.id:
        return _again(ctx, step, data, "add.not_yours")
    if ctx.contact.blocked:
        # Nothing a blocked contact sends is passed on.
        reason = f" ({ctx.contact.blocked_reason})" if ctx.contact.blocked_reason else ""
        return Turn(Step.IDLE, {}, [Reply(ctx.t("blocked", reason=reason), menu_choices(ctx))])
    if not _addable(report):
        status = status_label(report.status, ctx.lang)
        closed = ctx.t("add.closed", ticket=report.ticket, status=status)
        return Turn(step, data, [joined(closed, prompt(ctx, step, data))])
    new = {"report": report.id, "ticket": report.ticket, "resume": _resume(step, data)}
    return Turn(Step.ADD, new, [prompt(ctx, Step.ADD, new)])


def on_addition(ctx: Ctx, event: Event, data: dict[str, Any]) -> Turn:
    """A note, or a photo with an optional caption, for the staff handling the report.

    The photo was cleaned by the channel like a report photo (no EXIF); a note longer than
    a report's note is cut to it, and the citizen is told. Anything else is asked again."""
    inbound = event.inbound
    if inbound.photo_error:
        return _bad_photo(ctx, Step.ADD, data, inbound.photo_error)
    text = (event.text or "").strip()
    if event.choice or inbound.location is not None or not (text or inbound.photos):
        return _again(ctx, Step.ADD, data, "add.expected", ticket=data.get("ticket", ""))
    report = ctx.session.get(Report, data.get("report"))
    if report is None or report.reporter_id != ctx.contact.id:
        return _after_addition(ctx, data, ctx.t("add.not_yours"))
    if not _addable(report):
        status = status_label(report.status, ctx.lang)
        return _after_addition(ctx, data, ctx.t("add.closed", ticket=report.ticket, status=status))
    note = fit(text, ctx.config.max_note) if text else None
    photo = inbound.photos[0] if inbound.photos else None
    photo_id = report_store.upsert_photo(ctx.session, photo.to_dict(), ctx.now) if photo else None
    report_store.record_event(
        ctx.session,
        report,
        now=ctx.now,
        actor=f"{ctx.contact.channel}:{ctx.contact.address}",
        actor_contact_id=ctx.contact.id,
        note=note,
        kind=EventKind.ADDITION,
        photo_id=photo_id,
    )
    relayed = review.relay_addition(ctx, report, note, photo.path if photo else None, ctx.rooms)
    said = ctx.t("add.done", ticket=report.ticket)
    if len(text) > ctx.config.max_note:
        said += " " + ctx.t("add.cut", max=ctx.config.max_note)
    turn = _after_addition(ctx, data, said)
    return Turn(turn.step, turn.data, [*turn.replies, *relayed])


def _after_addition(ctx: Ctx, data: dict[str, Any], said: str) -> Turn:
    """Back where the citizen was before adding (a draft's step), or to the menu's choices."""
    resume = data.get("resume")
    if resume is None:
        back = (Choice(ctx.t("menu.mine"), "menu:mine"), Choice(ctx.t("menu.back"), "menu:home"))
        return Turn(Step.IDLE, {}, [Reply(said, back)])
    step, resumed = Step(resume["step"]), resume["data"]
    return Turn(step, resumed, [joined(said, prompt(ctx, step, resumed))])


HANDLERS: dict[Step, Callable[[Ctx, Event, dict[str, Any]], Turn]] = {
    Step.IDLE: on_idle,
    Step.LANGUAGE: on_language,
    Step.CATEGORY: on_category,
    Step.PHOTO: on_photo,
    Step.LOCATION: on_location,
    Step.KELURAHAN: on_kelurahan,
    Step.NOTE: on_note,
    Step.SIMILAR: on_similar,
    Step.CONFIRM: on_confirm,
    Step.FEEDBACK_TEXT: on_feedback_text,
    Step.FEEDBACK_CONFIRM: on_feedback_confirm,
    Step.RATING: on_rating_step,
    Step.RATING_COMMENT: on_rating_comment,
    Step.ADD: on_addition,
}


BLOCKED_ALLOWED = frozenset(
    {"menu", "help", "mine", "language", "cancel", "optout", "optin", "quota", "pause", "resume"}
)


def respond(
    ctx: Ctx,
    step: Step,
    data: dict[str, Any],
    inbound: Inbound,
    shown: tuple[Choice, ...] | None = None,
) -> Turn:
    """Route one inbound event: global actions first, then the current step.

    `shown` is the numbered list the user saw last (None: the step's own prompt); a typed
    number picks from it, so it does what its label says.
    """
    offered = prompt(ctx, step, data).choices
    numbered = offered if shown is None else shown
    command, args = parse_command(inbound.text)
    choice = inbound.choice or match_choice(inbound.text, numbered, offered)
    action = MENU_PAYLOADS.get(choice or "") or (command if command != "unknown" else None)
    if (
        ctx.contact.blocked
        and action not in BLOCKED_ALLOWED
        and (action is not None or step is not Step.IDLE)
    ):
        reason = f" ({ctx.contact.blocked_reason})" if ctx.contact.blocked_reason else ""
        return Turn(Step.IDLE, {}, [Reply(ctx.t("blocked", reason=reason), menu_choices(ctx))])
    payload = payloads.parse(choice)
    if choice is not None and payload is None:
        # Not a button lapor sends (a client can send any callback data): say so, change nothing.
        return _again(ctx, step, data, "stale_choice")
    if isinstance(payload, Rate):
        # Rating buttons sit under status messages, not under the current step's prompt.
        return on_rating(ctx, payload, step, data)
    if isinstance(payload, AskRating):
        return ask_rating(ctx, payload, step, data)
    if isinstance(payload, AddTo):
        return ask_addition(ctx, payload, step, data)
    if action in ("report", "saran", "apresiasi"):
        limited = over_limit(ctx)
        if limited is not None:
            return Turn(Step.IDLE, {}, [limited])
    if choice in MENU_PAYLOADS:
        return start(ctx, MENU_PAYLOADS[choice], step, data)
    if command == "link" or (command == "menu" and args.startswith(heads.LINK_PREFIX)):
        code = args.removeprefix(heads.LINK_PREFIX)
        linked = heads.link(ctx, code)
        ctx._is_head = None  # the menu may now include "Kuota saya"
        return Turn(Step.IDLE, {}, [joined(linked.text, prompt(ctx, Step.IDLE, {}))])
    if command and command != "unknown":
        return start(ctx, command, step, data)
    if inbound.unsupported:
        kind = f"unsupported.{inbound.unsupported}"
        what = ctx.t(kind if kind in CATALOGUE else "unsupported.other")
        return _again(ctx, step, data, "unsupported", what=what)
    valid = {c.payload for c in (*offered, *(shown or ()))}
    if inbound.choice is not None and inbound.choice not in valid:
        return _again(ctx, step, data, "stale_choice")
    text = None if command == "unknown" and step is Step.IDLE else inbound.text
    event = Event(inbound=inbound, choice=choice, command=command, text=text, payload=payload)
    return HANDLERS[step](ctx, event, data)
