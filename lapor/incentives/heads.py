"""The RT/RW heads list: read the operator's CSV, check all of it, import it.

The quota of Kepgub DKI 903/2016 applies to every ketua RT and ketua RW, so the list of
heads comes from the kelurahan offices as a spreadsheet: one row per head with the unit
(RT/RW in a kelurahan) and, when known, a WhatsApp number or Telegram username to invite
them with. Like the kelurahan registry (`lapor.routing.registry`), a file with any bad row
is refused as a whole, every problem is listed at once, and nothing is imported: a half
imported list would leave some heads without an invitation and nobody would notice.

Re-importing is the normal way to apply changes (a new ketua after an election, a new
number): heads are matched on their unit (kelurahan, RW, RT, role), names and contact
details are updated, and the link to a chat account (`contact_id`, `linked_at`) and
`reminders_paused` are never touched, because those belong to the head, not to the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from lapor.store.models import Head, Kelurahan

MAX_NAME = 128
CHUNK = 1000

REQUIRED_COLUMNS = ("name", "role", "rt", "rw", "kelurahan_code")
OPTIONAL_COLUMNS = ("whatsapp", "telegram_username")
EXPECTED_HEADER = ",".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)

_ROLES = {"rt": "RT", "rw": "RW", "ketua rt": "RT", "ketua rw": "RW"}
_UNIT_NUMBER = re.compile(r"\d{1,3}")
# Indonesian mobile numbers: 08xx-xxxx-xxxx, 10 to 13 digits with the trunk 0, so the
# national significant number is 8 followed by 8 to 11 digits. Landlines (021...) are
# refused: an RT head's WhatsApp is a mobile number, and a landline here is a typo.
_MOBILE = re.compile(r"8[1-9]\d{7,10}")
_PHONE_NOISE = re.compile(r"[\s\-.()/]")
_TELEGRAM = re.compile(r"[A-Za-z0-9_]{5,32}")
_TELEGRAM_LINK = re.compile(r"^(?:https?://)?(?:t|telegram)\.me/", re.IGNORECASE)
# Spreadsheets written by hand say "-" for "none".
_NONE_MARKERS = {"", "-"}


class HeadsError(ValueError):
    """A heads file that cannot be imported; `errors` lists every problem found."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(f"{len(self.errors)} problem(s) in the heads file:\n  {shown}{more}")


@dataclass(frozen=True, slots=True)
class HeadRecord:
    """One checked row of the heads file, normalised as it is stored.

    `omitted` names the optional columns (whatsapp, telegram_username) the file did not
    have at all: an import keeps the stored values of those, so importing a names-only
    list never wipes numbers imported earlier. An empty cell in a column the file does
    have clears the stored value.
    """

    name: str
    role: str  # "RT" or "RW"
    rt: str  # "003"; "" for an RW head
    rw: str  # "005"
    kelurahan_code: str
    whatsapp: str | None = None  # E.164, "+62812..."
    telegram_username: str | None = None  # without the "@"
    omitted: frozenset[str] = field(default=frozenset())

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The unit the head leads: the table's natural key (uq_head_unit)."""
        return (self.kelurahan_code, self.rw, self.rt, self.role)

    @property
    def unit(self) -> str:
        """The unit as Indonesians write it: "RT 003/RW 005 31.71.01.1001"."""
        where = f"RW {self.rw}" if self.role == "RW" else f"RT {self.rt}/RW {self.rw}"
        return f"{where} {self.kelurahan_code}"


@dataclass(frozen=True)
class HeadsImportResult:
    """What an import changed, for the operator."""

    added: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.added + self.updated + self.unchanged


# --------------------------------------------------------------------------- normalising


def normalise_whatsapp(value: str) -> str:
    """An Indonesian mobile number in any usual spelling, as E.164 ("+62812...").

    Accepts "0812-3456-7890", "62812...", "+62 812 ...", "+62 (0)812...", "0062812..."
    and "812..." (a spreadsheet that stored the number as a number dropped the 0).
    Raises ValueError naming the problem, since a wrong number invites a stranger.
    """
    raw = value.strip()
    digits = _PHONE_NOISE.sub("", raw)
    if re.fullmatch(r"\+?\d+(?:[.,]\d+)?[eE]\+?\d+", raw.replace(" ", "")):
        raise ValueError(
            f"whatsapp {raw!r} was turned into a number by the spreadsheet: "
            "format the column as text and type the number again"
        )
    if digits.startswith("+"):
        if not digits.startswith("+62"):
            raise ValueError(f"whatsapp {raw!r} is not an Indonesian number (+62)")
        national = digits[3:]
    elif digits.startswith("0062"):
        national = digits[4:]
    elif digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        national = digits
    if national.startswith("0"):  # "+62 (0)812..." and "620812..."
        national = national[1:]
    if not national.isdigit() or not national.isascii():
        raise ValueError(f"whatsapp {raw!r} is not a phone number")
    if not _MOBILE.fullmatch(national):
        raise ValueError(
            f"whatsapp {raw!r} is not an Indonesian mobile number "
            "(expected 08xx with 10 to 13 digits, e.g. 0812-3456-7890)"
        )
    return f"+62{national}"


