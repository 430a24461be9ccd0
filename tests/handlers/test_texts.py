"""The catalogue: English nouns agree with their numbers; every text formats in both languages."""

from __future__ import annotations

import re
import string
from datetime import timedelta

import pytest

from lapor.handlers.context import CoreConfig
from lapor.handlers.core import Core
from lapor.handlers.texts import CATALOGUE, t
from tests.helpers import Chat


@pytest.mark.parametrize(
    ("key", "values", "one", "many"),
    [
        ("expired", {"minutes": "n"}, "after 1 minute without", "after 30 minutes without"),
        ("head.code_slow", {"minutes": "n"}, "in 1 minute.", "in 30 minutes."),
        ("limit.hour", {"count": "n"}, "sent 1 report in", "sent 30 reports in"),
        ("limit.day", {"count": "n"}, "sent 1 report today", "sent 30 reports today"),
        ("group.digest", {"count": "n", "lines": "-"}, "1 new report for", "30 new reports for"),
        ("photo.full", {"max": "n"}, "have 1 photo;", "have 30 photos;"),
        ("group.reply_sent", {"ticket": "T", "count": "n"}, "to 1 citizen.", "to 30 citizens."),
        (
            "group.progress_sent",
            {"ticket": "T", "count": "n"},
            "went to 1 citizen.",
            "went to 30 citizens.",
        ),
        (
            "reminder.daily",
            {"name": "Rina", "done": "n", "minimum": 3, "n": "n", "waiting": 0},
            "today's 1 verified report. To reach the minimum of 3, 1 more is needed",
            "today's 30 verified reports. To reach the minimum of 3, 30 more are needed",
        ),
        (
            "reminder.monthly",
            {"month": "Nov", "unit": "RT 1", "counted": "n", "paid": 1, "allowance": "Rp 0"},
            ": 1 verified report,",
            ": 30 verified reports,",
        ),
    ],
)
def test_english_nouns_agree_with_their_number(key, values, one, many) -> None:  # type: ignore[no-untyped-def]
    def filled(n: int) -> dict[str, object]:
        return {k: (n if v == "n" else v) for k, v in values.items()}

    assert one in t("en", key, **filled(1))
    assert many in t("en", key, **filled(30))
    indonesian = t("id", key, **filled(1))
    assert "|" not in indonesian and "{" not in indonesian


def test_every_entry_formats_in_both_languages_with_no_tag_left() -> None:
    for key, pair in CATALOGUE.items():
        names = {
            field.split("|")[0]
            for text in pair
            for _, field, _, _ in string.Formatter().parse(re.sub(r"\{(\w+)\|[^}]*\}", "", text))
            if field
        }
        for language in ("id", "en"):
            text = t(language, key, **dict.fromkeys(names, 2))
            assert not re.search(r"\{\w+\|", text), (key, language)


def test_a_one_minute_timeout_says_one_minute(engine, clock) -> None:  # type: ignore[no-untyped-def]
    core = Core(CoreConfig(idle_timeout=timedelta(minutes=1)), clock)
    chat = Chat(engine, core)
    chat.text("/bahasa")
    chat.text("2")  # English
    chat.text("/lapor")
    clock.advance(minutes=2)
    chat.text("hello")
    assert "after 1 minute without a reply" in chat.said
