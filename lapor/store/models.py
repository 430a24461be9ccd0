"""The tables. Every change here is an Alembic migration in `lapor/migrations/versions/`.

Conventions: ids from chat platforms are BigInteger (Telegram ids overflow 32 bits);
datetimes are aware and stored in UTC (`UTCDateTime`); statuses and kinds are plain
strings checked in code (`lifecycle.py`), because native ENUM types need ALTER TYPE
migrations on PostgreSQL that autogenerate does not write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy import UniqueConstraint as Unique
from sqlmodel import Field, SQLModel

from lapor.store.text import NOTE_LIMIT, CleanString, CleanText
from lapor.store.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class Contact(SQLModel, table=True):
    """One chat identity: a channel and the address we reply to on it."""

    __table_args__ = (Unique("channel", "address", name="uq_contact_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    # Telegram user id of a private chat's owner; used to recognise verifiers and heads later.
    telegram_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    name: str | None = Field(default=None, sa_type=CleanString(128))
    language: str = Field(default="id", max_length=5)
    reachable: bool = True
    unreachable_reason: str | None = Field(default=None, sa_type=CleanString(200))
    # Blocked by a verifier (abuse): told politely, nothing they send is forwarded.
    blocked: bool = False
    blocked_reason: str | None = Field(default=None, sa_type=CleanString(300))
    # STOP / BERHENTI: nothing they did not ask for (reminders, broadcasts); MULAI undoes it.
    opted_out: bool = False
    created_at: datetime = _utc()
    last_inbound_at: datetime | None = _utc(nullable=True)


class Conversation(SQLModel, table=True):
    """Where a contact is in a conversation: the step and what was collected so far.

    In a group chat each member has a conversation of their own (a verifier typing a
    rejection reason), addressed "<chat>/<member>" and tied to no contact.
    """

    __table_args__ = (Unique("channel", "address", name="uq_conversation_channel_address"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    contact_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=True),
    )
    state: str = Field(default="idle", max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _utc()


class Category(SQLModel, table=True):
    """A report category. Operator data, edited with `lapor categories`."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True)
    name_id: str = Field(sa_type=CleanString(80))
    name_en: str = Field(sa_type=CleanString(80))
    position: int = 0
    active: bool = True


