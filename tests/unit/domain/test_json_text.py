"""JSON text through orjson: what the stdlib wrote, faster; what orjson refuses, the stdlib's way."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import math

import pytest
from flask.json.provider import _default as flask_default

from shared.domain import json_text

VALUES = [
    {"title": "Café ☕ — naïve 日本", "tags": ["été"], "n": 3, "x": 2.5, "ok": True, "none": None},
    [1, "two", {"three": [4.0, -5]}],
    "plain",
    {"nested": {"deeper": {"deepest": []}}},
]


@pytest.mark.parametrize("value", VALUES)
def test_it_writes_the_json_the_stdlib_wrote_and_reads_it_back(value):
    written = json_text.dumps(value)
    assert json.loads(written) == value
    assert written == json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert json_text.loads(written) == value and json_text.loads(written.decode()) == value
    assert json_text.dumps_text(value) == written.decode()


def test_what_orjson_refuses_the_stdlib_still_writes_and_reads():
    lone = "a\udfffb"  # a lone surrogate: escaped, as the stdlib writes it
    assert json_text.dumps({"t": lone}) == b'{"t":"a\\udfffb"}'
    huge = 2**70
    assert json_text.dumps([huge]) == f"[{huge}]".encode()
    assert json_text.dumps({1: "one"}) == b'{"1":"one"}', "keys as the stdlib writes them"
    assert math.isnan(json_text.loads("[NaN]")[0]), "an older row's NaN still reads"
    with pytest.raises(ValueError):
        json_text.loads(b"{not json")


def test_with_a_default_dates_and_dataclasses_go_to_it_as_with_the_stdlib():
    @dataclasses.dataclass
    class Point:
        x: int

    value = {
        "at": dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 12, 5),
        "d": decimal.Decimal("1.5"),
    }
    assert json.loads(json_text.dumps(value, flask_default)) == json.loads(json.dumps(value, default=flask_default))
    assert json_text.dumps({"p": Point(1)}, lambda o: {"point": o.x}) == b'{"p":{"point":1}}'
    with pytest.raises(TypeError):
        json_text.dumps({"d": decimal.Decimal("1.5")})  # no default: refused, as the stdlib refuses it


def test_integers_beyond_64_bits_read_back_exactly():
    for huge in (2**64, 2**70, -(2**63) - 1, -9999999999999999999):
        assert json_text.loads(json_text.dumps({"n": huge})) == {"n": huge}
        assert json_text.loads(json_text.dumps_text([huge])) == [huge]
    assert json_text.loads(b'{"phone":"1234567890123456789012"}') == {"phone": "1234567890123456789012"}
