"""Deliveries: one row per (channel, target, event), retried with backoff from the database."""

from __future__ import annotations

import concurrent.futures
import dataclasses
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
from shared.persistence.db import driver_autocommit, utcnow
from shared.persistence.models import Delivery, Preferences, User, WebhookEndpoint
from shared.runtime.process import Runtime

if TYPE_CHECKING:
    from sqlalchemy import orm

    from shared.settings import Settings

log = logging.getLogger(__name__)
MAX_BACKOFF = dt.timedelta(hours=12)


def wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.events or event_type in endpoint.events


#: Whether any of these users has somewhere to deliver to (most have not): one prepared read, no transaction.
_ANY_CHANNEL_PG = (
    "SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE user_id = ANY(%(users)s::text[]) AND enabled)"
    " OR EXISTS (SELECT 1 FROM preferences WHERE user_id = ANY(%(users)s::text[]) AND email_reminders)"
)


def _anyone_listens(rt: Runtime, users: set[str]) -> bool:
    if not rt.postgres:
        return True  # SQLite: the read below says it
    with driver_autocommit(rt.engine) as driver:
        return bool(driver.execute(_ANY_CHANNEL_PG, {"users": list(users)}, prepare=True).fetchone()[0])


def enqueue(rt: Runtime, events: list[Event]) -> int:
    """Create the deliveries these events call for; a redelivered event creates nothing new."""
    if not events:
        return 0
    now = utcnow()
    users = {e.user_id for e in events}
    if not _anyone_listens(rt, users):
        return 0
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


#: How long a claimed delivery is left alone while it goes out; longer than any attempt can take
#: (webhook connect + read timeouts, SMTP's 10 s). A process that dies mid-send retries it after this.
CLAIM_LEASE = dt.timedelta(minutes=2)
#: Deliveries sent at once by one sweep (each holds a database connection only to record its outcome).
SEND_CONCURRENCY = 8


@dataclasses.dataclass(frozen=True)
class Attempt:
    """Everything one attempt sends, read in a short transaction: none is open while it goes out."""

    delivery_id: str
    channel: str
    event_id: str
    event_type: str
    payload: dict[str, Any]  # Any: the event's JSON
    traceparent: str | None
    url: str | None = None
    secret: str | None = None
    email: str | None = None
    timezone: str = "UTC"
    refused: str | None = None  # why it cannot go out at all (endpoint deleted or disabled, user gone)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one attempt went: the receiver's status, or the error and whether retrying can help."""

    status: int | None = None
    error: str | None = None
    final: bool = False


def deliver_due(rt: Runtime, now: dt.datetime | None = None, batch_size: int = 100) -> dict[str, int]:
    """Attempt every due delivery once (claimed with SKIP LOCKED and a lease); schedule retries or give up.

    Three steps, so that no transaction (and, on SQLite, no write lock) is held while a receiver
    answers: claim a batch and commit, send each outside any transaction, record each outcome.
    """
    counts = {"succeeded": 0, "retrying": 0, "dead": 0}
    while True:
        claimed = claim_due(rt, now or utcnow(), batch_size)
        # Sent side by side: one slow or silent receiver costs its own deliveries their timeout, not
        # everyone else's (greenlets under gunicorn's gevent workers, threads elsewhere).
        with concurrent.futures.ThreadPoolExecutor(SEND_CONCURRENCY) as pool:
            for result in pool.map(lambda attempt: deliver(rt, attempt), claimed):
                counts[result] += 1
        if len(claimed) < batch_size:
            return counts
        now = None


def deliver(rt: Runtime, attempt: Attempt) -> str:
    """Send one claimed attempt and record how it went; returns succeeded | retrying | dead."""
    with tracing.delivering(attempt.channel, attempt.delivery_id, attempt.event_type, attempt.traceparent) as parent:
        started = time.perf_counter()
        outcome = send(rt.settings, attempt, parent)
    result = record(rt, attempt, outcome)
    rt.metrics.notification_duration.labels(attempt.channel).observe(time.perf_counter() - started)
    rt.metrics.notifications_sent.labels(attempt.channel, result).inc()
    return result


