"""The fanout function: each user's events pushed to every socket they have open."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, request
from flask_sock import ConnectionClosed, Sock
from prometheus_client import Gauge

from functions.fanout.hub import Connection, Hub, message_for
from shared.domain.errors import DomainError, Unauthorized
from shared.domain.events import TOPICS, Event
from shared.messaging.stream import parse, read_stream, stream_position
from shared.messaging.subscriptions import Subscription
from shared.persistence.models import EventLog
from shared.runtime.process import Runtime
from shared.services.credentials import require_account, token_claims
from shared.settings import Settings
from shared.triggers.subscriptions import subscribe
from shared.web.app import function_app
from shared.web.operations import describe
from shared.web.schemas import SocketQuery
from shared.web.sessions import SESSION_COOKIE, same_origin

log = logging.getLogger(__name__)

CLOSE_BAD_TOKEN = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_POLICY_VIOLATION = 1008
BACKLOG_LIMIT = 1000
#: Clients only ever send "ping": a few bytes, a few times a minute.
MAX_MESSAGE_BYTES = 4096
MAX_MESSAGES_PER_SECOND = 10


def backlog_after(rt: Runtime, user_id: str, since: str) -> list[Event] | None:
    """The user's events after `since`, or None when `since` is unknown or too far behind.

    The event stream (the numbered outbox) answers first: it holds every published event at
    once, even one the audit consumer has not recorded yet. Older anchors come from the audit log.
    """
    with rt.sessions() as session:
        anchor_seq = stream_position(session, since, user_id=user_id)
        if anchor_seq is not None:
            newer = read_stream(session, anchor_seq, BACKLOG_LIMIT + 1, user_id=user_id)
            if len(newer) > BACKLOG_LIMIT:
                return None  # too far behind: a reload is cheaper than a replay
            return [event for _, event in parse(newer)[0]]
        anchor = session.scalar(
            sa.select(EventLog.id).where(EventLog.event_id == since[:36], EventLog.user_id == user_id)
        )
        if anchor is None:
            return None
        rows = session.scalars(
            sa.select(EventLog)
            .where(EventLog.user_id == user_id, EventLog.id > anchor)
            .order_by(EventLog.id)
            .limit(BACKLOG_LIMIT + 1)
        ).all()
    if len(rows) > BACKLOG_LIMIT:
        return None
    return [
        Event(
            event_type=r.event_type,
            user_id=r.user_id,
            aggregate_id=r.aggregate_id,
            data=r.data,
            event_id=r.event_id,
            timestamp=r.timestamp,
            correlation_id=r.correlation_id or r.event_id,
        )
        for r in rows
    ]


# `ws` (Any): flask-sock's simple_websocket.Server; the package ships no types.
def serve_socket(ws: Any, rt: Runtime, hub: Hub, user_id: str, since: str | None, ping_seconds: float) -> None:
    """Register first (live events buffer), send the backlog, then live events without duplicates."""
    conn = hub.connect(user_id)
    try:
        sent: set[str] = set()
        if since:
            backlog = backlog_after(rt, user_id, since)
            if backlog is None:
                ws.send(json.dumps({"type": "resync"}))
            else:
                for event in backlog:
                    ws.send(message_for(event))
                    sent.add(event.event_id)
        pump(ws, conn, sent, ping_seconds)
    finally:
        hub.disconnect(conn)


def pump(ws: Any, conn: Connection, already_sent: set[str], ping_seconds: float) -> None:
    """Send queued messages as they come, and a ping every `ping_seconds`; block in between."""
    listener = threading.Thread(target=listen, args=(ws, conn), name="ws-listen", daemon=True)
    listener.start()
    next_ping = time.monotonic() + ping_seconds
    while True:
        try:
            message = conn.outbox.get(timeout=max(0.0, next_ping - time.monotonic()))
        except queue.Empty:
            message = ""
        if conn.close_code is not None or message is None:
            if ws.connected:
                ws.close(reason=conn.close_code or 1000)
            return
        if message:
            if already_sent and json.loads(message).get("event_id") in already_sent:
                continue  # already sent from the audit log backlog
            ws.send(message)
        if time.monotonic() >= next_ping:
            ws.send(json.dumps({"type": "ping"}))
            next_ping = time.monotonic() + ping_seconds


def listen(ws: Any, conn: Connection) -> None:
    """Read what the client sends: "ping" is answered with "pong"; a closed socket wakes the pump.

    A client sending more than MAX_MESSAGES_PER_SECOND is closed with 1008 (policy violation);
    frames over MAX_MESSAGE_BYTES are refused by the WebSocket server itself with 1009.
    """
    window_start, count = time.monotonic(), 0
    try:
        while ws.connected:
            incoming = ws.receive()
            if incoming is None:
                break
            now = time.monotonic()
            if now - window_start >= 1.0:
                window_start, count = now, 0
            count += 1
            if count > MAX_MESSAGES_PER_SECOND:
                conn.close(CLOSE_POLICY_VIOLATION)
                return
            if incoming == "ping":
                conn.offer("pong")
    except ConnectionClosed:
        pass
    conn.close(1000)


def register(app: Flask, rt: Runtime) -> Hub:
    """Mount the WebSocket route and the event subscription feeding the hub."""
    # Each worker sets its own count; /metrics sums the live workers' (the combined app's gunicorn).
    sockets = Gauge(
        "taskflow_websocket_connections",
        "Open WebSockets (in the combined app, summed over its live workers)",
        registry=rt.metrics.registry,
        multiprocess_mode="livesum",
    )
    sockets.set(0)
    hub = Hub(max_queue=rt.settings.ws_queue_size, on_count=sockets.set)
    app.extensions["taskflow_hub"] = hub
    ping_seconds = rt.settings.ws_ping_seconds
    # No protocol-level pings from simple-websocket (we send our own JSON ping), and a size cap.
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": None, "max_message_size": MAX_MESSAGE_BYTES})
    sock = Sock(app)
    subscribe(app, rt, subscription(hub))

    def user_socket(ws: Any, user_id: str) -> None:
        """Push the user's events; `since` resumes from the audit log after a reconnect."""
        try:
            sub = socket_user(rt)
        except DomainError:
            ws.close(reason=CLOSE_BAD_TOKEN, message="bad or missing token")
            return
        if sub != user_id:
            ws.close(reason=CLOSE_FORBIDDEN, message="not your stream")
            return
        serve_socket(ws, rt, hub, user_id, request.args.get("since"), ping_seconds)

    describe(
        user_socket,
        query=SocketQuery,
        responses={101: None},
        auth="none",
        summary="WebSocket (upgrade): the user's events live (?token= or the session cookie); "
        "close 4001 bad token, 4003 another user",
        description='Messages: {type, event_id, data, timestamp, correlation_id}, {"type": "ping"} every 25 s, '
        '{"type": "resync"} when `since` is unknown. Send "ping" to get "pong".',
        tags=["events"],
    )
    sock.route("/ws/user/<user_id>/tasks")(user_socket)

    atexit.register(hub.close_all)
    return hub


def socket_user(rt: Runtime) -> str:
    """Who opens the socket: `?token=` (API clients), else the browser's session cookie.

    The cookie counts only on an upgrade from this server's own page (Origin): a WebSocket carries no
    custom header, so the Origin check is its CSRF protection (cross-site WebSocket hijacking).
    """
    token = request.args.get("token")
    if token is None:
        if not same_origin():
            raise Unauthorized("A socket opened from another site does not get the session cookie.")
        token = request.cookies.get(SESSION_COOKIE)
    claims = token_claims(rt.settings, token)
    return require_account(rt.engine, claims.user_id, claims.generation)


def subscription(hub: Hub) -> Subscription:
    """Every topic, in every worker, to its sockets (Kafka: a group of the process's own, from the latest offset)."""
    return Subscription("fanout", TOPICS, hub.broadcast, every_process=True)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the fanout function."""
    return function_app("taskflow.fanout", register, settings, runtime)
