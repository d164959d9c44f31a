"""Hostile RRULEs (impossible, extremely sparse or dense, from 1900, asked about year 9999) and the CPU bound
the recurrence tests hold every call to.

The tests only catch a call that is unbounded; how fast a call is (the target: 200 ms of CPU) is measured
by tests/bench/bench_recurrence.py with the same rules.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TypeVar

from hypothesis import strategies as st

from shared.domain.times import BadValue

T = TypeVar("T")
UTC = dt.UTC
#: CPU seconds past which a call counts as unbounded: fifty times the 200 ms target, and a small fraction of
#: what an expansion without its budget spends on these rules (minutes, or for ever).
HANG_CPU_SECONDS = 10.0
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu"]
FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]

#: The outside probe's hostile preview bodies (dtstart 2026-01-01 in UTC unless they say otherwise).
HOSTILE_PREVIEWS: list[dict] = [
    {"recurrence_rule": "FREQ=SECONDLY;UNTIL=99991231T235959Z", "after": "9999-12-01T00:00:00Z", "count": 500},
    {"recurrence_rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "count": 5},
    {"recurrence_rule": "FREQ=MINUTELY", "dtstart": "1900-01-01T00:00:00Z", "count": 500},
    {"recurrence_rule": "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=5", "dtstart": "1900-01-01T00:00:00Z"},
    {"recurrence_rule": "FREQ=YEARLY;BYWEEKNO=53;BYMONTH=6", "dtstart": "1900-01-01T00:00:00Z"},
]


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


@st.composite
def rules(draw, allow_count: bool = True) -> str:
    """RRULE bodies mixing every part, including impossible and extreme combinations."""
    parts = [f"FREQ={draw(st.sampled_from(FREQS))}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.sampled_from([1, 2, 3, 7, 13, 15, 60, 1000, 999999]))}")
    optional = {
        "BYMONTH": st.lists(st.integers(1, 12), min_size=1, max_size=3),
        "BYMONTHDAY": st.lists(st.sampled_from([1, 15, 28, 29, 30, 31, -1, -31]), min_size=1, max_size=3),
        "BYYEARDAY": st.lists(st.sampled_from([1, 60, 200, 366, -1, -366]), min_size=1, max_size=2),
        "BYWEEKNO": st.lists(st.sampled_from([1, 20, 52, 53, -1]), min_size=1, max_size=2),
        "BYHOUR": st.lists(st.integers(0, 23), min_size=1, max_size=4),
        "BYMINUTE": st.lists(st.integers(0, 59), min_size=1, max_size=4),
        "BYSECOND": st.lists(st.integers(0, 59), min_size=1, max_size=4),
        "BYSETPOS": st.lists(st.sampled_from([1, 2, -1, 100, -366]), min_size=1, max_size=2),
    }
    for name, values in optional.items():
        if draw(st.integers(0, 3)) == 0:
            parts.append(f"{name}={_csv(sorted(set(draw(values))))}")
    if draw(st.integers(0, 3)) == 0:
        days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
        nth = draw(st.sampled_from(["", "", "1", "-1", "5", "53"]))
        parts.append("BYDAY=" + ",".join(nth + d for d in days))
    ending = draw(st.sampled_from(["none", "none", "until", "count"] if allow_count else ["none", "until"]))
    if ending == "until":
        until = draw(st.sampled_from(["99991231T235959Z", "99990101T000000", "19000102T000000Z", "20270101T000000Z"]))
        parts.append(f"UNTIL={until}")
    elif ending == "count":
        parts.append(f"COUNT={draw(st.sampled_from([1, 5, 1000, 999999999]))}")
    return ";".join(parts)


moments = st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(UTC))


def bounded(call: Callable[[], T], clock: Callable[[], float] = time.thread_time) -> T | BadValue:
    """Run `call` once; return its result (or the BadValue it raised); fail if it spent HANG_CPU_SECONDS of CPU.

    Pure calls are timed on this thread's CPU clock; HTTP calls (served by another thread of this
    process) on the process CPU clock (time.process_time): other work on the machine does not count.
    """
    started = clock()
    try:
        result: T | BadValue = call()
    except BadValue as exc:
        result = exc
    spent = clock() - started
    assert spent <= HANG_CPU_SECONDS, f"{spent:.1f} s of CPU: the call is not bounded"
    return result


def over_http(call: Callable[[], T]) -> T | BadValue:
    """`bounded`, on the process CPU clock (the live server answers from another thread of this process)."""
    return bounded(call, clock=time.process_time)