class Photo(SQLModel, table=True):
    """A stored image: EXIF-free JPEG under MEDIA_DIR, addressed by its SHA-256."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    dhash: str = Field(max_length=16, index=True)
    width: int
    height: int
    size: int
    path: str = Field(max_length=200)
    source_format: str = Field(max_length=10)
    # Where the original file said it was taken (EXIF GPS): a hint, never in the stored file.
    gps_lat: float | None = None
    gps_lon: float | None = None
    # The platform's stable id of the original (Telegram file_unique_id): exact re-sends.
    source_key: str | None = Field(default=None, max_length=128, index=True)
    created_at: datetime = _utc()


class Report(SQLModel, table=True):
    """A report (laporan), suggestion (saran) or appreciation (apresiasi), with a public ticket."""

    __table_args__ = (
        Index("ix_report_reporter_created", "reporter_id", "created_at"),
        # RT/RW standings: every head's counts for a period in one pass.
        Index("ix_report_reporter_kind_created", "reporter_id", "kind", "created_at", "status"),
        Index("ix_report_open311_token", "open311_token", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket: str = Field(max_length=24, unique=True)
    kind: str = Field(max_length=12)
    category_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("category.id"), nullable=True)
    )
    note: str | None = Field(default=None, sa_column=Column(CleanText(NOTE_LIMIT), nullable=True))
    latitude: float | None = None
    longitude: float | None = None
    location_label: str | None = Field(default=None, sa_type=CleanString(200))
    kelurahan_code: str | None = Field(default=None, max_length=20, index=True)
    status: str = Field(max_length=16, index=True)
    channel: str = Field(max_length=16)
    reporter_id: int = Field(sa_column=Column(Integer, ForeignKey("contact.id"), nullable=False))
    duplicate_of_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("report.id"), nullable=True)
    )
    rejection_reason: str | None = Field(default=None, sa_type=CleanString(300))
    # The reporter's choice at confirm: may the report be shown publicly later?
    public: bool = False
    # Citizens who follow this report ("ikuti laporan ini") besides the reporter.
    support_count: int = 0
    after_photo_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("photo.id"), nullable=True)
    )
    rating: int | None = None
    rating_comment: str | None = Field(
        default=None, sa_column=Column(CleanText(NOTE_LIMIT), nullable=True)
    )
    # Where its cards live, so they can be edited when a decision is made.
    admin_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    group_chat_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    group_message_id: int | None = Field(default=None, sa_column=Column(BigInteger))
    # Open311 (GeoReport v2): the token handed back to the API client that filed it.
    open311_token: str | None = Field(default=None, max_length=40)
    # Deadlines (SP4N-LAPOR!): when a deadline was breached, set once by the scheduler.
    verify_breached_at: datetime | None = _utc(nullable=True)
    followup_breached_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc(index=True)
    updated_at: datetime = _utc()


class ReportPhoto(SQLModel, table=True):
    """The one to three photos of a report, in the order they were sent."""

    report_id: int = Field(
        sa_column=Column(Integer, ForeignKey("report.id", ondelete="CASCADE"), primary_key=True)
    )
    position: int = Field(primary_key=True)
    photo_id: int = Field(sa_column=Column(Integer, ForeignKey("photo.id"), nullable=False))


class PhotoHashChunk(SQLModel, table=True):
    """The index behind "a near-identical photo": each report photo's dHash in 4 chunks.

    Derived data, written with the report (`store/photohash.py` explains the chunks). Rows
    belong to a report photo, not to a photo: a photo first stored months ago can come
    back in a new report, and the window is the report's. The report's creation time sits
    in the index right after the chunk so a lookup reads only the window's rows however
    many years of photos the table holds, and the whole hash and the report id complete
    it so candidates are checked from the index alone.
    """

    __tablename__ = "photo_hash_chunk"
    __table_args__ = (
        Index("ix_photo_hash_chunk_lookup", "chunk", "created_at", "dhash", "report_id"),
    )

    report_id: int = Field(
        sa_column=Column(Integer, ForeignKey("report.id", ondelete="CASCADE"), primary_key=True)
    )
    position: int = Field(primary_key=True)
    # Chunk number * 65536 + the chunk's 16 bits.
    chunk: int = Field(primary_key=True)
    # The whole 64-bit dHash as a signed integer.
    dhash: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = _utc()


class ReportEvent(SQLModel, table=True):
    """One status change: the audit trail and the source of response-time figures."""

    __tablename__ = "report_event"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("report.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = _utc()
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    actor_contact_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("contact.id"), nullable=True)
    )
    actor: str = Field(sa_type=CleanString(64))
    note: str | None = Field(default=None, sa_column=Column(CleanText(NOTE_LIMIT), nullable=True))


# Outbox rows not yet handed over (the partial index's condition, literally, so that
# planners can match the queries that repeat it).
UNSENT = "status IN ('pending', 'sending')"


class Outbox(SQLModel, table=True):
    """A message waiting to be sent, or the record of one that was.

    Written in the same transaction as the change it tells about; the dispatcher is the
    only sender. `key` is the idempotency key: one logical message, one row.
    """

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_chat", "channel", "address", "id"),
        # /metrics: send latency over the last minutes, and the few undelivered messages,
        # without reading every message ever sent.
        Index("ix_outbox_sent_at", "sent_at"),
        # Per-chat order: "is an earlier message to this chat still unsent?" reads only the
        # few unsent rows, not every message the chat was ever sent.
        Index(
            "ix_outbox_unsent_chat",
            "channel",
            "address",
            "id",
            sqlite_where=text(UNSENT),
            postgresql_where=text(UNSENT),
        ),
        Index(
            "ix_outbox_undelivered",
            "channel",
            "delivery_error",
            sqlite_where=text("delivery_status IN ('failed', 'undelivered')"),
            postgresql_where=text("delivery_status IN ('failed', 'undelivered')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, unique=True)
    channel: str = Field(max_length=16)
    address: str = Field(max_length=64)
    contact_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("contact.id"), nullable=True)
    )
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=12)
    attempts: int = 0
    next_attempt_at: datetime = _utc()
    lease_until: datetime | None = _utc(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(CleanText(), nullable=True))
    provider_id: str | None = Field(default=None, max_length=64, index=True)
    # What the platform said later (Twilio status callbacks): the furthest status reached.
    delivery_status: str | None = Field(default=None, max_length=16)
    delivery_error: str | None = Field(default=None, max_length=16)
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)


class InboundReceipt(SQLModel, table=True):
    """An inbound event already handled (Telegram update_id, Twilio MessageSid).

    Platforms redeliver; inserting the receipt in the handling transaction makes a
    redelivered event change nothing the second time.
    """

    __tablename__ = "inbound_receipt"

    channel: str = Field(max_length=16, primary_key=True)
    key: str = Field(max_length=80, primary_key=True)
    received_at: datetime = _utc()


class TicketCounter(SQLModel, table=True):
    """The last ticket number handed out in a period (YYMM, WIB), on SQLite (PostgreSQL
    takes them from a sequence per period: `lapor.store.tickets`)."""

    __tablename__ = "ticket_counter"

    period: str = Field(sa_column=Column(String(8), primary_key=True))
    last: int = 0


class ReportFollower(SQLModel, table=True):
    """A citizen following someone else's report (a duplicate, or "ikuti laporan ini")."""

    __tablename__ = "report_follower"

    report_id: int = Field(
        sa_column=Column(Integer, ForeignKey("report.id", ondelete="CASCADE"), primary_key=True)
    )
    contact_id: int = Field(
        sa_column=Column(Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True)
    )
    created_at: datetime = _utc()


