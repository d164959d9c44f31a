"""Quick add: one line of plain English -> the fields of a task (POST /api/<user_id>/parse).

The recurrence grammar ("every weekday at 9:30", "every! 3 days", "every month on the 1st until
March", "for 10 times") is ours and produces RFC 5545 RRULEs read by shared.domain.rule_parsing.
Date phrases ("tomorrow", "next friday", "march 3", "in 2 hours") are found by the patterns below
and resolved by dateparser relative to the user's time zone. Input that can be read two ways
("at 6", "3/4") is not guessed: it comes back as a question.

Pure functions: no Flask, no database. Input is capped (MAX_TEXT) and every pattern is linear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

import dateparser

from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue, rfc3339, zone

MAX_TEXT = 500
DEFAULT_TIME = dt.time(9, 0)
PREVIEW_COUNT = 5

_WEEKDAYS = {
    "mo": "MO", "mon": "MO", "monday": "MO",
    "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU",
    "we": "WE", "wed": "WE", "wednesday": "WE",
    "th": "TH", "thu": "TH", "thur": "TH", "thurs": "TH", "thursday": "TH",
    "fr": "FR", "fri": "FR", "friday": "FR",
    "sa": "SA", "sat": "SA", "saturday": "SA",
    "su": "SU", "sun": "SU", "sunday": "SU",
}  # fmt: skip
_DAY_NAMES = (
    r"(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)"
)
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_NAMES = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "other": 2,
}  # fmt: skip
_NUM = r"(?:\d{1,3}|other|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_ORDINAL = r"(?:first|second|third|fourth|fifth|last|[1-5](?:st|nd|rd|th))"
_DAY_ORDINAL = r"(?:[12]?\d|3[01])(?:st|nd|rd|th)?"
_PRIORITY_WORDS = {
    "urgent": "urgent", "high": "high", "medium": "medium", "med": "medium", "low": "low", "none": "none",
    "1": "urgent", "2": "high", "3": "medium", "4": "low",
}  # fmt: skip
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "hr": 60, "hour": 60, "d": 1440, "day": 1440, "w": 10080, "week": 10080}
_WORD_TIMES = {
    "noon": dt.time(12), "midday": dt.time(12), "midnight": dt.time(0),
    "morning": dt.time(9), "afternoon": dt.time(15), "evening": dt.time(19),
}  # fmt: skip
_ADVERBS = {
    "daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "monthly": "FREQ=MONTHLY", "yearly": "FREQ=YEARLY",
    "annually": "FREQ=YEARLY", "biweekly": "FREQ=WEEKLY;INTERVAL=2", "fortnightly": "FREQ=WEEKLY;INTERVAL=2",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "weekends": "FREQ=WEEKLY;BYDAY=SA,SU",
}  # fmt: skip
_FREQ_OF_UNIT = {"hour": "HOURLY", "day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}

_F = re.IGNORECASE

_TAG = re.compile(r"(?<!\S)([#@~])([\w][\w\-/]{0,49})(?!\S)", _F)
_PRIORITY = re.compile(r"(?<!\S)(?:!(urgent|high|medium|med|low|none|[1-4])|p([1-4]))(?!\S)", _F)
_REMINDER = re.compile(
    rf"\bremind(?:\s+me)?(?:\s+(?P<n>{_NUM})\s*(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s+before"
    r"|\s+at\s+(?:the\s+)?(?:due\s+)?time)?\b",
    _F,
)
_EVERY = re.compile(
    r"\b(?:(?P<every>every|each)(?P<bang>!)?(?=\s)|(?P<adverb>daily|weekly|monthly|yearly|annually|biweekly"
    r"|fortnightly|weekdays|weekends)\b)",
    _F,
)

_TIME = re.compile(
    r"(?<![\w:/])(?:(?:at|@|in\s+the)\s*)?"
    r"(?:(?P<h12>1[0-2]|0?[1-9])(?::(?P<m12>[0-5]\d))?\s*(?P<ampm>[ap])\.?m\.?"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)"
    r"|(?P<word>noon|midday|midnight|morning|afternoon|evening)"
    r"|at\s+(?P<bare>[01]?\d|2[0-3])(?![\d:/]))"
    r"(?![\w:])",
    _F,
)
_DATE_LEAD = r"(?:(?:on|by|due(?:\s+(?:on|by))?|before)\s+)?"
_DATE = re.compile(
    _DATE_LEAD + r"(?<![\w/])(?P<phrase>"
    r"(?:the\s+)?day\s+after\s+tomorrow|today|tonight|tomorrow|tmrw?|tmr"
    rf"|(?:next|this)\s+(?:week|month|year|{_DAY_NAMES})"
    rf"|in\s+{_NUM}\s+(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)"
    rf"|{_MONTH_NAMES}\.?\s+{_DAY_ORDINAL}(?:,?\s+\d{{4}})?"
    rf"|(?:the\s+)?{_DAY_ORDINAL}\s+(?:of\s+)?{_MONTH_NAMES}(?:,?\s+\d{{4}})?"
    r"|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tues?|wed|thu(?:rs?)?|fri"
    r"|january|february|march|april|june|july|august|september|october|november|december"
    r")(?![\w/])",
    _F,
)
_BOUND = re.compile(
    rf"(?P<until>until\s+)|(?:starting(?:\s+(?:on|from))?|from|beginning)\s+"
    rf"|(?:for\s+)?(?P<n>{_NUM})\s+(?:times|occurrences)\b"
    r"|(?P<clock>(?:(?:at|in\s+the)\s+|@\s*)?(?:\d{1,2}(?::\d{2})?\s*[ap]\.?m\.?|\d{1,2}:\d{2}|noon|midday|midnight"
    r"|morning|afternoon|evening|\d{1,2})(?![\w:]))",
    _F,
)
_CARRIES_TIME = re.compile(r"^(?:tonight|in\s+\S+\s+(?:minutes?|mins?|hours?|hrs?))$", _F)


@dataclasses.dataclass
class Chip:
    kind: str
    text: str
    start: int
    end: int


@dataclasses.dataclass
class Parsed:
    """What one line was understood to say."""

    title: str = ""
    due: dt.datetime | None = None  # aware, in the user's zone
    priority: str = "none"
    tags: list[str] = dataclasses.field(default_factory=list)
    list_name: str | None = None
    list_id: str | None = None
    rule: str | None = None
    repeat_from: str = "schedule"
    reminders: list[int] = dataclasses.field(default_factory=list)
    occurrences: list[dt.datetime] = dataclasses.field(default_factory=list)
    chips: list[Chip] = dataclasses.field(default_factory=list)
    questions: list[dict[str, Any]] = dataclasses.field(default_factory=list)


class _Line:
    """The input with the spans already understood blanked out (offsets stay those of the input)."""

    def __init__(self, text: str):
        self.original = text
        self.text = text

    def take(self, start: int, end: int) -> str:
        piece = self.original[start:end]
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return piece


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def _unit(word: str) -> str:
    word = word.lower().rstrip("s")
    return {"min": "m", "minute": "m", "hr": "h"}.get(word, word)


def _ordinal(word: str) -> int:
    word = word.lower()
    return _ORDINALS[word] if word in _ORDINALS else int(word[:-2])


def _month(word: str) -> int:
    return _MONTHS[word.lower()[:3]]


class QuickAdd:
    """Parse one line for one user: their zone, their lists, their default reminder, a reference time."""

    def __init__(self, timezone: str, now: dt.datetime, lists: dict[str, str] | None = None, default_reminder: int = 0):
        self.tz = zone(timezone)
        self.timezone = timezone
        self.now = now.astimezone(self.tz).replace(microsecond=0)
        self.lists = {name.casefold(): (name, list_id) for list_id, name in (lists or {}).items()}
        self.default_reminder = default_reminder

    def parse(self, text: str) -> Parsed:
        out = Parsed()
        line = _Line(text[:MAX_TEXT])
        self._labels(line, out)
        self._priority(line, out)
        self._reminders(line, out)
        recurrence = self._recurrence(line, out)
        clock = self._time(line, out)
        day = self._date(line, out)
        try:
            self._schedule(out, recurrence, day, clock)
        except OverflowError:  # a date phrase at the edge of the calendar ("dec 31 9999 11pm" + a day)
            out.due, out.rule, out.occurrences = None, None, []
            out.questions.append({"field": "due_date", "question": "That date is out of range: which day?"})
        if out.reminders and out.due is None:
            out.questions.append({"field": "reminders", "question": "A reminder needs a due date: when is it due?"})
        out.title = _clean_title(line.text)
        if not out.title:
            out.questions.append({"field": "title", "question": "What is the task?"})
        out.chips.sort(key=lambda c: c.start)
        return out

    # -- labels, priority, reminders ---------------------------------------------------------

    def _labels(self, line: _Line, out: Parsed) -> None:
        for match in list(_TAG.finditer(line.text)):
            sigil, name = match.group(1), match.group(2)
            known = self.lists.get(name.casefold())
            if sigil in "#~" and known and out.list_name is None:
                out.list_name, out.list_id = known
                kind = "list"
            elif sigil == "~":
                out.questions.append({"field": "list", "question": f"There is no list named {name!r}: create it?"})
                kind = "list"
            else:
                if name not in out.tags and len(out.tags) < 20:
                    out.tags.append(name)
                kind = "tag"
            out.chips.append(Chip(kind, line.take(match.start(), match.end()), match.start(), match.end()))

    def _priority(self, line: _Line, out: Parsed) -> None:
        for match in list(_PRIORITY.finditer(line.text)):
            word = (match.group(1) or match.group(2)).lower()
            out.priority = (
                _PRIORITY_WORDS[word] if match.group(1) else ("urgent", "high", "medium", "none")[int(word) - 1]
            )
            out.chips.append(Chip("priority", line.take(match.start(), match.end()), match.start(), match.end()))

    def _reminders(self, line: _Line, out: Parsed) -> None:
        for match in list(_REMINDER.finditer(line.text)):
            if match.group("n"):
                minutes = _number(match.group("n")) * _UNIT_MINUTES[_unit(match.group("unit"))]
            elif match.group(0).lower().strip().endswith("time"):
                minutes = 0
            else:
                minutes = self.default_reminder
            if minutes <= 366 * 1440 and minutes not in out.reminders and len(out.reminders) < 20:
                out.reminders.append(minutes)
            out.chips.append(Chip("reminder", line.take(match.start(), match.end()), match.start(), match.end()))

    # -- recurrence ----------------------------------------------------------------------------

    def _recurrence(self, line: _Line, out: Parsed) -> _Recurrence | None:
        # "every …" wins over an adverb used as an adjective ("daily standup every day at 9:15")
        match = next((m for m in _EVERY.finditer(line.text) if m.group("every")), None) or _EVERY.search(line.text)
        if match is None:
            return None
        rec = (
            _Recurrence(rule=_ADVERBS[match.group("adverb").lower()], end=match.end())
            if match.group("adverb")
            else self._every_clause(line.text, match.end())
        )
        if rec is None:
            question = "Every what? Try “every day”, “every monday” or “every 2 weeks”."
            out.questions.append({"field": "recurrence_rule", "question": question})
            return None
        if match.group("bang"):
            out.repeat_from = "completion"
        start = match.start()
        out.chips.append(Chip("recurrence", line.take(start, rec.end), start, rec.end))
        self._recurrence_bounds(line, out, rec)
        return rec

    def _every_clause(self, text: str, pos: int) -> _Recurrence | None:
        """Read what follows `every`: an interval and unit, weekdays, an ordinal weekday, a day of the month."""
        rest = text[pos:]
        for pattern, build in _EVERY_FORMS:
            found = pattern.match(rest)
            if found:
                rule = build(found)
                if rule is not None:
                    return _Recurrence(rule=rule, end=pos + found.end())
        return None

    def _recurrence_bounds(self, line: _Line, out: Parsed, rec: _Recurrence) -> None:
        """Read `until <date>`, `for N times`, `starting <date>` (and a time between them) after the rule."""
        for _ in range(4):
            pos = rec.end + (len(line.text[rec.end :]) - len(line.text[rec.end :].lstrip()))
            clause = _BOUND.match(line.text, pos)
            if clause is None:
                return
            if clause.group("n"):
                rec.count = _number(clause.group("n"))
                self._bound_chip(line, out, rec, "count", pos, clause.end())
                continue
            if clause.group("clock"):
                time_match = _TIME.match(line.text, pos)
                if time_match is None or time_match.end() != clause.end():
                    return
                rec.clock = self._clock(time_match, out)
                self._bound_chip(line, out, rec, "time", pos, clause.end())
                continue
            date_match = _DATE.match(line.text, clause.end())
            if date_match is None or date_match.start() != clause.end():
                return
            day = self._resolve_date(date_match.group("phrase"), out)
            if day is not None and clause.group("until"):
                rec.until = _until_day(date_match.group("phrase"), day)
            elif day is not None:
                rec.start = day
            self._bound_chip(line, out, rec, "until" if clause.group("until") else "start", pos, date_match.end())

    def _bound_chip(self, line: _Line, out: Parsed, rec: _Recurrence, kind: str, start: int, end: int) -> None:
        out.chips.append(Chip(kind, line.take(start, end), start, end))
        rec.end = end

    # -- time and date -------------------------------------------------------------------------

    def _clock(self, match: re.Match[str], out: Parsed) -> dt.time | None:
        if match.group("h12"):
            hour = int(match.group("h12")) % 12 + (12 if match.group("ampm").lower() == "p" else 0)
            return dt.time(hour, int(match.group("m12") or 0))
        if match.group("h24"):
            return dt.time(int(match.group("h24")), int(match.group("m24")))
        if match.group("word"):
            return _WORD_TIMES[match.group("word").lower()]
        hour = int(match.group("bare"))
        if 1 <= hour <= 12:
            out.questions.append(
                {
                    "field": "due_date",
                    "question": f"At {hour} in the morning or in the evening?",
                    "options": [f"{hour}am", f"{hour}pm"],
                }
            )
            return None
        return dt.time(hour, 0)

    def _time(self, line: _Line, out: Parsed) -> dt.time | None:
        found = list(_TIME.finditer(line.text))
        if not found:
            return None
        if len(found) > 1:
            out.questions.append(
                {
                    "field": "due_date",
                    "question": "Which time did you mean?",
                    "options": [m.group(0).strip() for m in found],
                }
            )
        match = found[0]
        clock = self._clock(match, out)
        out.chips.append(Chip("time", line.take(match.start(), match.end()).strip(), match.start(), match.end()))
        return clock

    def _resolve_date(self, phrase: str, out: Parsed) -> dt.datetime | None:
        """A date phrase -> a local (aware) datetime; ambiguous or impossible ones become questions."""
        slash = re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", phrase)
        if slash and int(slash.group(1)) <= 12 and int(slash.group(2)) <= 12 and slash.group(1) != slash.group(2):
            a, b = slash.group(1), slash.group(2)
            out.questions.append(
                {
                    "field": "due_date",
                    "question": f"Is {phrase} month/day or day/month?",
                    "options": [f"{_month_name(int(a))} {int(b)}", f"{_month_name(int(b))} {int(a)}"],
                }
            )
            return None
        settings: Any = {
            "RELATIVE_BASE": self.now.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DAY_OF_MONTH": "first",
            "DATE_ORDER": "MDY",
        }
        # Any: dateparser's settings are a plain dict of mixed values.
        resolved: dt.datetime | None = dateparser.parse(_for_dateparser(phrase), languages=["en"], settings=settings)
        if resolved is None or not 1900 <= resolved.year <= 9999:
            out.questions.append({"field": "due_date", "question": f"“{phrase}” is not a date I know: which day?"})
            return None
        local = resolved.replace(tzinfo=self.tz)
        if not _CARRIES_TIME.match(phrase.strip()):
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return local

    def _date(self, line: _Line, out: Parsed) -> dt.datetime | None:
        found = list(_DATE.finditer(line.text))
        if not found:
            return None
        if len(found) > 1:
            options = [m.group("phrase") for m in found]
            out.questions.append({"field": "due_date", "question": "Which day did you mean?", "options": options})
        match = found[0]
        day = self._resolve_date(match.group("phrase"), out)
        out.chips.append(Chip("date", line.take(match.start(), match.end()).strip(), match.start(), match.end()))
        return day

    def _schedule(self, out: Parsed, rec: _Recurrence | None, day: dt.datetime | None, clock: dt.time | None) -> None:
        """Combine date, time and rule into the due date (and the series' first occurrences)."""
        if rec is None:
            if day is None and clock is None:
                return
            if day is None and clock is not None:
                due = self.now.replace(hour=clock.hour, minute=clock.minute, second=0)
                out.due = due if due > self.now else due + dt.timedelta(days=1)
            elif day is None:
                return
            elif clock is not None:
                out.due = day.replace(hour=clock.hour, minute=clock.minute, second=0)
            elif day.hour or day.minute:
                out.due = day
            else:
                at = day.replace(hour=DEFAULT_TIME.hour, minute=DEFAULT_TIME.minute)
                out.due = at if at > self.now or day.date() != self.now.date() else day.replace(hour=23, minute=59)
            return
        clock = clock or rec.clock or DEFAULT_TIME
        start_day = rec.start or day or self.now
        start = start_day.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        if start < self.now:  # the series starts the next time its clock time comes round
            start += dt.timedelta(days=1)
        text = rec.rule
        if rec.count:
            text += f";COUNT={rec.count}"
        if rec.until:
            text += ";UNTIL=" + rec.until.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        try:
            rule = parse_rule(text, self.timezone, start.replace(tzinfo=None).isoformat())
            occurrences = rule.occurrences(start.astimezone(dt.UTC), PREVIEW_COUNT)
        except BadValue as exc:
            out.questions.append({"field": "recurrence_rule", "question": f"That rule {exc}."})
            return
        out.rule = text
        out.occurrences = [o.astimezone(self.tz) for o in occurrences]
        if occurrences:
            out.due = out.occurrences[0]
        else:
            out.questions.append({"field": "recurrence_rule", "question": "That series never occurs: check its end."})


@dataclasses.dataclass
class _Recurrence:
    rule: str
    end: int
    until: dt.datetime | None = None
    count: int | None = None
    start: dt.datetime | None = None
    clock: dt.time | None = None


def _byday(days: str) -> str:
    names = re.findall(_DAY_NAMES, days, _F)
    ordered: list[str] = []
    for name in names:
        code = _WEEKDAYS[name.lower()]
        if code not in ordered:
            ordered.append(code)
    return ",".join(ordered)


def _interval(word: str | None) -> str:
    if not word:
        return ""
    n = _number(word)
    return f";INTERVAL={n}" if n > 1 else ""


_DAY_LIST = rf"{_DAY_NAMES}(?:\s*(?:,|and|&|,\s*and)\s*{_DAY_NAMES})*"
_EVERY_FORMS: list[tuple[re.Pattern[str], Any]] = [
    # every weekday / every workday / every weekend
    (re.compile(r"\s+(?:week\s*day|work\s*day)s?\b", _F), lambda m: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    (re.compile(r"\s+weekends?\b", _F), lambda m: "FREQ=WEEKLY;BYDAY=SA,SU"),
    # every morning / afternoon / evening: daily, and the word stays for the clock ("every morning" = 09:00)
    (re.compile(r"(?=\s+(?:morning|afternoon|evening)\b)", _F), lambda m: "FREQ=DAILY"),
    # every last day (of the month)
    (re.compile(r"\s+last\s+day(?:\s+of\s+(?:the|every)\s+month)?\b", _F), lambda m: "FREQ=MONTHLY;BYMONTHDAY=-1"),
    # every month on the 1st / on the last day / on the 15th
    (
        re.compile(rf"\s+(?:(?P<n>{_NUM})\s+)?months?\s+on\s+the\s+(?P<d>{_DAY_ORDINAL}|last\s+day)(?:\s+day)?\b", _F),
        lambda m: (
            "FREQ=MONTHLY"
            + _interval(m.group("n"))
            + (
                ";BYMONTHDAY=-1"
                if m.group("d").lower().startswith("last")
                else f";BYMONTHDAY={_day_number(m.group('d'))}"
            )
        ),
    ),
    # every month on the last friday / every first monday (of the month)
    (
        re.compile(
            rf"\s+(?:(?:(?P<n>{_NUM})\s+)?months?\s+on\s+the\s+)?(?P<o>{_ORDINAL})\s+(?P<day>{_DAY_NAMES})"
            r"(?:\s+of\s+(?:the|every)\s+month)?\b",
            _F,
        ),
        lambda m: (
            "FREQ=MONTHLY"
            + _interval(m.group("n"))
            + f";BYDAY={_ordinal(m.group('o'))}{_WEEKDAYS[m.group('day').lower()]}"
        ),
    ),
    # every year on march 3 / every march 3 / every 3rd of march
    (
        re.compile(rf"\s+(?:year\s+on\s+)?(?P<mon>{_MONTH_NAMES})\.?\s+(?P<d>{_DAY_ORDINAL})\b", _F),
        lambda m: f"FREQ=YEARLY;BYMONTH={_month(m.group('mon'))};BYMONTHDAY={_day_number(m.group('d'))}",
    ),
    (
        re.compile(rf"\s+(?:year\s+on\s+)?(?:the\s+)?(?P<d>{_DAY_ORDINAL})\s+(?:of\s+)?(?P<mon>{_MONTH_NAMES})\b", _F),
        lambda m: f"FREQ=YEARLY;BYMONTH={_month(m.group('mon'))};BYMONTHDAY={_day_number(m.group('d'))}",
    ),
    # every (other|2) monday, wednesday and friday / every 2 weeks on monday
    (
        re.compile(rf"\s+(?:(?P<n>{_NUM})\s+)?(?P<days>{_DAY_LIST})s?\b", _F),
        lambda m: "FREQ=WEEKLY" + _interval(m.group("n")) + f";BYDAY={_byday(m.group('days'))}",
    ),
    (
        re.compile(rf"\s+(?:(?P<n>{_NUM})\s+)?weeks?\s+on\s+(?P<days>{_DAY_LIST})\b", _F),
        lambda m: "FREQ=WEEKLY" + _interval(m.group("n")) + f";BYDAY={_byday(m.group('days'))}",
    ),
    # every 1st / every 15th (of the month)
    (
        re.compile(rf"\s+(?:the\s+)?(?P<d>{_DAY_ORDINAL})(?:\s+(?:day\s+)?of\s+(?:the|every)\s+month)?(?![\w:])", _F),
        lambda m: (
            f"FREQ=MONTHLY;BYMONTHDAY={_day_number(m.group('d'))}"
            if re.search(r"(st|nd|rd|th)$", m.group("d"), _F) or "month" in m.group(0).lower()
            else None
        ),
    ),
    # every day / every 3 days / every other week / every 2 months / every year / every 4 hours
    (
        re.compile(rf"\s+(?:(?P<n>{_NUM})\s+)?(?P<unit>hour|day|week|month|year)s?\b", _F),
        lambda m: f"FREQ={_FREQ_OF_UNIT[m.group('unit').lower()]}" + _interval(m.group("n")),
    ),
]


def _until_day(phrase: str, day: dt.datetime) -> dt.datetime:
    """`until March` ends before March starts; `until March 15` includes March 15."""
    if re.fullmatch(_MONTH_NAMES, phrase.strip(), _F):
        return day.replace(day=1, hour=0, minute=0, second=0) - dt.timedelta(seconds=1)
    return day.replace(hour=23, minute=59, second=59)


def _for_dateparser(phrase: str) -> str:
    text = re.sub(r"\b(tmrw?|tmr)\b", "tomorrow", phrase, flags=_F)
    text = re.sub(r"^this\s+", "", text, flags=_F)
    text = re.sub(r"^next\s+week$", "monday", text, flags=_F)  # Todoist: the start of next week
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=_F)
    text = re.sub(r"^the\s+", "", text, flags=_F)
    return re.sub(
        rf"\b({'|'.join(w for w in _NUMBER_WORDS if w != 'other')})\b",
        lambda m: str(_number(m.group(1))),
        text,
        flags=_F,
    )


def _day_number(text: str) -> int:
    return int(re.sub(r"\D", "", text))


def _month_name(n: int) -> str:
    return dt.date(2000, n, 1).strftime("%B")


def _clean_title(text: str) -> str:
    words = text.split()
    connectors = {"on", "at", "by", "due", "and", "from", "until", "for", "in", ",", "-", "@"}
    while words and words[-1].lower() in connectors:
        words.pop()
    while words and words[0].lower() in {"and", ",", "-"}:
        words.pop(0)
    return " ".join(words)[:500]


def as_json(parsed: Parsed, timezone: str) -> dict[str, Any]:
    """The parse endpoint's body."""
    return {
        "title": parsed.title,
        "due_date": rfc3339(parsed.due, timezone),
        "timezone": timezone,
        "priority": parsed.priority,
        "tags": parsed.tags,
        "list": parsed.list_name,
        "list_id": parsed.list_id,
        "recurrence_rule": parsed.rule,
        "repeat_from": parsed.repeat_from,
        "reminders": [{"minutes_before": m} for m in parsed.reminders],
        "occurrences": [rfc3339(o, timezone) for o in parsed.occurrences],
        "chips": [dataclasses.asdict(c) for c in parsed.chips],
        "questions": parsed.questions,
    }