def claim_due(rt: Runtime, now: dt.datetime, batch_size: int) -> list[Attempt]:
    """Claim up to `batch_size` due deliveries for one attempt each, in one short transaction."""
    with rt.uow() as uow:
        due = uow.session.scalars(
            sa.select(Delivery)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = [claim(uow.session, delivery, now) for delivery in due]
        uow.commit()
    return claimed


def claim(session: orm.Session, delivery: Delivery, now: dt.datetime) -> Attempt:
    """Count the attempt, lease the row to it, and read what it sends (in the caller's transaction)."""
    delivery.attempts += 1
    delivery.next_attempt_at = now + CLAIM_LEASE
    base = Attempt(
        delivery.id,
        delivery.channel,
        delivery.event_id,
        delivery.event_type,
        delivery.payload,
        delivery.traceparent,
    )
    if delivery.channel == "webhook":
        endpoint = session.get(WebhookEndpoint, delivery.target_id)
        if endpoint is None or not endpoint.enabled:
            return dataclasses.replace(base, refused="endpoint deleted or disabled")
        return dataclasses.replace(base, url=endpoint.url, secret=endpoint.secret)
    user = session.get(User, delivery.target_id)
    if user is None:  # deleted since the reminder fired: a failed delivery, retried then dead
        return dataclasses.replace(base, refused="the user no longer exists")
    prefs = session.get(Preferences, delivery.target_id)
    return dataclasses.replace(base, email=user.email, timezone=prefs.timezone if prefs else "UTC")


def send(settings: Settings, attempt: Attempt, traceparent: str | None = None) -> Outcome:
    """Send one attempt, outside any transaction.

    A webhook carries `traceparent` (W3C Trace Context) so the receiver can join the trace.
    """
    try:
        if attempt.refused is not None:
            raise PermissionError(attempt.refused) if attempt.channel == "webhook" else RuntimeError(attempt.refused)
        if attempt.channel == "webhook" and attempt.url is not None and attempt.secret is not None:
            # Checked again (DNS answers change), and the connection goes to what was checked.
            url, addresses = resolve_public(attempt.url, settings.webhook_allow_private)
            status = channels.post_webhook(
                url, attempt.secret, f"msg_{attempt.event_id}", attempt.payload, addresses, traceparent
            )
            if not 200 <= status < 300:
                return Outcome(status=status, error=f"RuntimeError: receiver answered {status}")
            return Outcome(status=status)
        if attempt.email is None:
            raise RuntimeError(f"nothing to send a {attempt.channel} delivery to")
        message = channels.reminder_email(settings, attempt.email, attempt.payload, attempt.timezone)
        channels.send_email(settings, message)
        return Outcome()
    except (requests.RequestException, OSError, RuntimeError, BadValue, PermissionError) as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:1000], final=isinstance(exc, (BadValue, PermissionError)))


def record(rt: Runtime, attempt: Attempt, outcome: Outcome) -> str:
    """Store how an attempt went, in one short transaction; returns succeeded | retrying | dead."""
    with rt.uow() as uow:
        delivery = uow.session.get(Delivery, attempt.delivery_id)
        if delivery is None:  # its endpoint was deleted meanwhile (the delivery log goes with it)
            return "dead"
        endpoint = uow.session.get(WebhookEndpoint, delivery.target_id) if delivery.channel == "webhook" else None
        result = apply_outcome(rt.settings, delivery, endpoint, outcome)
        uow.commit()
    return result


def apply_outcome(settings: Settings, delivery: Delivery, endpoint: WebhookEndpoint | None, outcome: Outcome) -> str:
    """Mark a delivery succeeded, due again after a backoff, or dead (disabling a webhook that keeps failing)."""
    if outcome.status is not None:
        delivery.last_status = outcome.status
    if outcome.error is None:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "succeeded", utcnow(), None
        delivery.last_error = None
        if endpoint is not None:
            endpoint.consecutive_failures = 0
        return "succeeded"
    delivery.last_error = outcome.error
    if endpoint is not None:
        endpoint.consecutive_failures += 1
    if outcome.final or delivery.attempts >= settings.webhook_max_attempts:
        delivery.status, delivery.next_attempt_at = "dead", None
        if endpoint is not None and endpoint.enabled:
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"gave up on {delivery.event_type} after {delivery.attempts} attempts: {delivery.last_error}"[:500]
            )
        log.warning("delivery dead", extra={"delivery": delivery.id, "error": delivery.last_error})
        return "dead"
    delivery.next_attempt_at = utcnow() + backoff(settings, delivery.attempts)
    return "retrying"


def next_due(rt: Runtime) -> dt.datetime | None:
    with rt.sessions() as session:
        return session.scalar(sa.select(sa.func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending"))