class ContactEvent(SQLModel, table=True):
    """A contact's history: blocks and unblocks, with who and why."""

    __tablename__ = "contact_event"

    id: int | None = Field(default=None, primary_key=True)
    contact_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = _utc()
    actor: str = Field(sa_type=CleanString(64))
    action: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_column=Column(CleanText(NOTE_LIMIT), nullable=True))


class Kelurahan(SQLModel, table=True):
    """A kelurahan of the registry the operator imports, and the group its reports go to."""

    code: str = Field(primary_key=True, max_length=20)
    name: str = Field(sa_type=CleanString(100))
    kecamatan: str = Field(sa_type=CleanString(100))
    kota: str = Field(sa_type=CleanString(100))
    # A point inside the kelurahan (or its office): the answer for points-only registries.
    latitude: float
    longitude: float
    # GeoJSON geometry (Polygon / MultiPolygon, lon/lat), when the registry has boundaries.
    boundary: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    chat_id: int | None = Field(default=None, sa_column=Column(BigInteger, index=True))
    chat_title: str | None = Field(default=None, sa_type=CleanString(200))
    bound_at: datetime | None = _utc(nullable=True)
    updated_at: datetime = _utc()


class GroupInvite(SQLModel, table=True):
    """A one-time code that binds a Telegram group to a kelurahan (stored hashed)."""

    __tablename__ = "group_invite"

    id: int | None = Field(default=None, primary_key=True)
    kelurahan_code: str = Field(
        sa_column=Column(String(20), ForeignKey("kelurahan.code"), nullable=False)
    )
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(nullable=True)
    used_by_chat: int | None = Field(default=None, sa_column=Column(BigInteger))


class Verifier(SQLModel, table=True):
    """A Telegram user allowed to decide on reports in the admin chat."""

    telegram_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str | None = Field(default=None, sa_type=CleanString(128))
    active: bool = True
    added_at: datetime = _utc()


