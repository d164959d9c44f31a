"""RFC 5545 recurrence maths with python-dateutil, evaluated in the task's IANA timezone.

Rules are expanded on naive wall-clock times and each occurrence is then placed in the zone,
so a daily 09:00 stays 09:00 local across DST transitions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re

from dateutil import rrule

from shared.timeutil import UTC, BadValue, parse_datetime, zone

MIN_GAP = dt.timedelta(minutes=15)
_GUARD_SAMPLE = 300
_DTSTART_RE = re.compile(r"^DTSTART(?:;TZID=(?P<tzid>[^:]+))?:(?P<value>\S+)$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Rule:
    """A parsed rule: normalised RRULE text, its zone and its first (wall-clock) start."""

    text: str
    timezone: str
    dtstart: dt.datetime  # aware UTC

    def _local_start(self) -> dt.datetime:
        return self.dtstart.astimezone(zone(self.timezone)).replace(tzinfo=None)

    def _rrule(self, start_local: dt.datetime | None = None) -> rrule.rrule | rrule.rruleset:
        return _compile(_localise_until(self.text, self.timezone), start_local or self._local_start())

    def _place(self, naive: dt.datetime) -> dt.datetime:
        return naive.replace(tzinfo=zone(self.timezone)).astimezone(UTC)

    def occurrences(self, after: dt.datetime, count: int, inclusive: bool = True) -> list[dt.datetime]:
        """Up to `count` occurrences at (or strictly after) `after`, as aware UTC datetimes."""
        local_after = after.astimezone(zone(self.timezone)).replace(tzinfo=None)
        # Step back a day so DST offsets never hide a boundary occurrence; filter exactly below.
        cursor = local_after - dt.timedelta(days=1)
        out: list[dt.datetime] = []
        for naive in self._rrule():
            if naive < cursor:
                continue
            placed = self._place(naive)
            if placed > after or (inclusive and placed == after):
                out.append(placed)
                if len(out) >= count:
                    break
        return out

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first occurrence strictly after `moment` (None when COUNT/UNTIL is exhausted)."""
        found = self._after(moment)
        return found

    def _after(self, moment: dt.datetime) -> dt.datetime | None:
        local = moment.astimezone(zone(self.timezone)).replace(tzinfo=None) - dt.timedelta(days=1)
        for naive in self._rrule().xafter(local, inc=True):
            placed = self._place(naive)
            if placed > moment:
                return placed
        return None

    def first(self) -> dt.datetime | None:
        """The first occurrence of the series (at or after dtstart)."""
        return self._after(self.dtstart - dt.timedelta(microseconds=1))

    def step_from(self, moment: dt.datetime) -> dt.datetime | None:
        """One rule step after `moment`, as if the series restarted there (Todoist's "every!")."""
        local = moment.astimezone(zone(self.timezone)).replace(tzinfo=None, microsecond=0)
        text = re.sub(r"(COUNT|UNTIL)=[^;]*;?", "", self.text).strip(";")
        for naive in _compile(text, local):
            placed = self._place(naive)
            if placed > moment:
                return placed
        return None

    def min_gap(self) -> dt.timedelta | None:
        """The smallest distance between consecutive occurrences in a long sample."""
        sample = []
        for naive in self._rrule():
            sample.append(self._place(naive))
            if len(sample) >= _GUARD_SAMPLE:
                break
        gaps = [b - a for a, b in zip(sample, sample[1:], strict=False)]
        return min(gaps) if gaps else None


def _localise_until(text: str, tz_name: str) -> str:
    """Rules expand on wall-clock times; turn a UTC UNTIL (…Z) into the zone's wall-clock time."""
    match = re.search(r"UNTIL=(\d{8}T\d{6})Z", text)
    if not match:
        return text
    until = dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    local = until.astimezone(zone(tz_name)).strftime("%Y%m%dT%H%M%S")
    return text[: match.start()] + f"UNTIL={local}" + text[match.end() :]


@functools.lru_cache(maxsize=4096)
def _compile(text: str, start_local: dt.datetime) -> rrule.rrule | rrule.rruleset:
    return rrule.rrulestr(text, dtstart=start_local, ignoretz=True, cache=False)


def normalise(text: object) -> tuple[str, str | None]:
    """Split a client's rule into (RRULE body without prefix, embedded DTSTART line or None)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        raise BadValue("must be an RFC 5545 RRULE string such as 'FREQ=DAILY;BYHOUR=9'")
    rule_lines, dtstart_line = [], None
    for line in re.split(r"[\r\n]+", text.strip()):
        line = line.strip()
        if not line:
            continue
        if line.upper().startswith("DTSTART"):
            dtstart_line = line
        elif line.upper().startswith("RRULE:"):
            rule_lines.append(line[6:])
        elif line.upper().startswith(("EXDATE", "RDATE", "EXRULE")):
            raise BadValue("only a single RRULE (with an optional DTSTART) is supported")
        else:
            rule_lines.append(line)
    if len(rule_lines) != 1:
        raise BadValue("must contain exactly one RRULE")
    body = rule_lines[0].upper().strip(";")
    if "FREQ=" not in body:
        raise BadValue("needs a FREQ part, e.g. FREQ=WEEKLY")
    return body, dtstart_line


def _embedded_dtstart(line: str, tz_name: str) -> dt.datetime:
    match = _DTSTART_RE.match(line.strip())
    if not match:
        raise BadValue("has a DTSTART line that cannot be read")
    tzid = match.group("tzid") or tz_name
    value = match.group("value")
    try:
        if value.endswith("Z"):
            naive = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ")
            return naive.replace(tzinfo=UTC)
        naive = dt.datetime.strptime(value, "%Y%m%dT%H%M%S") if "T" in value else dt.datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise BadValue("has a DTSTART that is not a valid date-time") from None
    return naive.replace(tzinfo=zone(tzid)).astimezone(UTC)


def parse_rule(
    text: object,
    tz_name: str,
    dtstart: object = None,
    *,
    default_start: dt.datetime | None = None,
    field: str = "recurrence_rule",
) -> Rule:
    """Validate and parse a rule; raise BadValue (with the field named by the caller) when it is wrong."""
    body, dtstart_line = normalise(text)
    given = None if dtstart is None else parse_datetime(dtstart, tz_name)
    if dtstart_line is not None:
        embedded = _embedded_dtstart(dtstart_line, tz_name)
        if given is not None and embedded != given:
            raise BadValue("has an embedded DTSTART that contradicts dtstart")
        given = embedded
    start = (given or default_start or dt.datetime.now(UTC)).replace(microsecond=0)
    rule = Rule(text=body, timezone=tz_name, dtstart=start)
    try:
        rule._rrule()
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise BadValue(f"is not a valid RRULE: {str(exc)[:120]}") from None
    return rule


def check_flood_guard(rule: Rule) -> None:
    """Refuse a task rule whose occurrences can fall closer than 15 minutes."""
    if re.search(r"FREQ=(SECONDLY|MINUTELY)", rule.text) and not _minutely_ok(rule.text):
        raise BadValue("recurs more often than every 15 minutes")
    gap = rule.min_gap()
    if gap is not None and gap < MIN_GAP:
        raise BadValue("recurs more often than every 15 minutes")


def _minutely_ok(text: str) -> bool:
    if "FREQ=SECONDLY" in text:
        return False
    match = re.search(r"INTERVAL=(\d+)", text)
    return match is not None and int(match.group(1)) >= 15 and "BYSECOND" not in text
