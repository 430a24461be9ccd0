"""The conversation steps: one place that names every state a conversation can be in."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    IDLE = "idle"
    LANGUAGE = "language"
    CATEGORY = "report.category"
    PHOTO = "report.photo"
    LOCATION = "report.location"
    KELURAHAN = "report.kelurahan"
    NOTE = "report.note"
    SIMILAR = "report.similar"
    CONFIRM = "report.confirm"
    FEEDBACK_TEXT = "feedback.text"
    FEEDBACK_CONFIRM = "feedback.confirm"
    RATING = "rating"
    RATING_COMMENT = "rating.comment"
    ADD = "report.add"  # a note or a photo added to one's own open report


def parse_step(value: str) -> Step:
    """The stored step, or IDLE for a value this version does not know (a safe restart)."""
    try:
        return Step(value)
    except ValueError:
        return Step.IDLE
