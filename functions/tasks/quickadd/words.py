"""Quick add's vocabulary: the words and patterns a line is read with (weekdays, months, numbers,
times, dates, tags, priorities, reminders, recurrence bounds), and the small readers of single words.

Every pattern is linear (quick add caps its input, functions.tasks.quickadd.parser.MAX_TEXT).
"""

from __future__ import annotations

import datetime as dt
import re

WEEKDAYS = {
    "mo": "MO", "mon": "MO", "monday": "MO",
    "tu": "TU", "tue": "TU", "tues": "TU", "tuesday": "TU",
    "we": "WE", "wed": "WE", "weds": "WE", "wednesday": "WE",
    "th": "TH", "thu": "TH", "thur": "TH", "thurs": "TH", "thursday": "TH",
    "fr": "FR", "fri": "FR", "friday": "FR",
    "sa": "SA", "sat": "SA", "saturday": "SA",
    "su": "SU", "sun": "SU", "sunday": "SU",
}  # fmt: skip
#: Misspellings people type for weekdays and dates, and what they mean (corrected and shown in the chip).
DAY_TYPOS = {
    "mondy": "monday", "monady": "monday", "tuseday": "tuesday", "teusday": "tuesday", "tusday": "tuesday",
    "tuesay": "tuesday", "wedensday": "wednesday", "wensday": "wednesday", "wendsday": "wednesday",
    "wednsday": "wednesday", "wedesday": "wednesday", "wednesay": "wednesday", "thurday": "thursday",
    "thrusday": "thursday", "thursay": "thursday", "thusday": "thursday", "firday": "friday", "fridy": "friday",
    "friady": "friday", "saturady": "saturday", "satuday": "saturday", "saterday": "saturday",
    "sundy": "sunday", "sunady": "sunday",
}  # fmt: skip
DATE_TYPOS = {
    "tomorow": "tomorrow", "tommorow": "tomorrow", "tommorrow": "tomorrow", "tomorrw": "tomorrow",
    "tomrrow": "tomorrow", "tomorro": "tomorrow", "tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow",
    "2moro": "tomorrow", "2morrow": "tomorrow", "tonite": "tonight", "tdy": "today", "2day": "today",
}  # fmt: skip
WEEKDAYS.update({typo: WEEKDAYS[day] for typo, day in DAY_TYPOS.items()})
_DAY_TYPO_NAMES = "|".join(sorted(DAY_TYPOS, key=len, reverse=True))
DAY_NAMES = (
    rf"(?:{_DAY_TYPO_NAMES}|mon(?:day)?|tue(?:s(?:day)?)?|wed(?:s|nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?"
    r"|sat(?:urday)?|sun(?:day)?)"
)
MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
MONTH_NAMES = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "other": 2,
}  # fmt: skip
NUM = r"(?:\d{1,3}|other|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
ORDINAL = r"(?:first|second|third|fourth|fifth|last|[1-5](?:st|nd|rd|th))"
DAY_ORDINAL = r"(?:[12]?\d|3[01])(?:st|nd|rd|th)?"
PRIORITY_WORDS = {
    "urgent": "urgent", "high": "high", "medium": "medium", "med": "medium", "low": "low", "none": "none",
    "1": "urgent", "2": "high", "3": "medium", "4": "low",
}  # fmt: skip
UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "hr": 60, "hour": 60, "d": 1440, "day": 1440, "w": 10080, "week": 10080}
WORD_TIMES = {
    "noon": dt.time(12), "midday": dt.time(12), "midnight": dt.time(0),
    "morning": dt.time(9), "afternoon": dt.time(15), "evening": dt.time(19),
}  # fmt: skip
ADVERBS = {
    "daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "monthly": "FREQ=MONTHLY", "yearly": "FREQ=YEARLY",
    "annually": "FREQ=YEARLY", "biweekly": "FREQ=WEEKLY;INTERVAL=2", "fortnightly": "FREQ=WEEKLY;INTERVAL=2",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "weekends": "FREQ=WEEKLY;BYDAY=SA,SU",
}  # fmt: skip
FREQ_OF_UNIT = {"hour": "HOURLY", "day": "DAILY", "week": "WEEKLY", "month": "MONTHLY", "year": "YEARLY"}

F = re.IGNORECASE

TAG = re.compile(r"(?<!\S)([#@~])([\w][\w\-/]{0,49})(?!\S)", F)
PRIORITY = re.compile(r"(?<!\S)(?:!(urgent|high|medium|med|low|none|[1-4])|p([1-4]))(?!\S)", F)
REMINDER = re.compile(
    rf"\bremind(?:\s+me)?(?:\s+(?P<n>{NUM})\s*(?P<unit>m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s+before"
    r"|\s+at\s+(?:the\s+)?(?:due\s+)?time)?\b",
    F,
)
EVERY = re.compile(
    r"\b(?:(?P<every>every|each)(?P<bang>!)?(?=\s)|(?P<adverb>daily|weekly|monthly|yearly|annually|biweekly"
    r"|fortnightly|weekdays|weekends)\b)",
    F,
)

