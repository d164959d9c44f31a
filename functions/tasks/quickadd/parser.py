"""Quick add: one line of plain English -> the fields of a task (POST /api/<user_id>/parse).

The recurrence grammar ("every weekday at 9:30", "every! 3 days", "every month on the 1st until
March", "for 10 times") is ours (quickadd/every.py) and produces RFC 5545 RRULEs read by
shared.domain.rule_parsing. Date phrases ("tomorrow", "next friday", "march 3", "in 2 hours") are
found by the patterns of quickadd/words.py and resolved by dateparser relative to the user's time
zone. Input that can be read two ways ("at 6", "3/4") is not guessed: it comes back as a question.

Pure functions: no Flask, no database. Input is capped (MAX_TEXT) and every pattern is linear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, cast

import dateparser

from functions.tasks.quickadd import every, words
from shared.domain.rule_parsing import parse_rule
from shared.domain.times import BadValue, rfc3339, zone

MAX_TEXT = 500
DEFAULT_TIME = dt.time(9, 0)
PREVIEW_COUNT = 5


@dataclasses.dataclass
class Chip:
    kind: str
    text: str
    start: int
    end: int
    note: str | None = None  # how the words were read, when that is not plain ("read as “tomorrow”")


@dataclasses.dataclass
class Parsed:
    """What one line was understood to say."""

    title: str = ""
    due: dt.datetime | None = None  # aware, in the user's zone (00:00 of the day when all_day)
    all_day: bool = False  # a date without a time of day: due on that calendar day
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
        """Blank out a span understood (so later patterns skip it) and return its text."""
        piece = self.original[start:end]
        self.text = self.text[:start] + " " * (end - start) + self.text[end:]
        return piece


class QuickAdd:
    """Parse one line for one user: their zone, their lists, their default reminder, a reference time."""

    def __init__(self, timezone: str, now: dt.datetime, lists: dict[str, str] | None = None, default_reminder: int = 0):
        self.tz = zone(timezone)
        self.timezone = timezone
        self.now = now.astimezone(self.tz).replace(microsecond=0)
        self.lists = {name.casefold(): (name, list_id) for list_id, name in (lists or {}).items()}
        self.default_reminder = default_reminder
        self.note: str | None = None  # how the last date phrase was read, for its chip

    def parse(self, text: str) -> Parsed:
        """Read one line: labels, priority, reminders, recurrence, time and date, then what is left is the title."""
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
        if any(q["field"] == "due_date" for q in out.questions):
            # No guessed day while a question about it is pending: the answer decides.
            out.due, out.all_day, out.occurrences = None, False, []
            out.chips = [c for c in out.chips if c.kind not in ("date", "time")]
        for chip in out.chips:
            if chip.kind == "recurrence" and out.rule:
                chip.note = _shorter_months(out.rule, chip.text)
        if out.reminders and out.due is None:
            out.questions.append({"field": "reminders", "question": "A reminder needs a due date: when is it due?"})
        out.title = _clean_title(line.text)
        if not out.title:
            out.questions.append({"field": "title", "question": "What is the task?"})
        out.chips.sort(key=lambda c: c.start)
        for question in out.questions:
            if "options" in question:
                question["options"] = list(dict.fromkeys(question["options"]))
        return out

    # -- labels, priority, reminders ---------------------------------------------------------

    def _labels(self, line: _Line, out: Parsed) -> None:
        """Read `#list`, `~list` and `@tag` labels (a `#name` is a list when the user has one so named)."""
        for match in list(words.TAG.finditer(line.text)):
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
        """Read `!high` / `p1`-style priorities."""
        for match in list(words.PRIORITY.finditer(line.text)):
            word = (match.group(1) or match.group(2)).lower()
            out.priority = (
                words.PRIORITY_WORDS[word] if match.group(1) else ("urgent", "high", "medium", "none")[int(word) - 1]
            )
            out.chips.append(Chip("priority", line.take(match.start(), match.end()), match.start(), match.end()))

    def _reminders(self, line: _Line, out: Parsed) -> None:
        """Read `remind me [N units before | at due time]` (bare: the user's default lead)."""
        for match in list(words.REMINDER.finditer(line.text)):
            if match.group("n"):
                minutes = words.number(match.group("n")) * words.UNIT_MINUTES[words.unit(match.group("unit"))]
            elif match.group(0).lower().strip().endswith("time"):
                minutes = 0
            else:
                minutes = self.default_reminder
            if minutes <= 366 * 1440 and minutes not in out.reminders and len(out.reminders) < 20:
                out.reminders.append(minutes)
            out.chips.append(Chip("reminder", line.take(match.start(), match.end()), match.start(), match.end()))

    # -- recurrence ----------------------------------------------------------------------------

    def _recurrence(self, line: _Line, out: Parsed) -> every.Recurrence | None:
        """Read an `every …` clause or an adverb (daily, weekly…) and the bounds after it."""
        # "every …" wins over an adverb used as an adjective ("daily standup every day at 9:15")
        match = next((m for m in words.EVERY.finditer(line.text) if m.group("every")), None) or words.EVERY.search(
            line.text
        )
        if match is None:
            return None
        rec = (
            every.Recurrence(rule=words.ADVERBS[match.group("adverb").lower()], end=match.end())
            if match.group("adverb")
            else every.every_clause(line.text, match.end())
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

    def _recurrence_bounds(self, line: _Line, out: Parsed, rec: every.Recurrence) -> None:
        """Read `until <date>`, `for N times`, `starting <date>` (and a time between them) after the rule."""
        for _ in range(4):
            pos = rec.end + (len(line.text[rec.end :]) - len(line.text[rec.end :].lstrip()))
            clause = words.BOUND.match(line.text, pos)
            if clause is None:
                return
            if clause.group("n"):
                rec.count = words.number(clause.group("n"))
                self._bound_chip(line, out, rec, "count", pos, clause.end())
                continue
            if clause.group("clock"):
                time_match = words.TIME.match(line.text, pos)
                if time_match is None or time_match.end() != clause.end():
                    return
                rec.clock = self._clock(time_match, out)
                self._bound_chip(line, out, rec, "time", pos, clause.end())
                continue
            date_match = words.DATE.match(line.text, clause.end())
            if date_match is None or date_match.start() != clause.end():
                return
            day = self._resolve_date(date_match.group("phrase"), out)
            if day is not None and clause.group("until"):
                rec.until = _until_day(date_match.group("phrase"), day)
            elif day is not None:
                rec.start = day
            self._bound_chip(line, out, rec, "until" if clause.group("until") else "start", pos, date_match.end())

    def _bound_chip(self, line: _Line, out: Parsed, rec: every.Recurrence, kind: str, start: int, end: int) -> None:
        """Mark a recurrence bound as understood; the clause now ends after it."""
        out.chips.append(Chip(kind, line.take(start, end), start, end))
        rec.end = end

    # -- time and date -------------------------------------------------------------------------

    def _clock(self, match: re.Match[str], out: Parsed) -> dt.time | None:
        """A time of day from a time match; a bare hour from 1 to 12 becomes a question."""
        if match.group("h12"):
            hour = int(match.group("h12")) % 12 + (12 if match.group("ampm").lower() == "p" else 0)
            return dt.time(hour, int(match.group("m12") or 0))
        if match.group("h24"):
            return dt.time(int(match.group("h24")), int(match.group("m24")))
        if match.group("word"):
            return words.WORD_TIMES[match.group("word").lower()]
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
        """Read the time of day (two times: a question, the first is kept)."""
        found = list(words.TIME.finditer(line.text))
        if not found:
            return None
        options = list(dict.fromkeys(m.group(0).strip() for m in found))
        if len(options) > 1:
            out.questions.append({"field": "due_date", "question": "Which time did you mean?", "options": options})
        match = found[0]
        for other in found[1:]:  # every time phrase is read (the same one twice: one chip)
            line.take(other.start(), other.end())
        clock = self._clock(match, out)
        out.chips.append(Chip("time", line.take(match.start(), match.end()).strip(), match.start(), match.end()))
        return clock

    def _resolve_date(self, phrase: str, out: Parsed) -> dt.datetime | None:
        """A date phrase -> a local (aware) datetime; ambiguous or impossible ones become questions.

        Misspelled words are read as meant (the chip says so, in `self.note`); slashed dates follow the
        zone's convention (day/month in Europe, month/day in the Americas) or are asked; a date that does
        not exist ("32/12", "31/02") is asked, never moved to another day.
        """
        fixed = words.fix_typos(phrase.strip())
        if fixed.lower() != phrase.strip().lower():
            self.note = f"read as “{fixed}”"
        day = self._own_date(fixed, out)
        if day is not None:
            return day if isinstance(day, dt.datetime) else None
        settings: Any = {
            "RELATIVE_BASE": self.now.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DAY_OF_MONTH": "first",
            "DATE_ORDER": "MDY",
        }
        # Any: dateparser's settings are a plain dict of mixed values.
        resolved: dt.datetime | None = dateparser.parse(_for_dateparser(fixed), languages=["en"], settings=settings)
        if resolved is None or not 1900 <= resolved.year <= 9999:
            out.questions.append({"field": "due_date", "question": f"“{phrase}” is not a date I know: which day?"})
            return None
        local = resolved.replace(tzinfo=self.tz)
        if not words.CARRIES_TIME.match(fixed):
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return local

    def _own_date(self, phrase: str, out: Parsed) -> dt.datetime | bool | None:
        """The phrases read here rather than by dateparser: a day (datetime), asked (False) or not ours (None)."""
        text = re.sub(r"\s+", " ", phrase.lower())
        today = self.now.date()
        found: dt.date | None = None
        if slash := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?", text):
            return self._slashed(phrase, slash, out) or False
        if nth := re.fullmatch(r"(?:the )?(\d{1,2})(?:st|nd|rd|th)", text):
            found = _next_day_of_month(today, int(nth.group(1)))
            if found is None:
                out.questions.append(
                    {"field": "due_date", "question": f"There is no day “{phrase}” in a month: which day?"}
                )
                return False
        elif text in ("end of month", "end of the month", "eom"):
            found = _last_day(today.year, today.month)
        elif text == "next week":  # Todoist: the Monday that starts next week
            found = today + dt.timedelta(days=7 - today.weekday())
        elif text == "this weekend":  # the coming Saturday (today, on a weekend day)
            found = today if today.weekday() >= 5 else today + dt.timedelta(days=5 - today.weekday())
        elif text == "next weekend":  # the Saturday of next week
            found = today + dt.timedelta(days=7 - today.weekday() + 5)
        elif day := re.fullmatch(rf"(this |next )?({words.DAY_NAMES})", text, words.F):
            ahead = (words.weekday_index(day.group(2)) - today.weekday()) % 7
            if ahead == 0 and day.group(1) != "this ":
                ahead = 7  # "friday" on a Friday: the next one ("this friday" or "today" for today)
            found = today + dt.timedelta(days=ahead)
        if found is None:
            return None
        return dt.datetime.combine(found, dt.time(), tzinfo=self.tz)

    def _slashed(self, phrase: str, match: re.Match[str], out: Parsed) -> dt.datetime | None:
        """`a/b[/year]`: the reading(s) that exist; two that differ follow the zone's convention or are asked."""
        a, b = int(match.group(1)), int(match.group(2))
        year = int(match.group(3)) if match.group(3) else None
        if year is not None and year < 100:
            year += 2000
        month_day = _next_date(self.now.date(), a, b, year)  # a/b as month/day
        day_month = _next_date(self.now.date(), b, a, year)  # a/b as day/month
        if month_day is None and day_month is None:
            question = f"There is no date “{phrase}” (day/month or month/day): which day?"
            out.questions.append({"field": "due_date", "question": question})
            return None
        order = _date_order(self.timezone)
        if month_day is not None and day_month is not None and month_day != day_month:
            if order is None:
                options = [f"{words.month_name(a)} {b}", f"{words.month_name(b)} {a}"]
                out.questions.append(
                    {"field": "due_date", "question": f"Is {phrase} month/day or day/month?", "options": options}
                )
                return None
            chosen = day_month if order == "DMY" else month_day
            self.note = f"read as {'day/month' if order == 'DMY' else 'month/day'}: {chosen:%-d %B %Y}"
        else:
            chosen = month_day if month_day is not None else cast(dt.date, day_month)  # one of them exists
            self.note = f"read as {chosen:%-d %B %Y}"
        return dt.datetime.combine(chosen, dt.time(), tzinfo=self.tz)

    def _date(self, line: _Line, out: Parsed) -> dt.datetime | None:
        """Read the day (two different days: a question, and no day until it is answered)."""
        found = list(words.DATE.finditer(line.text))
        if not found:
            return None
        options = list(dict.fromkeys(m.group("phrase").strip() for m in found))
        if len(options) > 1:
            out.questions.append({"field": "due_date", "question": "Which day did you mean?", "options": options})
        match = found[0]
        self.note = None
        day = self._resolve_date(match.group("phrase"), out)
        for other in found[1:]:  # every day phrase is read (the same day twice: one chip; two: the question)
            line.take(other.start(), other.end())
        chip = Chip("date", line.take(match.start(), match.end()).strip(), match.start(), match.end(), self.note)
        out.chips.append(chip)
        return day

    def _schedule(
        self, out: Parsed, rec: every.Recurrence | None, day: dt.datetime | None, clock: dt.time | None
    ) -> None:
        """Combine date, time and rule into the due date (and the series' first occurrences).

        A day without a time of day is an all-day task (a series without one, an all-day series).
        """
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
                out.due, out.all_day = day, True
            return
        clock = clock or rec.clock
        all_day = clock is None and not re.search(r"FREQ=(HOURLY|MINUTELY|SECONDLY)", rec.rule)
        clock = clock or DEFAULT_TIME
        start_day = rec.start or day or self.now
        start = start_day.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        if all_day:
            start = start_day.replace(hour=0, minute=0, second=0, microsecond=0)
        elif start < self.now:  # the series starts the next time its clock time comes round
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
        out.all_day = all_day
        out.occurrences = [o.astimezone(self.tz) for o in occurrences]
        if occurrences:
            out.due = out.occurrences[0]
        else:
            out.questions.append({"field": "recurrence_rule", "question": "That series never occurs: check its end."})


def _last_day(year: int, month: int) -> dt.date:
    """The last day of a month."""
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def _next_day_of_month(today: dt.date, n: int) -> dt.date | None:
    """The next `n`th of a month, today included ("on the 31st" in November: December 31st)."""
    if not 1 <= n <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(13):
        if n <= _last_day(year, month).day and (year, month, n) >= (today.year, today.month, today.day):
            return dt.date(year, month, n)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _next_date(today: dt.date, month: int, day: int, year: int | None) -> dt.date | None:
    """`month`/`day` in `year`, or without a year the next time it comes (today included); None if no such day."""
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    years = [year] if year is not None else range(today.year, today.year + 9)
    for candidate in years:
        try:
            found = dt.date(candidate, month, day)
        except ValueError:
            continue
        if year is not None or found >= today:
            return found
    return None


def _date_order(timezone: str) -> str | None:
    """How people in a zone write a slashed date: day/month in Europe, month/day in the Americas, else unknown."""
    if timezone.startswith("Europe/"):
        return "DMY"
    if timezone.startswith("America/"):
        return "MDY"
    return None


def _until_day(phrase: str, day: dt.datetime) -> dt.datetime:
    """`until March` ends before March starts; `until March 15` includes March 15."""
    if re.fullmatch(words.MONTH_NAMES, phrase.strip(), words.F):
        return day.replace(day=1, hour=0, minute=0, second=0) - dt.timedelta(seconds=1)
    return day.replace(hour=23, minute=59, second=59)


def _for_dateparser(phrase: str) -> str:
    """A date phrase in the words dateparser reads (tmrw, ordinals, number words)."""
    text = re.sub(r"\b(tmrw?|tmr)\b", "tomorrow", phrase, flags=words.F)
    text = re.sub(r"^this\s+", "", text, flags=words.F)
    text = re.sub(r"^next\s+week$", "monday", text, flags=words.F)  # Todoist: the start of next week
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=words.F)
    text = re.sub(r"^the\s+", "", text, flags=words.F)
    return re.sub(
        rf"\b({'|'.join(w for w in words.NUMBER_WORDS if w != 'other')})\b",
        lambda m: str(words.number(m.group(1))),
        text,
        flags=words.F,
    )


def _clean_title(text: str) -> str:
    """What is left of the line once everything understood is blanked out, without dangling connectors."""
    words = text.split()
    connectors = {"on", "at", "by", "due", "and", "from", "until", "for", "in", ",", "-", "@"}
    while words and words[-1].lower() in connectors:
        words.pop()
    while words and words[0].lower() in {"and", ",", "-"}:
        words.pop(0)
    return " ".join(words)[:500]


def _shorter_months(rule: str, said: str) -> str | None:
    """What a monthly rule on the 29th-31st does in shorter months (Todoist's choice: their last day)."""
    day = re.search(r"\b(29|30|31)(?:st|th)?\b", said)
    if not rule.startswith("FREQ=MONTHLY") or day is None:
        return None
    return f"{said.strip()} (last day in shorter months)"


def _when(moment: dt.datetime | None, all_day: bool, timezone: str) -> str | None:
    """A due date as the API states it: the date alone for an all-day task, else RFC 3339 with the offset."""
    if moment is not None and all_day:
        return moment.astimezone(zone(timezone)).date().isoformat()
    return rfc3339(moment, timezone)


def as_json(parsed: Parsed, timezone: str) -> dict[str, Any]:
    """The parse endpoint's body."""
    return {
        "title": parsed.title,
        "due_date": _when(parsed.due, parsed.all_day, timezone),
        "all_day": parsed.all_day,
        "timezone": timezone,
        "priority": parsed.priority,
        "tags": parsed.tags,
        "list": parsed.list_name,
        "list_id": parsed.list_id,
        "recurrence_rule": parsed.rule,
        "repeat_from": parsed.repeat_from,
        "reminders": [{"minutes_before": m} for m in parsed.reminders],
        "occurrences": [_when(o, parsed.all_day, timezone) for o in parsed.occurrences],
        "chips": [dataclasses.asdict(c) for c in parsed.chips],
        "questions": parsed.questions,
    }
