"""Quick add's recurrence grammar: what follows "every" ("every weekday", "every other monday and friday",
"every month on the last friday", "every 3rd of march", "every 2 weeks") as an RFC 5545 RRULE."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from functions.tasks.quickadd import words


@dataclasses.dataclass
class Recurrence:
    """A rule read from a line, with where its clause ends and the bounds read after it."""

    rule: str
    end: int
    until: dt.datetime | None = None
    count: int | None = None
    start: dt.datetime | None = None
    clock: dt.time | None = None


def _byday(days: str) -> str:
    """Weekday names as a BYDAY list, each once, in the order given."""
    names = re.findall(words.DAY_NAMES, days, words.F)
    ordered: list[str] = []
    for name in names:
        code = words.WEEKDAYS[name.lower()]
        if code not in ordered:
            ordered.append(code)
    return ",".join(ordered)


def month_day(n: int) -> str:
    """BYMONTHDAY for "on the nth" as Todoist reads it: the 29th-31st fall on the last day of shorter months.

    RFC 5545 skips months without that day (a rent "every month on the 31st" would skip five months a year).
    """
    if n == 31:
        return "BYMONTHDAY=-1"
    if n in (29, 30):
        return f"BYMONTHDAY={','.join(str(d) for d in range(28, n + 1))};BYSETPOS=-1"
    return f"BYMONTHDAY={n}"


def _interval(word: str | None) -> str:
    """`;INTERVAL=n` for a number word above one, else nothing."""
    if not word:
        return ""
    n = words.number(word)
    return f";INTERVAL={n}" if n > 1 else ""


_DAY_LIST = rf"{words.DAY_NAMES}(?:\s*(?:,|and|&|,\s*and)\s*{words.DAY_NAMES})*"
_EVERY_FORMS: list[tuple[re.Pattern[str], Any]] = [
    # every weekday / every workday / every weekend
    (re.compile(r"\s+(?:week\s*day|work\s*day)s?\b", words.F), lambda m: "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
    (re.compile(r"\s+weekends?\b", words.F), lambda m: "FREQ=WEEKLY;BYDAY=SA,SU"),
    # every morning / afternoon / evening: daily, and the word stays for the clock ("every morning" = 09:00)
    (re.compile(r"(?=\s+(?:morning|afternoon|evening)\b)", words.F), lambda m: "FREQ=DAILY"),
    # every last day (of the month)
    (re.compile(r"\s+last\s+day(?:\s+of\s+(?:the|every)\s+month)?\b", words.F), lambda m: "FREQ=MONTHLY;BYMONTHDAY=-1"),
    # every month on the 1st / on the last day / on the 15th
    (
        re.compile(
            rf"\s+(?:(?P<n>{words.NUM})\s+)?months?\s+on\s+the\s+(?P<d>{words.DAY_ORDINAL}|last\s+day)(?:\s+day)?\b",
            words.F,
        ),
        lambda m: (
            "FREQ=MONTHLY"
            + _interval(m.group("n"))
            + (
                ";BYMONTHDAY=-1"
                if m.group("d").lower().startswith("last")
                else f";{month_day(words.day_number(m.group('d')))}"
            )
        ),
    ),
    # every month on the last friday / every first monday (of the month)
    (
        re.compile(
            rf"\s+(?:(?:(?P<n>{words.NUM})\s+)?months?\s+on\s+the\s+)?(?P<o>{words.ORDINAL})\s+(?P<day>{words.DAY_NAMES})"
            r"(?:\s+of\s+(?:the|every)\s+month)?\b",
            words.F,
        ),
        lambda m: (
            "FREQ=MONTHLY"
            + _interval(m.group("n"))
            + f";BYDAY={words.ordinal(m.group('o'))}{words.WEEKDAYS[m.group('day').lower()]}"
        ),
    ),
    # every year on march 3 / every march 3 / every 3rd of march
    (
        re.compile(rf"\s+(?:year\s+on\s+)?(?P<mon>{words.MONTH_NAMES})\.?\s+(?P<d>{words.DAY_ORDINAL})\b", words.F),
        lambda m: f"FREQ=YEARLY;BYMONTH={words.month(m.group('mon'))};BYMONTHDAY={words.day_number(m.group('d'))}",
    ),
    (
        re.compile(
            rf"\s+(?:year\s+on\s+)?(?:the\s+)?(?P<d>{words.DAY_ORDINAL})\s+(?:of\s+)?(?P<mon>{words.MONTH_NAMES})\b",
            words.F,
        ),
        lambda m: f"FREQ=YEARLY;BYMONTH={words.month(m.group('mon'))};BYMONTHDAY={words.day_number(m.group('d'))}",
    ),
    # every (other|2) monday, wednesday and friday / every 2 weeks on monday
    (
        re.compile(rf"\s+(?:(?P<n>{words.NUM})\s+)?(?P<days>{_DAY_LIST})s?\b", words.F),
        lambda m: "FREQ=WEEKLY" + _interval(m.group("n")) + f";BYDAY={_byday(m.group('days'))}",
    ),
    (
        re.compile(rf"\s+(?:(?P<n>{words.NUM})\s+)?weeks?\s+on\s+(?P<days>{_DAY_LIST})\b", words.F),
        lambda m: "FREQ=WEEKLY" + _interval(m.group("n")) + f";BYDAY={_byday(m.group('days'))}",
    ),
    # every 1st / every 15th (of the month)
    (
        re.compile(
            rf"\s+(?:the\s+)?(?P<d>{words.DAY_ORDINAL})(?:\s+(?:day\s+)?of\s+(?:the|every)\s+month)?(?![\w:])", words.F
        ),
        lambda m: (
            f"FREQ=MONTHLY;{month_day(words.day_number(m.group('d')))}"
            if re.search(r"(st|nd|rd|th)$", m.group("d"), words.F) or "month" in m.group(0).lower()
            else None
        ),
    ),
    # every day / every 3 days / every other week / every 2 months / every year / every 4 hours
    (
        re.compile(rf"\s+(?:(?P<n>{words.NUM})\s+)?(?P<unit>hour|day|week|month|year)s?\b", words.F),
        lambda m: f"FREQ={words.FREQ_OF_UNIT[m.group('unit').lower()]}" + _interval(m.group("n")),
    ),
]


def every_clause(text: str, pos: int) -> Recurrence | None:
    """Read what follows `every`: an _interval and unit, weekdays, an ordinal weekday, a day of the month."""
    rest = text[pos:]
    for pattern, build in _EVERY_FORMS:
        found = pattern.match(rest)
        if found:
            rule = build(found)
            if rule is not None:
                return Recurrence(rule=rule, end=pos + found.end())
    return None
