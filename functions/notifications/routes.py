"""Webhook endpoints and notification preferences under /api/<user_id>."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from functions.notifications.channels import new_secret
from functions.notifications.deliveries import claim, record, send
from functions.notifications.schemas import (
    DeliveryList,
    PreferencesUpdate,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookList,
)
from functions.notifications.schemas import Preferences as PreferencesOut
from functions.notifications.ssrf import check_url
from shared.domain.days import DEFAULT_REMINDER_TIME
from shared.domain.errors import NotFound, ValidationFailed
from shared.domain.events import Event
from shared.domain.times import BadValue, rfc3339
from shared.observability import tracing
from shared.persistence.db import utcnow
from shared.persistence.models import Delivery, Preferences, WebhookEndpoint
from shared.services import preferences as shared_preferences
from shared.web.app import require_path_user, runtime
from shared.web.idempotency import idempotent
from shared.web.operations import operation

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from sqlalchemy import orm

bp = Blueprint("notifications", __name__, url_prefix="/api/<user_id>")
bp.before_request(require_path_user)
MAX_ENDPOINTS = 20


def endpoint_view(e: WebhookEndpoint, secret: bool = False) -> dict[str, Any]:  # Any: a JSON object
    view: dict[str, Any] = {
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "created_at": rfc3339(e.created_at),
    }
    if secret:
        view["secret"] = e.secret  # shown once, at creation
    return view


def delivery_view(d: Delivery) -> dict[str, Any]:  # Any: a JSON object
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.event_type,
        "webhook_id": f"msg_{d.event_id}",
        "status": d.status,
        "attempts": d.attempts,
        "last_status": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": rfc3339(d.next_attempt_at),
        "delivered_at": rfc3339(d.delivered_at),
    }


def _endpoint(session: orm.Session, user_id: str, endpoint_id: str) -> WebhookEndpoint:
    e = session.scalars(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == user_id)
    ).one_or_none()
    if e is None:
        raise NotFound("No such webhook.")
    return e


@bp.post("/webhooks")
@operation(
    body=WebhookCreate,
    responses={201: WebhookCreated},
    summary="Register a webhook; the signing secret is shown once",
    tags=["notifications"],
)
@idempotent
def create_webhook(user_id: str, body: WebhookCreate) -> ResponseReturnValue:
    """Register an endpoint; the signing secret is in this response only."""
    rt = runtime()
    try:
        url = check_url(body.url, rt.settings.webhook_allow_private)
    except BadValue as exc:
        raise ValidationFailed("Some fields are invalid.", errors={"url": str(exc)}) from None
    events = body.events or ["*"]
    with rt.uow() as uow:
        count = cast(  # count(*) always returns one row
            int,
            uow.session.scalar(
                sa.select(sa.func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)
            ),
        )
        if count >= MAX_ENDPOINTS:
            raise ValidationFailed(f"At most {MAX_ENDPOINTS} webhooks per user.", errors={"url": "too many"})
        endpoint = WebhookEndpoint(
            id=str(uuid.uuid4()),
            user_id=user_id,
            url=url,
            events=events,
            secret=new_secret(),
            enabled=True,
            consecutive_failures=0,
            created_at=utcnow(),
        )
        uow.session.add(endpoint)
        uow.commit()
        return jsonify(endpoint_view(endpoint, secret=True)), 201


@bp.get("/webhooks")
@operation(responses={200: WebhookList}, summary="List webhooks", tags=["notifications"])
def list_webhooks(user_id: str) -> ResponseReturnValue:
    """List the user's endpoints (secrets are never shown again)."""
    with runtime().uow() as uow:
        rows = uow.session.scalars(
            sa.select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id).order_by(WebhookEndpoint.created_at)
        ).all()
        return jsonify(items=[endpoint_view(e) for e in rows])


@bp.delete("/webhooks/<endpoint_id>")
@operation(responses={204: None}, summary="Remove a webhook", tags=["notifications"])
def delete_webhook(user_id: str, endpoint_id: str) -> ResponseReturnValue:
    """Remove an endpoint (pending deliveries to it are dropped)."""
    with runtime().uow() as uow:
        endpoint = _endpoint(uow.session, user_id, endpoint_id)
        uow.session.execute(sa.delete(Delivery).where(Delivery.target_id == endpoint.id, Delivery.status == "pending"))
        uow.session.delete(endpoint)
        uow.commit()
    return Response(status=204)