class Head(SQLModel, table=True):
    """An RT or RW head (ketua RT/RW): the quota of Kepgub DKI 903/2016 applies to them."""

    __table_args__ = (Unique("kelurahan_code", "rw", "rt", "role", name="uq_head_unit"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=CleanString(128))
    role: str = Field(max_length=2)  # "RT" or "RW"
    rt: str = Field(default="", max_length=3)  # "003"; empty for an RW head
    rw: str = Field(max_length=3)
    kelurahan_code: str = Field(
        sa_column=Column(String(20), ForeignKey("kelurahan.code"), nullable=False, index=True)
    )
    whatsapp: str | None = Field(default=None, max_length=20)  # E.164, "+62..."
    telegram_username: str | None = Field(default=None, max_length=64)
    contact_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("contact.id"), nullable=True, unique=True),
    )
    linked_at: datetime | None = _utc(nullable=True)
    reminders_paused: bool = False
    active: bool = True
    created_at: datetime = _utc()
    updated_at: datetime = _utc()


# Tally ids: period * TALLY_SPAN + contact id. Contact ids stay below 2**32.
TALLY_SPAN = 2**32


class QuotaTally(SQLModel, table=True):
    """Laporan per reporter and WIB day or month, by how they count for the RT/RW quota.

    Kept by triggers on `report` (migration 0009), so no code path can forget it: every
    insert, delete, and change of kind, status, reporter or time moves one report between
    rows and classes. `period` is 20261128 for a WIB day and 202611 for a WIB month; `id`
    is `period * TALLY_SPAN + contact_id`, so reading a head's day and month is two
    lookups by primary key (SQLite's rowid) instead of a scan of the month's reports.
    Only `lapor incentives tally --rebuild` writes here from code.
    """

    __tablename__ = "quota_tally"

    id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
        )
    )
    period: int
    contact_id: int
    counted: int = 0  # verified, forwarded, in progress or resolved
    waiting: int = 0  # submitted, not yet verified
    not_counted: int = 0  # rejected or duplicate


class HeadInvite(SQLModel, table=True):
    """A one-time code a head uses to link their chat account (stored hashed, expiring)."""

    __tablename__ = "head_invite"

    id: int | None = Field(default=None, primary_key=True)
    head_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("head.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    code_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    used_at: datetime | None = _utc(nullable=True)


class KecamatanChat(SQLModel, table=True):
    """The Telegram group of a kecamatan office: escalations of its kelurahan go there too."""

    __tablename__ = "kecamatan_chat"

    kecamatan: str = Field(primary_key=True, max_length=100)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chat_title: str | None = Field(default=None, sa_type=CleanString(200))
    bound_at: datetime = _utc()


class Staff(SQLModel, table=True):
    """A city monitoring account for the dashboard. Passwords are stored as scrypt hashes."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    name: str = Field(sa_type=CleanString(128))
    password_hash: str = Field(max_length=255)
    active: bool = True
    # Repeated wrong passwords lock the account for a while (guessing is slowed down).
    failed_logins: int = 0
    locked_until: datetime | None = _utc(nullable=True)
    last_login_at: datetime | None = _utc(nullable=True)
    created_at: datetime = _utc()


class StaffSession(SQLModel, table=True):
    """A dashboard login, kept on the server so logging out or disabling ends it at once.

    The cookie carries a random token; only its SHA-256 is stored, so a copy of the
    database opens no session.
    """

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    staff_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    created_at: datetime = _utc()
    expires_at: datetime = _utc()
    revoked_at: datetime | None = _utc(nullable=True)
    last_seen_at: datetime | None = _utc(nullable=True)


class ApiKey(SQLModel, table=True):
    """An Open311 client allowed to file reports (`lapor open311 key add`); stored hashed."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_type=CleanString(128))
    key_hash: str = Field(max_length=64, unique=True)
    active: bool = True
    created_at: datetime = _utc()
    last_used_at: datetime | None = _utc(nullable=True)
