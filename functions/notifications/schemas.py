"""The request and response bodies of the webhook and preferences routes, described once."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic.json_schema import SkipJsonSchema

from shared.domain.events import TOPIC_OF
from shared.web.schemas import Body, Out, Timezone, example

if TYPE_CHECKING:
    EventName = str
else:  # an enum of the event catalog (shared.domain.events), its one source, or "*" for all
    EventName = Literal[("*", *TOPIC_OF)]


def _events(value: list[str] | None) -> list[str]:
    return sorted(set(value)) if value else ["*"]


class WebhookCreate(Body):
    model_config = example({"url": "https://hooks.example.com/taskflow", "events": ["task.completed"]})
    url: str = Field(min_length=1, max_length=2048, json_schema_extra={"format": "uri"})
    events: Annotated[
        Annotated[list[EventName], Field(min_length=1, max_length=20)] | SkipJsonSchema[None],
        AfterValidator(_events),
        Field(description='Event types to send, or ["*"] (the default) for all'),
    ] = None


_WEBHOOK = {
    "id": "3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9",
    "url": "https://hooks.example.com/taskflow",
    "events": ["task.completed"],
    "enabled": True,
    "disabled_reason": None,
    "created_at": "2026-02-14T15:30:45Z",
}


class Webhook(Out):
    model_config = example(_WEBHOOK)
    id: str
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: dt.datetime | None


class WebhookCreated(Webhook):
    """The one response that shows the signing secret."""

    model_config = example({**_WEBHOOK, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    secret: str


class WebhookList(Out):
    model_config = example({"items": [_WEBHOOK]})
    items: list[Webhook]


class WebhookDelivery(Out):
    model_config = example(
        {
            "id": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d",
            "event_id": "6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
            "event_type": "task.completed",
            "webhook_id": "msg_6f1c2d4e-8a9b-4c3d-9e2f-0a1b2c3d4e5f",
            "status": "delivered",
            "attempts": 1,
            "last_status": 200,
            "last_error": None,
            "next_attempt_at": None,
            "delivered_at": "2026-02-14T15:30:46Z",
        }
    )
    id: str
    event_id: str
    event_type: str
    webhook_id: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None


class DeliveryList(Out):
    model_config = example({"items": []})
    items: list[WebhookDelivery]


AllDayReminderTime = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        examples=["09:00"],
        description="HH:MM (24-hour) in your zone: when reminders of all-day tasks count from (default 09:00)",
    ),
]


class PreferencesUpdate(Body):
    model_config = example(
        {"email_reminders": True, "timezone": "Europe/Paris"},
        {"default_reminder_minutes": 30},
        {"all_day_reminder_time": "08:30"},
    )
    email_reminders: bool | SkipJsonSchema[None] = None
    timezone: Timezone | SkipJsonSchema[None] = None
    default_reminder_minutes: Annotated[int, Field(ge=0, le=366 * 24 * 60)] | None = Field(
        default=None, description="What a bare `remind me` in quick add means (minutes before the due date)"
    )
    all_day_reminder_time: AllDayReminderTime | SkipJsonSchema[None] = None


class Preferences(Out):
    model_config = example(
        {
            "email_reminders": False,
            "timezone": "UTC",
            "default_reminder_minutes": None,
            "all_day_reminder_time": "09:00",
            "configured": False,
            "email_available": True,
        }
    )
    email_reminders: bool
    timezone: str
    default_reminder_minutes: int | None
    all_day_reminder_time: str = Field(description="HH:MM in `timezone`: when all-day tasks' reminders count from")
    configured: bool = Field(description="false until the first PUT (the web app then stores the browser's zone)")
    email_available: bool = Field(
        default=False,
        description="whether this server sends email (SMTP_URL set): email reminders are offered only then",
    )
