"""Settings, from the environment and `.env`. Secrets live there, never in code or logs."""

from __future__ import annotations

import re
from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lapor.handlers.context import CoreConfig
from lapor.incentives.quota import QuotaRules

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_BOT_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(default="sqlite:///lapor.db")
    # SQLite's page cache per connection, in MB.
    sqlite_cache_mb: int = Field(default=8, ge=1, le=4096)
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str | None = None
    telegram_file_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    # The verifiers' group chat (negative for groups); verifiers: `lapor verifiers add`.
    telegram_admin_chat_id: int | None = None
    # WhatsApp through Twilio.
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str | None = None
    # One inbound photo's whole download (Twilio, its redirect, the CDN), however slowly
    # the bytes arrive: a trickling server must not hold a request for minutes.
    twilio_media_timeout_seconds: float = Field(default=20, gt=0, le=300)
    # The exact public URL base Twilio calls (scheme, host, path prefix): signatures cover it.
    public_base_url: str | None = None
    # Approved WhatsApp templates for messages outside the 24-hour window: a JSON object
    # of template name -> ContentSid, e.g. {"status_update": "HX..."}.
    whatsapp_templates: dict[str, str] = Field(default_factory=dict)
    # RT/RW quota (Kepgub DKI 903/2016 defaults; every number is the operator's choice).
    quota_period: str = Field(default="day", pattern=r"^(day|month)$")
    quota_minimum: int = Field(default=3, ge=0)
    quota_rate_rt: int = Field(default=10_000, ge=0)
    quota_rate_rw: int = Field(default=12_500, ge=0)
    quota_monthly_cap: int = Field(default=90, ge=0)
    quota_fixed_rt: int = Field(default=75_000, ge=0)
    quota_fixed_rw: int = Field(default=75_000, ge=0)
    quota_own_kelurahan_only: bool = False
    # Reminders: weekday NAMES (APScheduler counts Monday as 0 and cron-style numbers
    # silently shift a day), 24-hour WIB times.
    reminder_days: str = "mon-sun"
    reminder_time: str = "16:00"
    summary_day: int = Field(default=1, ge=1, le=28)
    summary_time: str = "08:00"
    quiet_hours: str = "21:00-07:00"
    telegram_bot_username: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=1, le=65535)
    media_dir: Path = Path("media")
    # The category model trained on the city's own verified reports (`lapor categories
    # train`); read in preference to the shipped one when the file exists. Default:
    # category-model.json in MEDIA_DIR.
    category_model_path: Path | None = None
    timezone: str = "Asia/Jakarta"
    default_language: str = "id"
    ticket_prefix: str = Field(default="JKT", pattern=r"^[A-Z0-9]{2,6}$")
    idle_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    reports_per_hour: int = Field(default=5, ge=1)
    reports_per_day: int = Field(default=20, ge=1)
    dispatch_max_attempts: int = Field(default=5, ge=1, le=100)
    # How long a dispatcher owns the messages it claimed. A dispatcher that dies mid-send
    # leaves them to the others after this; it must be well above one send's time
    # (PTB's timeouts are 5 s), or a slow send is taken over and goes out twice.
    dispatch_lease_seconds: float = Field(default=60, ge=1, le=3600)
    # Sends in flight at once per dispatcher, to different chats (each chat stays in order).
    dispatch_concurrency: int = Field(default=16, ge=1, le=256)
    # Sending pace (per process): Telegram's documented limits, Twilio's per-sender rate.
    dispatch_pacing: bool = True
    telegram_messages_per_second: float = Field(default=30, gt=0)
    telegram_chat_messages_per_second: float = Field(default=1, gt=0)
    telegram_group_messages_per_minute: float = Field(default=20, gt=0)
    twilio_messages_per_second: float = Field(default=80, gt=0)
    log_level: str = "INFO"
    # "json": one object a line with ticket/outbox ids as fields, for a log collector.
    log_format: str = Field(default="text", pattern=r"^(text|json)$")
    # Monitoring dashboard (/dashboard): the key that signs staff sessions. Without it the
    # dashboard is not served. Staff accounts: `lapor staff add`.
    dashboard_secret_key: SecretStr | None = None
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    # Deadlines, in working days (SP4N-LAPOR!: verification within 3 of submission, the
    # kelurahan's follow-up within 5 of forwarding). Weekends and the public holidays of
    # HOLIDAY_COUNTRY (the `holidays` library) are not working days.
    sla_verify_days: float = Field(default=3, gt=0)
    sla_followup_days: float = Field(default=5, gt=0)
    sla_check_minutes: int = Field(default=15, ge=1, le=24 * 60)
    holiday_country: str = Field(default="ID", pattern=r"^[A-Z]{2}$")
    # Cuti bersama (joint leave decreed for civil servants) are days off for the offices.
    sla_joint_holidays: bool = True
    # Open311 GeoReport v2 (/open311/v2): the jurisdiction_id clients may pass.
    open311_jurisdiction: str = "jakarta.go.id"
    # Fetch a client's media_url from private or local addresses too (an intranet
    # deployment); off by default so an API key cannot reach internal services.
    open311_media_private: bool = False
    # Reports one Open311 key may file an hour, over all the reporters it files for (each
    # of them also has the per-contact limits): a partner app files for many people.
    open311_reports_per_hour: int = Field(default=60, ge=1)

    @field_validator(
        "telegram_bot_token",
        "telegram_api_base_url",
        "telegram_file_base_url",
        "telegram_webhook_url",
        "telegram_webhook_secret",
        "telegram_admin_chat_id",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_whatsapp_from",
        "twilio_messaging_service_sid",
        "twilio_api_base_url",
        "public_base_url",
        "telegram_bot_username",
        "dashboard_secret_key",
        "category_model_path",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _BOT_TOKEN.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:letters)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - only.
        if value is not None and not _SECRET_TOKEN.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator(
        "telegram_webhook_url",
        "telegram_api_base_url",
        "telegram_file_base_url",
        "twilio_api_base_url",
        "public_base_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("id", "en"):
            raise ValueError("must be 'id' or 'en'")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must be AC followed by 32 hexadecimal characters")
        return value

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp_from(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"whatsapp:\+\d{6,15}", value):
            raise ValueError("must look like whatsapp:+14155238886")
        return value

    @field_validator("whatsapp_templates")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for name, sid in value.items():
            if not re.fullmatch(r"HX[0-9a-fA-F]{32}", sid):
                raise ValueError(f"template {name!r}: a ContentSid is HX followed by 32 hex")
        return value

    @field_validator("reminder_days")
    @classmethod
    def _weekday_names(cls, value: str) -> str:
        day = r"(mon|tue|wed|thu|fri|sat|sun)"
        if not re.fullmatch(rf"{day}(-{day})?(,{day}(-{day})?)*", value.strip().lower()):
            raise ValueError("use weekday names like mon-fri or mon,wed,fri (never numbers)")
        return value.strip().lower()

    @field_validator("reminder_time", "summary_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("use HH:MM, 24-hour")
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError("use HH:MM-HH:MM, e.g. 21:00-07:00")
        return value.strip()

    def quota_rules(self) -> QuotaRules:
        return QuotaRules(
            period=self.quota_period,
            minimum=self.quota_minimum,
            rate_rt=self.quota_rate_rt,
            rate_rw=self.quota_rate_rw,
            monthly_cap=self.quota_monthly_cap,
            fixed_rt=self.quota_fixed_rt,
            fixed_rw=self.quota_fixed_rw,
            own_kelurahan_only=self.quota_own_kelurahan_only,
            timezone=ZoneInfo(self.timezone),
        )

    def quiet(self) -> tuple[time, time]:
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    def category_model(self) -> Path:
        """Where `lapor categories train` writes the city's model and the bot reads it."""
        return self.category_model_path or self.media_dir / "category-model.json"

    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def twilio_token(self) -> str | None:
        token = self.twilio_auth_token
        return token.get_secret_value() if token else None

    def token(self) -> str | None:
        return self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else None

    def dashboard_secret(self) -> str | None:
        key = self.dashboard_secret_key
        return key.get_secret_value() if key else None

    def webhook_secret(self) -> str | None:
        secret = self.telegram_webhook_secret
        return secret.get_secret_value() if secret else None

    def core_config(self) -> CoreConfig:
        return CoreConfig(
            ticket_prefix=self.ticket_prefix,
            timezone=ZoneInfo(self.timezone),
            idle_timeout=timedelta(minutes=self.idle_timeout_minutes),
            default_language=self.default_language,
            reports_per_hour=self.reports_per_hour,
            reports_per_day=self.reports_per_day,
            quota=self.quota_rules(),
            public_base_url=self.public_base_url,
        )


class SettingsError(Exception):
    """Start-up stops: a setting is missing or malformed. The message names it."""


def load_settings(**overrides: object) -> Settings:
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper() or "settings"
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
    if settings.whatsapp_enabled():
        missing = []
        if not settings.public_base_url:
            missing.append("PUBLIC_BASE_URL: required for WhatsApp (Twilio signs the URL it calls)")
        if not (settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid):
            missing.append("TWILIO_WHATSAPP_FROM: required for WhatsApp (or a messaging service)")
        if missing:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(missing))
    elif settings.twilio_account_sid or settings.twilio_auth_token:
        raise SettingsError(
            "invalid settings:\n  TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN: set both, or neither"
        )
    if settings.telegram_webhook_url and not settings.telegram_webhook_secret:
        raise SettingsError(
            "invalid settings:\n  TELEGRAM_WEBHOOK_SECRET: required when TELEGRAM_WEBHOOK_URL "
            "is set (anyone could post fake updates otherwise)"
        )
    return settings
