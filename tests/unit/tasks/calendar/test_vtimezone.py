"""The feed's VTIMEZONE, read as a client that ignores its own zone database reads it."""

from __future__ import annotations

import bisect
import datetime as dt
import zoneinfo

import icalendar
import pytest

UTC = dt.UTC


def onsets(vtimezone: icalendar.cal.Component) -> list[tuple[dt.datetime, dt.timedelta]]:
    """Every onset of the VTIMEZONE as (UTC instant, TZOFFSETTO), in order (RFC 5545 §3.6.5: each onset
    is local time in TZOFFSETFROM)."""
    found = []
    for sub in vtimezone.subcomponents:
        offset_from, offset_to = sub["TZOFFSETFROM"].td, sub["TZOFFSETTO"].td
        rdates = sub.get("RDATE", [])
        locals_ = [sub.decoded("DTSTART")] + [
            p.dt for entry in (rdates if isinstance(rdates, list) else [rdates]) for p in entry.dts
        ]
        found += [((local - offset_from).replace(tzinfo=UTC), offset_to) for local in locals_]
    return sorted(found, key=lambda onset: onset[0])


def vtimezone_offset(ordered: list[tuple[dt.datetime, dt.timedelta]], instant: dt.datetime) -> dt.timedelta:
    """The UTC offset a client reading only the VTIMEZONE gives `instant`: the latest onset at or before it."""
    return ordered[bisect.bisect_right([at for at, _ in ordered], instant) - 1][1]


@pytest.mark.parametrize("tzid", ["America/New_York", "Europe/London", "Australia/Sydney", "Pacific/Auckland"])
def test_the_feeds_vtimezone_changes_offset_at_the_zone_databases_instants_until_2100(tzid):
    """For clients that read the VTIMEZONE rather than their own zone database (Outlook, some CalDAV
    servers): every change 1971-2099 at its exact instant, and the right offset every month in between."""
    from functions.tasks.calendar.feed import vtimezone

    component = icalendar.Calendar.from_ical(
        b"BEGIN:VCALENDAR\r\n" + vtimezone(tzid).to_ical() + b"END:VCALENDAR\r\n"
    ).walk("VTIMEZONE")[0]
    tz = zoneinfo.ZoneInfo(tzid)
    changes = 0
    for sub in component.subcomponents:
        if sub["TZOFFSETFROM"].td == sub["TZOFFSETTO"].td:
            continue
        rdates = sub.get("RDATE", [])
        for local in [sub.decoded("DTSTART")] + [
            p.dt for entry in (rdates if isinstance(rdates, list) else [rdates]) for p in entry.dts
        ]:
            instant = (local - sub["TZOFFSETFROM"].td).replace(tzinfo=UTC)
            assert (instant - dt.timedelta(seconds=1)).astimezone(tz).utcoffset() == sub["TZOFFSETFROM"].td, local
            assert instant.astimezone(tz).utcoffset() == sub["TZOFFSETTO"].td, local
            changes += 1
    assert changes > 2 * 100, "a change each spring and autumn, 1971-2099"
    ordered = onsets(component)
    for year in range(1971, 2100):
        for month in range(1, 13):
            instant = dt.datetime(year, month, 15, 12, tzinfo=UTC)
            assert vtimezone_offset(ordered, instant) == instant.astimezone(tz).utcoffset(), (year, month)
