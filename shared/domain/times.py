"""Parsing and formatting of times and IANA timezones at the edge."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

UTC = dt.UTC


class BadValue(ValueError):
    """A value a client sent that cannot be used; the message is safe to show."""


#: Names the tz database directory holds that are not zones a calendar knows: the host's own
#: zone (differs between machines) and the POSIX default rules.
_NOT_IANA = frozenset(("localtime", "posixrules"))


@functools.cache
def _iana_names() -> frozenset[str]:
    # Without the right/ (leap-second clocks, seconds off the civil time) and posix/ copies.
    return frozenset(zoneinfo.available_timezones()) - _NOT_IANA


def parse_timezone(value: object) -> str:
    """Return an IANA timezone name every calendar client resolves the same way, or raise BadValue.

    Everywhere a zone enters (bodies, rules, imported TZIDs): the tz database also answers to
    `localtime`, `right/…` and `posix/…`, which mean other clocks or the server's own zone."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadValue("must be an IANA timezone name such as 'Europe/Paris'")
    if value not in _iana_names():
        raise BadValue(f"unknown timezone {value[:64]!r}: use an IANA name such as 'Europe/Paris'")
    return value


def zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def parse_datetime(value: object, tz_name: str = "UTC") -> dt.datetime:
    """Parse an RFC 3339 / ISO 8601 time; a value without an offset is wall-clock time in tz_name."""
    if not isinstance(value, str) or not value or len(value) > 64:
        raise BadValue("must be an RFC 3339 date-time string")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(f"{value[:64]!r} is not a valid date-time") from None
    if not 1900 <= parsed.year <= 9999:
        raise BadValue("year must be between 1900 and 9999")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(tz_name))
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise BadValue("date-time out of range") from None


def rfc3339(value: dt.datetime | None, tz_name: str | None = None) -> str | None:
    """Format an aware datetime with its offset (in tz_name when given)."""
    if value is None:
        return None
    if tz_name:
        value = value.astimezone(zone(tz_name))
    else:
        value = value.astimezone(UTC)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z") if value.utcoffset() == dt.timedelta(0) and not tz_name else text
