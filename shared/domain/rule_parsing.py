"""Read a client's RRULE text into a Rule: RFC 5545 checks, an embedded DTSTART, the 15-minute flood guard.

Everything here refuses with BadValue (the API answers 422 naming the field); the Rule it gives is
expanded under the budget of shared/domain/recurrence.py. Pure functions: no Flask or database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

from shared.domain.recurrence import FREQS, Rule, parts_of
from shared.domain.times import UTC, BadValue, parse_datetime, parse_timezone, zone

#: Occurrences of a task's rule may not fall closer together than this (the flood guard).
MIN_GAP = dt.timedelta(minutes=15)
# Times of day a rule may name per period (BYHOUR x BYMINUTE x BYSECOND); dateutil builds them all.
MAX_TIMES_PER_PERIOD = 3600
_DTSTART_RE = re.compile(r"^DTSTART(?:;TZID=(?P<tzid>[^:]+))?:(?P<value>\S+)$", re.IGNORECASE)


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
    parts = parts_of(body)
    if parts.get("FREQ") not in FREQS:
        raise BadValue(f"FREQ must be one of {', '.join(FREQS)}")
    if not re.fullmatch(r"[1-9]\d{0,5}", parts.get("INTERVAL", "1")):
        raise BadValue("INTERVAL must be a whole number from 1 to 999999")
    times = 1
    for name in ("BYHOUR", "BYMINUTE", "BYSECOND"):
        if name in parts:
            times *= len(set(parts[name].split(",")))
    if times > MAX_TIMES_PER_PERIOD:
        raise BadValue(f"names more than {MAX_TIMES_PER_PERIOD} times of day (BYHOUR x BYMINUTE x BYSECOND)")
    check_rfc5545(parts)
    return body, dtstart_line


_RFC_PARTS = frozenset(
    ("FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYDAY", "BYMONTHDAY", "BYYEARDAY")
    + ("BYWEEKNO", "BYMONTH", "BYSETPOS", "WKST")
)
_NUMBERED_DAY = re.compile(r"[+-]?\d")


def check_rfc5545(parts: dict[str, str]) -> None:
    """Refuse rule-part combinations RFC 5545 §3.3.10 forbids, which python-dateutil silently reinterprets.

    dateutil (and rrule.js, its port) accept each of these and answer *something*: numbered
    weekdays in a WEEKLY rule lose their number, BYMONTHDAY filters weekly periods, and so on.
    TaskFlow refuses them (422) rather than give an answer the RFC does not define; each check
    quotes the sentence it enforces. tests/data/rrule_crosscheck.json holds the cases.
    """
    unknown = sorted(set(parts) - _RFC_PARTS)
    if unknown:
        # dateutil's BYEASTER and any other extension: not RFC 5545, so no calendar client reads them.
        raise BadValue(f"uses {', '.join(unknown)[:60]}, which is not an RFC 5545 rule part")
    freq = parts["FREQ"]
    if "COUNT" in parts and "UNTIL" in parts:
        # "The UNTIL or COUNT rule parts are OPTIONAL, but they MUST NOT occur in the same 'recur'."
        raise BadValue("must not have both COUNT and UNTIL (RFC 5545 §3.3.10)")
    numbered = any(_NUMBERED_DAY.match(day) for day in parts.get("BYDAY", "").split(",") if day)
    if numbered and freq not in ("MONTHLY", "YEARLY"):
        # "The BYDAY rule part MUST NOT be specified with a numeric value when the FREQ rule part
        # is not set to MONTHLY or YEARLY." (dateutil drops the number: 1TU becomes every TU.)
        raise BadValue("may number its BYDAY weekdays (e.g. 1TU) only when FREQ is MONTHLY or YEARLY")
    if numbered and "BYWEEKNO" in parts:
        # "... the BYDAY rule part MUST NOT be specified with a numeric value with the FREQ rule
        # part set to YEARLY when the BYWEEKNO rule part is specified."
        raise BadValue("must not number its BYDAY weekdays together with BYWEEKNO")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        # "The BYMONTHDAY rule part MUST NOT be specified when the FREQ rule part is set to WEEKLY."
        raise BadValue("must not use BYMONTHDAY with FREQ=WEEKLY")
    if "BYYEARDAY" in parts and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        # "The BYYEARDAY rule part MUST NOT be specified when the FREQ rule part is set to DAILY,
        # WEEKLY, or MONTHLY."
        raise BadValue("may use BYYEARDAY only with FREQ=YEARLY (or HOURLY and finer)")
    if "BYWEEKNO" in parts and freq != "YEARLY":
        # "This rule part MUST NOT be used when the FREQ rule part is set to anything other than YEARLY."
        raise BadValue("may use BYWEEKNO only with FREQ=YEARLY")
    if "BYSETPOS" in parts and not any(p.startswith("BY") and p != "BYSETPOS" for p in parts):
        # "It MUST only be used in conjunction with another BYxxx rule part."
        raise BadValue("may use BYSETPOS only together with another BYxxx part")
    check_libical(parts)


def check_libical(parts: dict[str, str]) -> None:
    """Refuse rules that libical (Evolution, Thunderbird) expands differently from python-dateutil.

    A calendar subscribed to our feed must show the days TaskFlow shows; where the two engines
    disagree and neither is the RFC's one answer, TaskFlow refuses (422) rather than pick one.
    (`FREQ=YEARLY;BYWEEKNO=…` without BYDAY is not refused: recurrence.pin_week_days computes
    libical's answer, DTSTART's weekday in each week named.)
    """
    freq = parts["FREQ"]
    if "BYSETPOS" in parts and freq == "WEEKLY":
        # libical applies BYSETPOS to MONTHLY and YEARLY rules only (libical issue 795).
        raise BadValue(
            "may use BYSETPOS only with FREQ=MONTHLY or YEARLY (calendar apps such as Thunderbird ignore it "
            "in weekly rules); name the weekdays in BYDAY instead"
        )
    if "BYWEEKNO" in parts:
        combined = [p for p in ("BYMONTH", "BYMONTHDAY", "BYYEARDAY") if p in parts]
        if combined:
            # libical cannot combine BYWEEKNO with these (its "known limitations"); dateutil can.
            raise BadValue(f"must not combine BYWEEKNO with {combined[0]} (calendar apps expand it differently)")
        weeks = {w.lstrip("+") for w in parts["BYWEEKNO"].split(",")}
        if weeks & {"53", "-53"} and parts.get("INTERVAL", "1") != "1":
            # Every INTERVAL-th year need not have an ISO week 53: libical and dateutil then disagree.
            raise BadValue(
                "must not name week 53 together with an INTERVAL: not every year has a week 53; "
                "use BYWEEKNO=-1 (the last week) or INTERVAL=1"
            )


def _embedded_dtstart(line: str, tz_name: str) -> dt.datetime:
    match = _DTSTART_RE.match(line.strip())
    if not match:
        raise BadValue("has a DTSTART line that cannot be read")
    tzid = parse_timezone(match.group("tzid")) if match.group("tzid") else tz_name
    value = match.group("value")
    try:
        if value.endswith("Z"):
            naive = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ")
            return naive.replace(tzinfo=UTC)
        naive = dt.datetime.strptime(value, "%Y%m%dT%H%M%S") if "T" in value else dt.datetime.strptime(value, "%Y%m%d")
    except ValueError:
        raise BadValue("has a DTSTART that is not a valid date-time") from None
    if not 1900 <= naive.year <= 9999:
        raise BadValue("has a DTSTART whose year is not between 1900 and 9999")
    try:
        return naive.replace(tzinfo=zone(tzid)).astimezone(UTC)
    except OverflowError:
        raise BadValue("has a DTSTART out of range") from None


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
    wall = _wall_clock(dtstart_line, dtstart, tz_name)
    rule = Rule(text=body, timezone=tz_name, dtstart=start)
    if given is not None and wall is not None and rule.local_time(start) != wall:
        # RFC 5545 §3.3.5 places a DTSTART in a spring-forward gap "using the UTC offset before
        # the gap"; the series keeps the wall-clock time it was given (02:30 stays 02:30 after).
        rule = dataclasses.replace(rule, wall=wall)
    try:
        rule.compiled()
    except (ValueError, TypeError, KeyError, OverflowError, IndexError) as exc:
        raise BadValue(f"is not a valid RRULE: {str(exc)[:120]}") from None
    return rule


def _wall_clock(dtstart_line: str | None, dtstart: object, tz_name: str) -> dt.datetime | None:
    """The naive wall-clock start a client gave in `tz_name` (embedded DTSTART, or dtstart without offset)."""
    if dtstart_line is not None:
        match = _DTSTART_RE.match(dtstart_line.strip())
        if match is None or (match.group("tzid") and match.group("tzid") != tz_name):
            return None
        value = match.group("value")
        if "T" not in value or value.endswith("Z"):
            return None
        try:
            return dt.datetime.strptime(value, "%Y%m%dT%H%M%S")
        except ValueError:
            return None
    if not isinstance(dtstart, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(dtstart.strip())
    except ValueError:
        return None
    return parsed.replace(microsecond=0) if parsed.tzinfo is None else None


def check_flood_guard(rule: Rule, now: dt.datetime | None = None) -> None:
    """Refuse a task rule whose occurrences can fall closer than 15 minutes (sampled from about now)."""
    if re.search(r"FREQ=(SECONDLY|MINUTELY)", rule.text) and not _minutely_ok(rule.text):
        raise BadValue("recurs more often than every 15 minutes")
    gap = rule.min_gap(now or dt.datetime.now(UTC))
    if gap is not None and gap < MIN_GAP:
        raise BadValue("recurs more often than every 15 minutes")


def _minutely_ok(text: str) -> bool:
    if "FREQ=SECONDLY" in text:
        return False
    match = re.search(r"INTERVAL=(\d+)", text)
    return match is not None and int(match.group(1)) >= 15 and "BYSECOND" not in text
