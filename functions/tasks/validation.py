"""Parse request bodies and query strings into typed values; refuse anything else with 4xx."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import json
import pathlib
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

import shared
from shared.cpu import offload

# Re-exported (`X as X`) for the routes, which parse bodies through this module.
from shared.errors import ValidationFailed as ValidationFailed
from shared.recurrence import Rule, check_flood_guard, parse_rule
from shared.requests import UNSET as UNSET
from shared.requests import FieldErrors as FieldErrors
from shared.requests import boolean as boolean
from shared.requests import json_body as json_body
from shared.timeutil import BadValue, parse_datetime, parse_timezone

TITLE_MAX = 500
DESCRIPTION_MAX = 10_000
PRIORITIES = ("none", "low", "medium", "high", "urgent")
TAG_MAX, TAGS_MAX = 50, 20
_ID_RE = re.compile(r"[0-9A-Za-z-]{1,64}")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def title(value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue("must be a string")
    value = value.strip()
    if not value:
        raise BadValue("must not be empty")
    if len(value) > TITLE_MAX:
        raise BadValue(f"must be at most {TITLE_MAX} characters")
    return cast(str, value)


def description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadValue("must be a string or null")
    if len(value) > DESCRIPTION_MAX:
        raise BadValue(f"must be at most {DESCRIPTION_MAX} characters")
    return value


def priority(value: Any) -> str:
    if value not in PRIORITIES:
        raise BadValue(f"must be one of {', '.join(PRIORITIES)}")
    return cast(str, value)


def tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > TAGS_MAX:
        raise BadValue(f"must be a list of at most {TAGS_MAX} strings")
    cleaned: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag.strip()) > TAG_MAX:
            raise BadValue(f"each tag must be a non-empty string of at most {TAG_MAX} characters")
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


def optional_datetime(value: Any, tz_name: str) -> dt.datetime | None:
    return None if value is None else parse_datetime(value, tz_name)


def email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 320 or not EMAIL_RE.match(value.strip()):
        raise BadValue("must be a valid email address")
    return value.strip().lower()


def password(value: Any) -> str:
    if not isinstance(value, str) or not 8 <= len(value) <= 128:
        raise BadValue("must be a string of 8 to 128 characters")
    return value


def new_password(value: Any, email_address: Any) -> str:
    """A password for a new account: long enough, not common, not the email (NIST SP 800-63B)."""
    value = password(value)
    folded = value.casefold()
    if not value.strip():
        raise BadValue("must not be only whitespace")
    if len(set(folded)) < 3:
        raise BadValue("must not repeat one or two characters")
    if folded in common_passwords() or folded.strip() in common_passwords():
        raise BadValue("is too common; choose a longer, less guessable one")
    if isinstance(email_address, str) and email_address:
        address = email_address.strip().casefold()
        local = address.split("@", 1)[0]
        if address in folded or (len(local) >= 4 and local in folded) or "taskflow" in folded:
            raise BadValue("must not contain your email address or the service name")
    return cast(str, value)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The blocklist shipped in shared/common_passwords.txt (no network)."""
    text = (pathlib.Path(shared.__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclasses.dataclass
class TaskFields:
    """The task fields a create or update body may set (UNSET = not given)."""

    title: Any = UNSET
    description: Any = UNSET
    due_date: Any = UNSET
    timezone: Any = UNSET
    priority: Any = UNSET
    tags: Any = UNSET

    def given(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: v for k, v in values.items() if v is not UNSET}


TASK_FIELDS = {"title", "description", "due_date", "timezone", "priority", "tags"}


def task_fields(body: dict[str, Any], *, default_tz: str, require_title: bool) -> TaskFields:
    """Validate task fields; a due_date without an offset is read in the (new) task timezone."""
    errors = FieldErrors()
    fields = TaskFields()
    if "timezone" in body:
        fields.timezone = errors.check("timezone", parse_timezone, body["timezone"])
    tz_name = fields.timezone if isinstance(fields.timezone, str) else default_tz
    if "title" in body or require_title:
        fields.title = errors.check("title", title, body.get("title"))
    if "description" in body:
        fields.description = errors.check("description", description, body["description"])
    if "due_date" in body:
        fields.due_date = errors.check("due_date", optional_datetime, body["due_date"], tz_name)
    if "priority" in body:
        fields.priority = errors.check("priority", priority, body["priority"])
    if "tags" in body:
        fields.tags = errors.check("tags", tags, body["tags"])
    errors.raise_if_any()
    return fields


@dataclasses.dataclass(frozen=True)
class TaskQuery:
    completed: bool | None
    due_before: dt.datetime | None
    due_after: dt.datetime | None
    q: str | None
    tag: str | None
    priority: str | None
    limit: int
    cursor: tuple[dt.datetime, str] | None


def _query_bool(value: str) -> bool:
    if value.lower() in {"true", "1"}:
        return True
    if value.lower() in {"false", "0"}:
        return False
    raise BadValue("must be true or false")


def _query_limit(value: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= 200:
        raise BadValue("must be an integer from 1 to 200")
    return int(value)


def _query_text(value: str) -> str:
    if len(value) > 200:
        raise BadValue("must be at most 200 characters")
    return value


def encode_cursor(created_at: dt.datetime, task_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        created, task_id = json.loads(raw)
        parsed = dt.datetime.fromisoformat(created)
        if parsed.tzinfo is None or not isinstance(task_id, str) or not _ID_RE.fullmatch(task_id):
            raise ValueError
        parsed = parsed.astimezone(dt.UTC)
        if not 1900 <= parsed.year <= 9999:
            raise ValueError
        return parsed, task_id
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise BadValue("is not a cursor this API issued") from None


def task_query(args: Mapping[str, str]) -> TaskQuery:
    """Parse the task list query string."""
    errors = FieldErrors()
    allowed = {"completed", "due_before", "due_after", "q", "tag", "priority", "limit", "cursor"}
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise ValidationFailed("Unknown query parameters.", errors={k[:100]: "unknown parameter" for k in unknown[:20]})

    def opt(name: str, fn: Callable[..., Any], *extra: Any) -> Any:
        # Any: each query parameter has its own parser and parsed type.
        return errors.check(name, fn, args[name], *extra) if name in args else None

    query = TaskQuery(
        completed=opt("completed", _query_bool),
        due_before=opt("due_before", parse_datetime),
        due_after=opt("due_after", parse_datetime),
        q=opt("q", _query_text),
        tag=opt("tag", _query_text),
        priority=opt("priority", priority),
        limit=opt("limit", _query_limit) or 50,
        cursor=opt("cursor", decode_cursor),
    )
    errors.raise_if_any()
    return query


REPEAT_FROM = ("schedule", "completion")
MAX_MINUTES_BEFORE = 366 * 24 * 60


def repeat_from(value: Any) -> str:
    if value not in REPEAT_FROM:
        raise BadValue("must be 'schedule' or 'completion'")
    return cast(str, value)


def minutes_before(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue("must be a whole number of minutes")
    if not 0 <= value <= MAX_MINUTES_BEFORE:
        raise BadValue("must be between 0 and 527040 (one year)")
    return value


def preview_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 500:
        raise BadValue("must be an integer from 1 to 500")
    return value


@dataclasses.dataclass(frozen=True)
class ReminderSpec:
    """A reminder as asked for: an absolute time, or minutes before the due date."""

    remind_at: dt.datetime | None = None
    minutes_before: int | None = None


def reminder_spec(item: Any, tz_name: str) -> ReminderSpec:
    """Parse {remind_at} or {minutes_before} (exactly one)."""
    if not isinstance(item, dict):
        raise BadValue("must be an object with remind_at or minutes_before")
    keys = set(item)
    if keys == {"remind_at"}:
        return ReminderSpec(remind_at=parse_datetime(item["remind_at"], tz_name))
    if keys == {"minutes_before"}:
        return ReminderSpec(minutes_before=minutes_before(item["minutes_before"]))
    raise BadValue("give exactly one of remind_at or minutes_before")


def reminder_specs(value: Any, tz_name: str) -> list[ReminderSpec]:
    if not isinstance(value, list) or len(value) > 20:
        raise BadValue("must be a list of at most 20 reminders")
    specs = []
    for index, item in enumerate(value):
        try:
            specs.append(reminder_spec(item, tz_name))
        except BadValue as exc:
            raise BadValue(f"item {index}: {exc}") from None
    return specs


def parse_task_rule(body: dict[str, Any], task_tz: str, default_start: dt.datetime) -> tuple[Rule, str]:
    """Validate {recurrence_rule, timezone?, dtstart?, repeat_from?} for a task (flood guard on)."""
    errors = FieldErrors()
    tz = errors.check("timezone", parse_timezone, body["timezone"]) if "timezone" in body else task_tz
    repeat = errors.check("repeat_from", repeat_from, body.get("repeat_from", "schedule"))
    errors.raise_if_any()

    def rule_with_guard() -> Rule:
        rule = parse_rule(body.get("recurrence_rule"), tz, body.get("dtstart"), default_start=default_start)
        check_flood_guard(rule)
        return rule

    # RRULE expansion is CPU work: on the bounded thread pool, so the worker's sockets keep moving.
    rule = errors.check("recurrence_rule", offload, rule_with_guard)
    if rule is UNSET and "dtstart" in body and "contradicts dtstart" in errors.errors.get("recurrence_rule", ""):
        errors.errors["dtstart"] = "contradicts the DTSTART inside recurrence_rule"
    errors.raise_if_any()
    return rule, repeat
