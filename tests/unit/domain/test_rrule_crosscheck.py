"""Where TaskFlow departs from rrule.js and python-dateutil, the libraries really answer otherwise.

tests/data/rrule_crosscheck.json records, for each such case, what both libraries answer; this checks it
against the installed python-dateutil, so every correction TaskFlow makes is needed. (TaskFlow's own
answers over the preview endpoint: tests/integration/tasks/test_rrule_crosscheck.py.)
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from dateutil import rrule

from tests.support.paths import DATA

CASES = json.loads((DATA / "rrule_crosscheck.json").read_text())["cases"]


@pytest.mark.parametrize("case", [c for c in CASES if c.get("libraries")], ids=lambda c: c["name"])
def test_where_taskflow_departs_from_dateutil_dateutil_really_answers_otherwise(case):
    """Each correction is needed: plain dateutil gives the libraries' (non-RFC) answer."""
    start = dt.datetime.fromisoformat(case["dtstart"])
    rule = rrule.rrulestr(case["rule"], dtstart=start)
    got = [o.isoformat() for o in rule.xafter(start, count=len(case["libraries"]) + 3, inc=True)]
    assert got == case["libraries"]
    assert got != case.get("expected"), "TaskFlow's answer differs (or it refuses the rule)"