def normalise_telegram(value: str) -> str:
    """A Telegram username without the "@" (a t.me link is accepted too)."""
    raw = value.strip()
    name = _TELEGRAM_LINK.sub("", raw).removeprefix("@").rstrip("/")
    if not _TELEGRAM.fullmatch(name):
        raise ValueError(
            f"telegram_username {raw!r} is not a Telegram username "
            "(5 to 32 letters, digits or _, with or without @)"
        )
    return name


def normalise_unit_number(value: str, label: str) -> str:
    """An RT or RW number as stored: three digits, zero-padded ("3" -> "003")."""
    raw = value.strip()
    if not _UNIT_NUMBER.fullmatch(raw) or not raw.isascii():
        raise ValueError(f"{label} {raw!r} is not a number of 1 to 3 digits")
    if int(raw) == 0:
        raise ValueError(f"{label} {raw!r}: there is no {label.upper()} 000")
    return raw.zfill(3)


def normalise_role(value: str) -> str:
    """ "RT" or "RW" from "rt", "RW", "Ketua RT", "ketua  rw"."""
    role = _ROLES.get(" ".join(value.split()).lower())
    if role is None:
        raise ValueError(f"role {value.strip()!r} is not RT or RW (or Ketua RT / Ketua RW)")
    return role


# --------------------------------------------------------------------------- parsing


