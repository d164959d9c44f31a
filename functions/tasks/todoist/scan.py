"""Read the rows of a Todoist project CSV before planning them: UTF-8 (with or without BOM), the header,
quoted fields with commas and line breaks (Python's csv module), and the size limits.

Todoist's template (help article "Format a CSV file to import into Todoist"): TYPE (task, section,
note), CONTENT, DESCRIPTION, PRIORITY, INDENT, AUTHOR, RESPONSIBLE, DATE, DATE_LANG, TIMEZONE,
DURATION, DURATION_UNIT, DEADLINE, DEADLINE_LANG. A file that fails here is refused with the line at
fault (the physical line a row starts on, counting the header as line 1).
"""

from __future__ import annotations

import csv
import dataclasses
import io

from shared.domain.times import BadValue

#: Rows after the header (tasks, sections and notes together).
MAX_ROWS = 10_000
MAX_FIELD_CHARS = 20_000
REQUIRED = ("TYPE", "CONTENT")
#: The columns TaskFlow reads; any other column (Todoist's or not) is reported when a row fills it.
READ = frozenset(("TYPE", "CONTENT", "DESCRIPTION", "PRIORITY", "INDENT", "DATE", "DATE_LANG", "TIMEZONE"))


class BadTodoist(BadValue):
    """The file cannot be imported; `line` is the 1-based line at fault (None when unknown)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


@dataclasses.dataclass
class Row:
    """One row of the file: where it starts, its kind, and its cells by column name (upper case)."""

    line: int
    type: str
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "").strip()


def decode(data: bytes) -> str:
    """The file's text: UTF-8, a leading byte order mark dropped; a bad byte is reported with its line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadTodoist("is not UTF-8 text", data.count(b"\n", 0, exc.start) + 1) from None
    return text.removeprefix("\ufeff")


def scan(text: str) -> tuple[list[str], list[Row]]:
    """The header's column names and the rows (blank rows skipped); raise BadTodoist naming the line."""
    if "\x00" in text:
        raise BadTodoist("contains a NUL character", text.count("\n", 0, text.index("\x00")) + 1)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1  # where the record being read starts
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise BadTodoist("the file is empty: it needs a header row with TYPE and CONTENT", 1)
        columns = [cell.strip().upper() for cell in header]
        missing = [name for name in REQUIRED if name not in columns]
        if missing:
            raise BadTodoist(f"the header has no {' or '.join(missing)} column: is this a Todoist project CSV?", 1)
        dupes = sorted({c for c in columns if c and columns.count(c) > 1})
        if dupes:
            raise BadTodoist(f"the header names {', '.join(dupes)} twice", 1)
        rows: list[Row] = []
        line = reader.line_num + 1
        for record in reader:  # a record may span lines (a quoted field with line breaks)
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(record) > len(columns):
                if any(cell.strip() for cell in record[len(columns) :]):
                    raise BadTodoist(f"has {len(record)} fields, the header {len(columns)}", start)
                record = record[: len(columns)]
            if len(rows) >= MAX_ROWS:
                raise BadTodoist(f"the file has more than {MAX_ROWS} rows", start)
            cells = dict(zip(columns, record, strict=False))
            if any(len(cell) > MAX_FIELD_CHARS for cell in record):
                raise BadTodoist(f"a field is longer than {MAX_FIELD_CHARS} characters", start)
            kind = cells.get("TYPE", "").strip()
            if kind not in ("task", "section", "note"):
                shown = kind[:30] or "empty"
                raise BadTodoist(f"TYPE is {shown!r}: it must be task, section or note (lower case)", start)
            rows.append(Row(start, kind, cells))
    except csv.Error as exc:
        raise BadTodoist(f"is not CSV: {exc}", line) from None
    return columns, rows