TIME = re.compile(
    r"(?<![\w:/])(?:(?:at|@|in\s+the)\s*)?"
    r"(?:(?P<h12>1[0-2]|0?[1-9])(?::(?P<m12>[0-5]\d))?\s*(?P<ampm>[ap])\.?m\.?"
    r"|(?P<h24>[01]?\d|2[0-3]):(?P<m24>[0-5]\d)"
    r"|(?P<word>noon|midday|midnight|morning|afternoon|evening)"
    r"|at\s+(?P<bare>[01]?\d|2[0-3])(?![\d:/]))"
    r"(?![\w:])",
    F,
)
_DATE_TYPO_NAMES = "|".join(sorted(DATE_TYPOS, key=len, reverse=True))
DATE_LEAD = r"(?:(?:on|by|due(?:\s+(?:on|by))?|before)\s+)?"
DATE = re.compile(
    DATE_LEAD + r"(?<![\w/])(?P<phrase>"
    r"(?:the\s+)?day\s+after\s+tomorrow|today|tonight|tomorrow"
    rf"|{_DATE_TYPO_NAMES}"
    r"|end\s+of\s+(?:the\s+)?month|eom|(?:this|next)\s+weekend"
    rf"|(?:next|this)\s+(?:week|month|year|{DAY_NAMES})"
    rf"|in\s+{NUM}\s+(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)"
    rf"|{MONTH_NAMES}\.?\s+{DAY_ORDINAL}(?:,?\s+\d{{4}})?"
    rf"|(?:the\s+)?{DAY_ORDINAL}\s+(?:of\s+)?{MONTH_NAMES}(?:,?\s+\d{{4}})?"
    r"|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
    rf"|{DAY_NAMES}"
    r"|the\s+(?:[12]?\d|3[01])(?:st|nd|rd|th)"
    r"|january|february|march|april|june|july|august|september|october|november|december"
    r")(?![\w/])",
    F,
)
BOUND = re.compile(
    rf"(?P<until>until\s+)|(?:starting(?:\s+(?:on|from))?|from|beginning)\s+"
    rf"|(?:for\s+)?(?P<n>{NUM})\s+(?:times|occurrences)\b"
    r"|(?P<clock>(?:(?:at|in\s+the)\s+|@\s*)?(?:\d{1,2}(?::\d{2})?\s*[ap]\.?m\.?|\d{1,2}:\d{2}|noon|midday|midnight"
    r"|morning|afternoon|evening|\d{1,2})(?![\w:]))",
    F,
)
CARRIES_TIME = re.compile(r"^(?:tonight|in\s+\S+\s+(?:minutes?|mins?|hours?|hrs?))$", F)


def fix_typos(phrase: str) -> str:
    """A date phrase with its misspelled words spelled right ("tomorow" -> "tomorrow")."""
    return re.sub(
        r"[\w]+",
        lambda m: DATE_TYPOS.get(m.group(0).lower()) or DAY_TYPOS.get(m.group(0).lower()) or m.group(0),
        phrase,
    )


def weekday_index(word: str) -> int:
    """0 for Monday … 6 for Sunday, from any spelling in WEEKDAYS."""
    return ("MO", "TU", "WE", "TH", "FR", "SA", "SU").index(WEEKDAYS[word.lower()])


def number(word: str) -> int:
    """A count written as digits or a word ("3", "three", "other": 2)."""
    return int(word) if word.isdigit() else NUMBER_WORDS[word.lower()]


def unit(word: str) -> str:
    """A time unit's short name (m, h, d, w) from any of its spellings."""
    word = word.lower().rstrip("s")
    return {"min": "m", "minute": "m", "hr": "h"}.get(word, word)


def ordinal(word: str) -> int:
    """An ordinal ("first", "2nd", "last": -1) as a number."""
    word = word.lower()
    return ORDINALS[word] if word in ORDINALS else int(word[:-2])


def month(word: str) -> int:
    """A month name or abbreviation as its number."""
    return MONTHS[word.lower()[:3]]


def day_number(text: str) -> int:
    """The day of the month in "3rd", "15"."""
    return int(re.sub(r"\D", "", text))


def ordinal_suffix(n: int) -> str:
    """1st, 2nd, 3rd, 4th … 31st."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def month_name(n: int) -> str:
    """A month's full English name."""
    return dt.date(2000, n, 1).strftime("%B")