def parse_heads(path: Path, known_kelurahan: set[str]) -> list[HeadRecord]:
    """Read and check a heads CSV against the kelurahan registry (`known_kelurahan` codes).

    Header `name,role,rt,rw,kelurahan_code[,whatsapp][,telegram_username]`, in any case and
    order, separated by `,` or `;` (Excel in Indonesian locale writes `;`), with or without
    a BOM; extra columns are ignored. Raises HeadsError listing every bad row ("row 12:
    ..."; row 1 is the header); returns records in file order.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HeadsError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HeadsError(
            [f"{path.name} is not UTF-8 text (byte {exc.start}): save it as 'CSV UTF-8'"]
        ) from None
    records, errors = _parse_csv(text, known_kelurahan)
    if not errors and not records:
        errors.append("the file contains no heads")
    if errors:
        raise HeadsError(errors)
    return records


def _parse_csv(text: str, known_kelurahan: set[str]) -> tuple[list[HeadRecord], list[str]]:
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        return [], [
            f"row 1: the header lacks column(s) {', '.join(missing)} "
            f"(expected {EXPECTED_HEADER}; found {','.join(header)})"
        ]
    reader.fieldnames = header
    omitted = frozenset(column for column in OPTIONAL_COLUMNS if column not in header)
    records: list[HeadRecord] = []
    errors: list[str] = []
    first_seen: dict[tuple[str, str, str, str], int] = {}
    for row in reader:
        line = reader.line_num
        values = {k: (v or "") for k, v in row.items() if k is not None}
        if None not in row and all(not v.strip() for v in values.values()):
            continue  # a blank spreadsheet row
        problems: list[str] = []
        if None in row:
            problems.append(f"more values than columns ({delimiter!r} inside a value?)")
        record = _check_row(values, known_kelurahan, omitted, problems)
        if record is not None:
            if record.key in first_seen:
                problems.append(f"duplicate {record.unit} (first in row {first_seen[record.key]})")
            else:
                first_seen[record.key] = line
        if problems:
            errors.extend(f"row {line}: {problem}" for problem in problems)
        elif record is not None:
            records.append(record)
    return records, errors


def _check_row(
    values: dict[str, str],
    known_kelurahan: set[str],
    omitted: frozenset[str],
    problems: list[str],
) -> HeadRecord | None:
    """One row as a record, or None; every problem of the row is added to `problems`."""

    def check(normalise: Callable[..., str], *args: str) -> str | None:
        try:
            return normalise(*args)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    name = " ".join(values.get("name", "").split())
    if not name:
        problems.append("missing name")
    elif len(name) > MAX_NAME:
        problems.append(f"name is longer than {MAX_NAME} characters")

    role_text = values.get("role", "")
    role = check(normalise_role, role_text) if role_text.strip() else None
    if not role_text.strip():
        problems.append("missing role (RT or RW)")

    rt_text = values.get("rt", "").strip()
    rt: str | None = ""
    if role == "RT":
        if rt_text in _NONE_MARKERS:
            problems.append("missing rt for an RT head")
            rt = None
        else:
            rt = check(normalise_unit_number, rt_text, "rt")
    elif role == "RW" and rt_text not in _NONE_MARKERS:
        problems.append(f"rt must be empty for an RW head (found {rt_text!r})")
        rt = None

    rw_text = values.get("rw", "").strip()
    rw: str | None = None
    if rw_text in _NONE_MARKERS:
        problems.append("missing rw")
    else:
        rw = check(normalise_unit_number, rw_text, "rw")

    code = values.get("kelurahan_code", "").strip()
    if not code:
        problems.append("missing kelurahan_code")
    elif code not in known_kelurahan:
        problems.append(
            f"unknown kelurahan_code {code!r} (not in the kelurahan registry; "
            "import the registry first or correct the code)"
        )

    whatsapp_text = values.get("whatsapp", "").strip()
    whatsapp = None
    if whatsapp_text not in _NONE_MARKERS:
        whatsapp = check(normalise_whatsapp, whatsapp_text)

    telegram_text = values.get("telegram_username", "").strip()
    telegram = None
    if telegram_text not in _NONE_MARKERS:
        telegram = check(normalise_telegram, telegram_text)

    if role is None or rt is None or rw is None or not code:
        return None
    return HeadRecord(
        name=name,
        role=role,
        rt=rt,
        rw=rw,
        kelurahan_code=code,
        whatsapp=whatsapp,
        telegram_username=telegram,
        omitted=omitted,
    )


# --------------------------------------------------------------------------- importing


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_heads(
    session: Session,
    records: Sequence[HeadRecord],
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> HeadsImportResult:
    """Upsert heads on their unit, in chunks, inside the caller's transaction.

    New units are inserted; for known ones the name, WhatsApp number and Telegram username
    are updated and the head is made active again. `contact_id`, `linked_at` and
    `reminders_paused` are never touched: a head who linked their chat stays linked when
    the list is re-imported. Heads missing from the file stay as they are (reports and
    invitations refer to them). `progress` is called with the number of records done
    after each chunk.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if len({r.key for r in records}) != len(records):
        raise ValueError("duplicate head units in the records")
    session.flush()
    table = Head.__table__  # type: ignore[attr-defined]
    key_columns = (table.c.kelurahan_code, table.c.rw, table.c.rt, table.c.role)
    compared = ("name", "whatsapp", "telegram_username")
    added = updated = unchanged = 0
    # Sorted by unit, a chunk covers a few kelurahan and RWs, so selecting the stored heads
    # of those kelurahan and RWs finds every stored unit of the chunk with few extra rows.
    # (A row-value `(kelurahan_code, rw, rt, role) IN (...)` of 1,000 keys is exact but
    # several times slower on both databases.)
    for chunk in _chunks(sorted(records, key=lambda r: r.key), CHUNK):
        stored = {
            (row.kelurahan_code, row.rw, row.rt, row.role): row
            for row in session.execute(
                select(
                    table.c.id, *key_columns, *(table.c[c] for c in compared), table.c.active
                ).where(
                    table.c.kelurahan_code.in_(sorted({r.kelurahan_code for r in chunk})),
                    table.c.rw.in_(sorted({r.rw for r in chunk})),
                )
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: dict[frozenset[str], list[dict[str, Any]]] = {}
        for record in chunk:
            values = {
                column: getattr(record, column)
                for column in compared
                if column not in record.omitted
            }
            old = stored.get(record.key)
            if old is None:
                inserts.append(
                    {
                        "kelurahan_code": record.kelurahan_code,
                        "rw": record.rw,
                        "rt": record.rt,
                        "role": record.role,
                        **values,
                        "reminders_paused": False,
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if old.active and all(getattr(old, c) == v for c, v in values.items()):
                unchanged += 1
                continue
            row = {f"b_{column}": value for column, value in values.items()}
            row["b_id"] = old.id
            updates.setdefault(record.omitted, []).append(row)
        if inserts:
            session.execute(insert(table), inserts)
        for omitted, rows in updates.items():
            columns = [c for c in compared if c not in omitted]
            statement = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    {c: bindparam(f"b_{c}") for c in columns} | {"active": True, "updated_at": now}
                )
            )
            session.execute(statement, rows)
            updated += len(rows)
        added += len(inserts)
        if progress is not None:
            progress(len(chunk))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Head):
            session.expire(obj)
    return HeadsImportResult(added=added, updated=updated, unchanged=unchanged)


def known_kelurahan_codes(session: Session) -> set[str]:
    """Every kelurahan code of the registry, to check a heads file against."""
    table = Kelurahan.__table__  # type: ignore[attr-defined]
    return set(session.execute(select(table.c.code)).scalars())
