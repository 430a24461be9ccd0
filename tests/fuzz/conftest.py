"""The loopback Bot API and the webhook rig, shared with the Telegram channel tests."""

from tests.bot.conftest import fake, fake_api  # noqa: F401 - fixtures
from tests.bot.test_telegram_webhook import hook  # noqa: F401 - fixture
