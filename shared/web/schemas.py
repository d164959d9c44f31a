"""Building blocks of the request and response models, and the models of the routes every function shares.

`Body` models are strict (JSON types as sent, unknown fields refused); `Query` models read strings
the way a query string carries them; `Out` models describe responses (the spec, not serialization).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    WithJsonSchema,
    model_validator,
)

from shared.domain.errors import ValidationFailed
from shared.domain.times import BadValue, parse_datetime, parse_timezone


def example(*values: Any, extra: Literal["forbid"] | None = None, **schema: Any) -> ConfigDict:
    """Model config carrying examples (each must validate against its own schema) and extra schema keywords."""
    # Any: JSON example values and JSON Schema keywords.
    config = ConfigDict(json_schema_extra={"examples": list(values), **schema})
    if extra is not None:
        config["extra"] = extra
    return config


class _Null:
    """Stands in for an explicit null the schema does not allow, so that the field's own check refuses it."""

    def __repr__(self) -> str:
        return "null"


class Body(BaseModel):
    """A JSON request body: types exactly as JSON sends them, no unknown fields, null only where allowed."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _null_only_where_the_schema_allows(cls, data: Any) -> Any:  # Any: the client's JSON value
        # An optional field that is not nullable may be left out but not sent as null: what the spec says.
        if not isinstance(data, dict):
            return data
        nullable = _nullable_fields(cls)
        return {k: _Null() if v is None and k in cls.model_fields and k not in nullable else v for k, v in data.items()}


@functools.cache
def _nullable_fields(model: type[BaseModel]) -> frozenset[str]:
    properties = model.model_json_schema(ref_template="#/$defs/{model}")["properties"]
    return frozenset(name for name, schema in properties.items() if _allows_null(schema))


def _allows_null(schema: Any) -> bool:  # Any: a JSON Schema node
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(branch) for branch in schema.get("anyOf", []) + schema.get("oneOf", []))


class Query(BaseModel):
    """A query string: every value arrives as text and is converted; unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body (documented; the routes build the JSON themselves)."""


def _wall_clock(value: object) -> dt.datetime:
    """An RFC 3339 time, kept naive when it has no offset (the caller knows which zone it is in)."""
    parsed = parse_datetime(value, "UTC")  # refuses garbage, impossible dates and years outside 1900-9999
    text = str(value).strip()  # parse_datetime accepted it, so it is text
    naive = not text.endswith(("z", "Z")) and dt.datetime.fromisoformat(text).tzinfo is None
    return parsed.replace(tzinfo=None) if naive else parsed


_DATE_TIME = {"type": "string", "format": "date-time", "maxLength": 64, "description": "RFC 3339; years 1900-9999"}
_LOCAL_DATE_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?$"

#: A time in a request body; without an offset it is wall-clock time in the task's timezone.
WallClock = Annotated[
    dt.datetime,
    PlainValidator(_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 64,
            "anyOf": [{"format": "date-time"}, {"pattern": _LOCAL_DATE_TIME}],
            "description": "RFC 3339, or a local date-time without offset (wall-clock time in the task's "
            "timezone); years 1900-9999",
        }
    ),
]
_DATE_ONLY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def _day_or_wall_clock(value: object) -> dt.date | dt.datetime:
    """A date alone ("2026-12-24": all day) or a WallClock time."""
    if isinstance(value, str) and re.fullmatch(_DATE_ONLY, value.strip()):
        try:
            day = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise BadValue(f"{value!r} is not a valid date") from None
        if not 1900 <= day.year <= 9999:
            raise BadValue("year must be between 1900 and 9999")
        return day
    return _wall_clock(value)


#: A due date in a request body: a date alone ("2026-12-24") is all day, due on that calendar day
#: wherever the person is; otherwise a WallClock time.
DayOrWallClock = Annotated[
    dt.date | dt.datetime,
    PlainValidator(_day_or_wall_clock),
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 64,
            "anyOf": [{"format": "date"}, {"format": "date-time"}, {"pattern": _LOCAL_DATE_TIME}],
            "description": "A date alone (YYYY-MM-DD: an all-day task, due that calendar day wherever the person "
            "is), RFC 3339, or a local date-time without offset (wall-clock time in the task's timezone); "
            "years 1900-9999",
        }
    ),
]


def is_day(value: object) -> bool:
    """Whether a DayOrWallClock value is a date alone (all day); a datetime is a date too, in Python."""
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


#: A time in a query string, UTC when it has no offset.
UtcTime = Annotated[dt.datetime, PlainValidator(parse_datetime), WithJsonSchema(_DATE_TIME)]


def iana_timezone(value: object) -> str:
    """An IANA zone name every calendar client resolves the same way; BadValue otherwise."""
    return parse_timezone(value)


#: An IANA timezone name.
Timezone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z][A-Za-z0-9_+/-]*$",
        examples=["Europe/Paris"],
        description="IANA timezone name (one the server's tz database knows)",
    ),
    AfterValidator(iana_timezone),
]


def localize(value: dt.datetime, tz_name: str, field: str) -> dt.datetime:
    """A WallClock value in UTC, reading a naive one in tz_name; out of range → 422 on `field`."""
    if value.tzinfo is None:
        try:
            return parse_datetime(value.isoformat(), tz_name)
        except BadValue as exc:
            raise ValidationFailed("Some fields are invalid.", errors={field: str(exc)}) from None
    return value


# --- routes every function has (shared.web.app) ---------------------------------------------------


class BrokerHealth(Out):
    transport: Literal["kafka", "dapr"]
    reachable: bool


class Health(Out):
    model_config = example({"status": "ok"})
    status: Literal["ok"]
    broker: BrokerHealth | None = None


class Readiness(Out):
    model_config = example({"status": "ready", "checks": {"database": True}})
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


class DaprSubscription(Out):
    pubsubname: str
    topic: str
    route: str
    deadLetterTopic: str  # noqa: N815  # Dapr's field name


class DaprSubscriptions(RootModel[list[DaprSubscription]]):
    model_config = example(
        [
            {
                "pubsubname": "kafka-pubsub",
                "topic": "tasks.events",
                "route": "/events/tasks.events",
                "deadLetterTopic": "tasks.events.dlq",
            }
        ]
    )


class DeliveryStatus(Out):
    model_config = example({"status": "SUCCESS"})
    status: Literal["SUCCESS", "RETRY", "DROP"]


class SweepResult(RootModel[dict[str, Any]]):
    """What a cron sweep did (counts per kind of work)."""

    model_config = example({"published": 3})


class DeadLetterQuery(Query):
    model_config = example({"consumer": "audit"}, extra="forbid")
    consumer: str | None = Field(default=None, max_length=100, description="Only this consumer's letters")
    all: bool = Field(default=False, description="Include letters already replayed")


class DeadLetter(Out):
    model_config = example(
        {
            "id": 7,
            "consumer": "audit",
            "event_id": "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
            "seq": 42,
            "topic": "tasks.events",
            "event_type": "task.created",
            "error": "IntegrityError: …",
            "attempts": 5,
            "created_at": "2026-02-14T15:30:45Z",
            "replayed_at": None,
        }
    )
    id: int
    consumer: str
    event_id: str
    seq: int | None
    topic: str
    event_type: str | None
    error: str | None
    attempts: int
    created_at: dt.datetime | None
    replayed_at: dt.datetime | None


class DeadLetterList(Out):
    model_config = example({"items": []})
    items: list[DeadLetter]


class SocketQuery(Query):
    model_config = example({"token": "eyJhbGciOiJIUzI1NiJ9.e30.x"}, extra="forbid")
    token: str | None = Field(
        default=None,
        max_length=4096,
        description="The JWT (browsers cannot set headers on a WebSocket); without it, the session cookie "
        "of a page of this server (Origin checked)",
    )
    since: str | None = Field(default=None, max_length=64, description="Resume after this event_id")
