"""JSON text for everything the functions write and read on a hot path: orjson, with the stdlib as the fallback.

A create serialises its task three times (the outbox envelope, its tags, the response) and every
consumer parses each envelope it reads; the stdlib's encoder was about 17 µs of a create's ~800 µs
of CPU, orjson's is about 1.5 µs (tests/bench/bench_writepath.py, issue 27). The output means the
same JSON: compact, keys in the order given, non-ASCII text as UTF-8 instead of `\\u` escapes.

What orjson refuses to write the stdlib writes, exactly as it always did: a value holding text with
a lone surrogate (escaped) or an integer beyond 64 bits. On orjson's way, two differences, both to
valid JSON: NaN and infinities, which the stdlib writes as tokens no JSON parser (PostgreSQL's
included) accepts, become null; and without a `default`, dates, UUIDs and dataclasses are written
(RFC 3339, text, objects) where the stdlib raised TypeError.

orjson reads an integer beyond 64 bits as a float, silently: `loads` gives text holding a run of 19
or more digits to the stdlib, which reads it exactly. Input from outside (a broker's delivery, a
request body) keeps the stdlib's parser or pydantic's all the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

#: 19 digits in a row: the shortest integer outside orjson's 64 bits (-9999999999999999999) has as many.
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")
_OPTIONS = orjson.OPT_NON_STR_KEYS  # {1: …} as {"1": …}, as the stdlib writes it
#: With a `default`, dates and dataclasses go to it, as the stdlib sends them (Flask writes HTTP dates).
_OPTIONS_WITH_DEFAULT = _OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any, default: Callable[[Any], Any] | None = None) -> bytes:
    """`value` as compact JSON bytes (UTF-8); `default` turns what JSON has no type for into what it has."""
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS if default is None else _OPTIONS_WITH_DEFAULT)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), default=default).encode()


def dumps_text(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """`value` as compact JSON text."""
    return dumps(value, default).decode()


def loads(raw: bytes | bytearray | str) -> Any:
    """The value JSON text holds (ValueError for text that is not JSON)."""
    long_digits = _LONG_DIGITS_TEXT if isinstance(raw, str) else _LONG_DIGITS
    if long_digits.search(raw) is not None:  # type: ignore[arg-type]  # the pattern of raw's own kind
        return json.loads(raw)  # maybe an integer orjson would read as a float
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # what orjson refuses and the stdlib reads (NaN from an older row), or its error
