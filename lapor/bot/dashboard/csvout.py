"""CSV files that open in Excel as they are: UTF-8 with a BOM, and no formulas smuggled in.

Excel reads a CSV without a BOM as the local ANSI code page, which mangles "Tanah Abang (é)"
and every non-ASCII name; with the BOM it reads UTF-8. A cell starting with = + - @ is run
as a formula when the file is opened (CSV injection), so text cells that start like that get
a leading apostrophe. Numbers are written as numbers (a latitude is negative, and stays so).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date

from starlette.responses import StreamingResponse

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def lines(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text (CRLF line ends, as RFC 4180 and Excel expect)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return buffer.getvalue()


def csv_response(name: str, today: date, chunks: AsyncIterator[str]) -> StreamingResponse:
    """Stream `chunks` (CSV text, header first) as a download named NAME-YYYY-MM-DD.csv."""

    async def body() -> AsyncIterator[str]:
        yield BOM
        async for chunk in chunks:
            yield chunk

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{today.isoformat()}.csv"'},
    )


async def one_chunk(header: Sequence[str], rows: Iterable[Sequence[object]]) -> AsyncIterator[str]:
    """A small table (hundreds of rows) as a single chunk."""
    yield lines([header, *rows])
