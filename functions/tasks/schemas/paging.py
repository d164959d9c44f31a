"""Opaque page cursors: what a page's `next_cursor` holds, and reading one back from a query string.

Both directions live here, beside the query models that parse them: a cursor is pure parsing (no
database), and the one format has one home. Core writes them (functions.tasks.core), the query
models read them (TaskQuery, EventQuery).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema

from shared.domain.times import BadValue

_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")
_CURSOR_SCHEMA = {"type": "string", "maxLength": 400, "description": "next_cursor of the previous page"}


def encode_cursor(created_at: dt.datetime, task_id: str) -> str:
    """The cursor of a page of tasks that ends at this task (newest first: created_at, then id)."""
    raw = json.dumps([created_at.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: object) -> tuple[dt.datetime, str]:
    """Read a task page's cursor back; anything this API did not issue is a BadValue (422)."""
    try:
        if not isinstance(value, str):
            raise TypeError
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        created, task_id = json.loads(raw)
        parsed = dt.datetime.fromisoformat(created)
        if parsed.tzinfo is None or not isinstance(task_id, str) or not _ID_RE.fullmatch(task_id):
            raise ValueError
        parsed = parsed.astimezone(dt.UTC)
        if not 1900 <= parsed.year <= 9999:
            raise ValueError
        return parsed, task_id
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadValue("is not a cursor this API issued") from None


def decode_row_cursor(value: object) -> int:
    """Read an event page's cursor (the last row id shown) back; anything else is a BadValue (422)."""
    try:
        if not isinstance(value, str):
            raise TypeError
        row_id = int(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
    except (ValueError, TypeError, UnicodeDecodeError):
        raise BadValue("is not a cursor this API issued") from None
    if not 0 <= row_id < 2**63:  # a bigint column: anything else overflows the query
        raise BadValue("is not a cursor this API issued")
    return row_id


def encode_row_cursor(row_id: int) -> str:
    """The cursor of a page of events that ends at this row."""
    return base64.urlsafe_b64encode(str(row_id).encode()).decode().rstrip("=")


TaskCursor = Annotated[tuple[dt.datetime, str], PlainValidator(decode_cursor), WithJsonSchema(_CURSOR_SCHEMA)]
RowCursor = Annotated[int, PlainValidator(decode_row_cursor), WithJsonSchema(_CURSOR_SCHEMA)]
