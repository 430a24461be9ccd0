"""Settings: defaults, .env, and start-up that stops with a message naming the setting."""

from __future__ import annotations

import pytest

from lapor.bot.settings import SettingsError, load_settings

TOKEN = "123456:ABCdefGHIjklMNOpqrSTUvwx"


def test_defaults_are_a_local_sqlite_file_and_jakarta(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "TIMEZONE", "DEFAULT_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///lapor.db"
    assert settings.timezone == "Asia/Jakarta" and settings.default_language == "id"
    assert settings.token() is None
    config = settings.core_config()
    assert config.idle_timeout.total_seconds() == 30 * 60


def test_dotenv_is_read_and_secrets_stay_secret(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nTICKET_PREFIX=DKI\n")
    settings = load_settings()
    assert settings.token() == TOKEN
    assert settings.core_config().ticket_prefix == "DKI"
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"telegram_bot_token": "abc"}, "TELEGRAM_BOT_TOKEN"),
        ({"timezone": "Asia/Atlantis"}, "TIMEZONE"),
        ({"default_language": "fr"}, "DEFAULT_LANGUAGE"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"telegram_webhook_secret": "has spaces!"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_webhook_url": "ftp://x"}, "TELEGRAM_WEBHOOK_URL"),
        ({"telegram_webhook_url": "https://x.org/hook"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"idle_timeout_minutes": "soon"}, "IDLE_TIMEOUT_MINUTES"),
        ({"ticket_prefix": "jakarta!"}, "TICKET_PREFIX"),
    ],
)
def test_malformed_or_missing_setting_is_named(overrides, named) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **overrides)
    assert named in str(caught.value)


def test_blank_values_mean_unset() -> None:
    settings = load_settings(_env_file=None, telegram_bot_token="", telegram_webhook_url=" ")
    assert settings.token() is None and settings.telegram_webhook_url is None


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "media/category-model.json"),
        ({"MEDIA_DIR": "/srv/lapor/media"}, "/srv/lapor/media/category-model.json"),
        ({"CATEGORY_MODEL_PATH": ""}, "media/category-model.json"),
        ({"CATEGORY_MODEL_PATH": "/srv/models/city.json"}, "/srv/models/city.json"),
    ],
)
def test_the_category_model_lives_in_media_unless_set(  # type: ignore[no-untyped-def]
    monkeypatch, tmp_path, environment, expected
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("MEDIA_DIR", "CATEGORY_MODEL_PATH"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert str(load_settings().category_model()) == expected
