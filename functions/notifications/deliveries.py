"""Deliveries: one row per (channel, target, event), retried with backoff from the database."""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

import requests
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from functions.notifications import channels
from functions.notifications.ssrf import resolve_public
from shared.domain.events import Event
from shared.domain.times import BadValue
from shared.observability import tracing
from shared.persistence.db import utcnow
from shared.persistence.models import Delivery, Preferences, User, WebhookEndpoint
from shared.runtime.process import Runtime

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.settings import Settings

log = logging.getLogger(__name__)
MAX_BACKOFF = dt.timedelta(hours=12)


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.events or event_type in endpoint.events


def enqueue(rt: Runtime, events: list[Event]) -> int:
    """Create the deliveries these events call for; a redelivered event creates nothing new."""
    if not events:
        return 0
    now = utcnow()
    users = {e.user_id for e in events}
    rows = []
    with rt.uow() as uow:
        endpoints = uow.session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.user_id.in_(users), WebhookEndpoint.enabled.is_(True))
        ).all()
        emailers = set(
            uow.session.scalars(
                sa.select(Preferences.user_id).where(
                    Preferences.user_id.in_(users), Preferences.email_reminders.is_(True)
                )
            )
        )
        for event in events:
            for endpoint in endpoints:
                if endpoint.user_id == event.user_id and wants(endpoint, event.event_type):
                    rows.append(_row("webhook", endpoint.id, event, now))
            if event.event_type == "reminder.triggered" and event.user_id in emailers and rt.settings.smtp_url:
                rows.append(_row("email", event.user_id, event, now))
        if rows:
            insert = postgresql.insert if uow.session.get_bind().dialect.name == "postgresql" else sqlite.insert
            uow.session.execute(
                insert(Delivery.__table__).on_conflict_do_nothing(index_elements=["channel", "target_id", "event_id"]),
                rows,
            )
        uow.commit()
    if rows:
        rt.wake("notifications")
    return len(rows)


def _row(channel: str, target: str, event: Event, now: dt.datetime) -> dict[str, Any]:  # Any: column values
    return {
        "id": str(uuid.uuid4()),
        "channel": channel,
        "target_id": target,
        "user_id": event.user_id,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "payload": event.to_dict(),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        # The consumer span that queued it (shared/observability/tracing.py): the attempt and its webhook
        # join that trace.
        "traceparent": event.traceparent,
    }


def backoff(settings: Settings, attempts: int) -> dt.timedelta:
    """Exponential backoff with ±20 % jitter: base, 2×base, 4×base … capped at 12 h."""
    seconds = settings.webhook_retry_base_seconds * 2 ** (attempts - 1)
    return min(MAX_BACKOFF, dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2)))  # noqa: S311 (jitter, not a secret)


def deliver_due(rt: Runtime, now: dt.datetime | None = None, batch_size: int = 100) -> dict[str, int]:
    """Attempt every due delivery once (claimed with SKIP LOCKED); schedule retries or give up."""
    counts = {"succeeded": 0, "retrying": 0, "dead": 0}
    while True:
        now = now or utcnow()
        with rt.uow() as uow:
            due = uow.session.scalars(
                sa.select(Delivery)
                .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            for delivery in due:
                with tracing.delivering(
                    delivery.channel, delivery.id, delivery.event_type, delivery.traceparent
                ) as traceparent:
                    started = time.perf_counter()
                    outcome = attempt(rt, uow.session, delivery, traceparent)
                rt.metrics.notification_duration.labels(delivery.channel).observe(time.perf_counter() - started)
                rt.metrics.notifications_sent.labels(delivery.channel, outcome).inc()
                counts[outcome] += 1
            uow.commit()
        if len(due) < batch_size:
            return counts
        now = None


def attempt(rt: Runtime, session: orm.Session, delivery: Delivery, traceparent: str | None = None) -> str:
    """One attempt at one delivery; returns succeeded | retrying | dead.

    A webhook carries `traceparent` (W3C Trace Context) so the receiver can join the trace.
    """
    delivery.attempts += 1
    endpoint = session.get(WebhookEndpoint, delivery.target_id) if delivery.channel == "webhook" else None
    try:
        if delivery.channel == "webhook":
            if endpoint is None or not endpoint.enabled:
                raise PermissionError("endpoint deleted or disabled")
            # Checked again (DNS answers change), and the connection goes to what was checked.
            url, addresses = resolve_public(endpoint.url, rt.settings.webhook_allow_private)
            status = channels.post_webhook(
                url, endpoint.secret, f"msg_{delivery.event_id}", delivery.payload, addresses, traceparent
            )
            delivery.last_status = status
            if not 200 <= status < 300:
                raise RuntimeError(f"receiver answered {status}")
        else:
            user = session.get(User, delivery.target_id)
            if user is None:  # deleted since the reminder fired: a failed delivery, retried then dead
                raise RuntimeError("the user no longer exists")
            prefs = session.get(Preferences, delivery.target_id)
            message = channels.reminder_email(
                rt.settings,
                user.email,
                delivery.payload,
                prefs.timezone if prefs else "UTC",
            )
            channels.send_email(rt.settings, message)
    except (requests.RequestException, OSError, RuntimeError, BadValue, PermissionError) as exc:
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        final = delivery.attempts >= rt.settings.webhook_max_attempts or isinstance(exc, (BadValue, PermissionError))
        if endpoint is not None:
            endpoint.consecutive_failures += 1
        if final:
            delivery.status, delivery.next_attempt_at = "dead", None
            if endpoint is not None and endpoint.enabled:
                endpoint.enabled = False
                endpoint.disabled_reason = (
                    f"gave up on {delivery.event_type} after {delivery.attempts} attempts: {delivery.last_error}"[:500]
                )
            log.warning("delivery dead", extra={"delivery": delivery.id, "error": delivery.last_error})
            return "dead"
        delivery.next_attempt_at = utcnow() + backoff(rt.settings, delivery.attempts)
        return "retrying"
    delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", utcnow(), None
    delivery.last_error = None
    if endpoint is not None:
        endpoint.consecutive_failures = 0
    return "succeeded"


def next_due(rt: Runtime) -> dt.datetime | None:
    with rt.sessions() as session:
        return session.scalar(sa.select(sa.func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending"))