@bp.post("/webhooks/<endpoint_id>/test")
@operation(responses={200: WebhookDelivery}, summary="Send a signed ping now", tags=["notifications"])
def test_webhook(user_id: str, endpoint_id: str) -> ResponseReturnValue:
    """Send a signed `webhook.ping` now and report how it went."""
    rt = runtime()
    with rt.uow() as uow:
        endpoint = _endpoint(uow.session, user_id, endpoint_id)
        ping = Event(event_type="task.updated", user_id=user_id, aggregate_id=None, data={"ping": True})
        payload = {**ping.to_dict(), "event_type": "webhook.ping"}
        delivery = Delivery(
            id=str(uuid.uuid4()),
            channel="webhook",
            target_id=endpoint.id,
            user_id=user_id,
            event_id=ping.event_id,
            event_type="webhook.ping",
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=utcnow(),
            created_at=utcnow(),
        )
        uow.session.add(delivery)
        uow.session.flush()
        ping_attempt = claim(uow.session, delivery, utcnow())
        uow.commit()
    # The ping goes out with no transaction open: a receiver that never answers costs this request
    # its timeout, and nobody else anything.
    record(rt, ping_attempt, send(rt.settings, ping_attempt, tracing.current_traceparent()))
    with rt.uow() as uow:
        return jsonify(delivery_view(uow.session.get_one(Delivery, delivery.id)))


@bp.get("/webhooks/<endpoint_id>/deliveries")
@operation(
    responses={200: DeliveryList}, summary="Delivery log: attempts, last status and error", tags=["notifications"]
)
def list_deliveries(user_id: str, endpoint_id: str) -> ResponseReturnValue:
    """The delivery log of an endpoint, newest first."""
    with runtime().uow() as uow:
        endpoint = _endpoint(uow.session, user_id, endpoint_id)
        rows = uow.session.scalars(
            sa.select(Delivery).where(Delivery.target_id == endpoint.id).order_by(Delivery.created_at.desc()).limit(200)
        ).all()
        return jsonify(items=[delivery_view(d) for d in rows])


@bp.put("/preferences")
@operation(
    body=PreferencesUpdate,
    responses={200: PreferencesOut},
    summary="Set the time zone, reminder emails on or off, and the default reminder",
    tags=["notifications"],
)
def put_preferences(user_id: str, body: PreferencesUpdate) -> ResponseReturnValue:
    """Set the user's time zone, reminder emails on or off, and the default reminder (minutes before)."""
    email, tz = body.email_reminders, body.timezone
    with runtime().uow() as uow:
        prefs = shared_preferences.locked_preferences(uow.session, user_id)
        clock_before = (prefs.timezone, prefs.all_day_reminder_time or DEFAULT_REMINDER_TIME)
        if email is not None:
            prefs.email_reminders = email
        if tz is not None:
            prefs.timezone = tz
        if "default_reminder_minutes" in body.model_fields_set:
            prefs.default_reminder_minutes = body.default_reminder_minutes
        if body.all_day_reminder_time is not None:
            prefs.all_day_reminder_time = body.all_day_reminder_time
        prefs.updated_at = utcnow()
        uow.session.add(prefs)
        uow.session.flush()
        if (prefs.timezone, prefs.all_day_reminder_time or DEFAULT_REMINDER_TIME) != clock_before:
            # All-day tasks are due on their date wherever the person is: their reminders follow the new clock.
            shared_preferences.move_all_day_reminders(uow.session, user_id, utcnow())
        uow.commit()
    shared_preferences.forget(runtime().engine, user_id)  # new tasks take a changed zone at once (in this process)
    return jsonify(preferences_view(prefs, email_available=runtime().settings.smtp_url is not None))


@bp.get("/preferences")
@operation(responses={200: PreferencesOut}, summary="Notification preferences", tags=["notifications"])
def get_preferences(user_id: str) -> ResponseReturnValue:
    """The user's notification preferences."""
    with runtime().uow() as uow:
        prefs = uow.session.get(Preferences, user_id)
    return jsonify(preferences_view(prefs, email_available=runtime().settings.smtp_url is not None))


def preferences_view(prefs: Preferences | None, *, email_available: bool) -> dict[str, Any]:  # Any: JSON values
    """The preferences as the API shows them; `configured` is false until the first PUT; `email_available`
    says whether this server can send email at all (SMTP_URL), so the web app offers email reminders only then."""
    return {
        "email_reminders": bool(prefs and prefs.email_reminders),
        "timezone": prefs.timezone if prefs else "UTC",
        "default_reminder_minutes": prefs.default_reminder_minutes if prefs else None,
        "all_day_reminder_time": (prefs.all_day_reminder_time if prefs else None) or DEFAULT_REMINDER_TIME,
        "configured": prefs is not None,
        "email_available": email_available,
    }
