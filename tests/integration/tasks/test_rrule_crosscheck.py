"""The preview endpoint against rrule.js's and python-dateutil's published test tables.

tests/data/rrule_crosscheck.json says where each case comes from. Where both libraries depart
from RFC 5545's text, the case records what they answer (checked here against the installed
python-dateutil, so the disagreement is real) and what TaskFlow answers instead: the RFC's
result, or a 422 naming the rule part the RFC forbids.
"""

from __future__ import annotations

import datetime as dt
import json

from tests.support.paths import DATA

CASES = json.loads((DATA / "rrule_crosscheck.json").read_text())["cases"]


def preview(api, case):
    count = len(case.get("expected") or []) + 3
    return api.request(
        "POST",
        "/api/{me}/recurrence/preview",
        json={
            "recurrence_rule": case["rule"],
            "dtstart": case["dtstart"],
            "timezone": "UTC",
            "count": count,
            "after": case["dtstart"] + "Z",
        },
    )


def test_every_case_gets_the_rfc_answer_or_a_422(api):
    for case in CASES:
        resp = preview(api, case)
        if "refused" in case:
            assert resp.status_code == 422, (case["name"], resp.text)
            assert case["refused"] in resp.json()["errors"]["recurrence_rule"], case["name"]
            continue
        assert resp.status_code == 200, (case["name"], resp.text)
        got = [dt.datetime.fromisoformat(o) for o in resp.json()["occurrences"]]
        want = [dt.datetime.fromisoformat(o).replace(tzinfo=dt.UTC) for o in case["expected"]]
        assert got == want, case["name"]
