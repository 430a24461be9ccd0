"""Text as the database will keep it: clean characters, cut to the column.

Everything people type reaches a column sooner or later, and the two databases disagree
on what they accept: PostgreSQL refuses NUL in text and a lone surrogate in JSON, and
enforces `varchar(n)`, where SQLite keeps anything. So text is made safe twice, by the
same two functions:

- at the edge, when an event or an API request is read (`clean`): what the handlers see
  and what goes into conversation state and outgoing messages is already clean;
- in the store, by the column types below (`CleanString`, `CleanText`): every write,
  ORM or Core, from any channel, the API or the CLI, is cleaned and cut to the column, so
  a confirmed report is never lost to a label one character too long.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel.sql.sqltypes import AutoString

ELLIPSIS = "…"
# A note, a comment, an event's words: Telegram's longest message is 4,096 characters, and
# nothing longer is read by anyone on a phone.
NOTE_LIMIT = 4000

# C0 controls but tab, newline and carriage return; DEL; C1 controls. None of them is
# anything a person meant to type, and NUL is refused by PostgreSQL.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates (a JSON "\\ud800" decodes to one) cannot be encoded as UTF-8.
_SURROGATES = re.compile("[\ud800-\udfff]")
# What XML 1.0 forbids besides the controls above: U+FFFE and U+FFFF.
_NON_CHARACTERS = re.compile("[\ufffe\uffff]")


def clean(value: str) -> str:
    """Normalise text from outside: no control characters (but tab and newline) nor
    U+FFFE/U+FFFF, lone surrogates replaced by U+FFFD, NFC (one code point per accented
    letter)."""
    if value.isascii() and value.isprintable():
        return value  # the common case, untouched and fast
    value = _CONTROLS.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    value = _SURROGATES.sub("\ufffd", value)
    value = _NON_CHARACTERS.sub("", value)
    return unicodedata.normalize("NFC", value)


def clean_optional(value: str | None) -> str | None:
    return None if value is None else clean(value)


def fit(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, an ellipsis showing where it was cut."""
    if len(value) <= limit:
        return value
    if limit <= 1:
        return value[:limit]
    return value[: limit - 1].rstrip() + ELLIPSIS


class CleanString(TypeDecorator[str]):
    """`varchar(n)` for what people write (names, labels, reasons): cleaned and cut to fit.

    The DDL is the plain string type, so migrations and models agree as before.
    """

    impl = AutoString
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str):
            return value
        value = clean(value)
        length = self.impl_instance.length
        return fit(value, length) if length else value


class CleanText(TypeDecorator[str]):
    """`text` for what people write at length (notes, comments): cleaned, cut at `limit`."""

    impl = Text
    cache_ok = True

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = limit

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str):
            return value
        value = clean(value)
        return fit(value, self.limit) if self.limit else value
