"""The fanout function: each user's events pushed to every socket they have open."""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import jwt
import sqlalchemy as sa
from flask import Flask, g, request
from flask_sock import ConnectionClosed, Sock
from prometheus_client import Gauge

from functions.fanout.hub import CLOSE_TRY_AGAIN_LATER, Connection, Hub, Queued, RecentIds, frame_of, message_for
from shared.domain.errors import DomainError, Unauthorized
from shared.domain.events import TOPICS, Event
from shared.messaging.stream_reads import parse, read_stream, stream_position
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
#: A socket that fell behind reads what it missed from the stream this many events at a time.
CATCH_UP_PAGE = 500
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


class Cursor:
    """Where a socket is in its user's stream: the last event it sent (and its position, when known)."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.event_id: str | None = None

    def sent(self, event_id: str, seq: int | None = None) -> None:
        self.event_id, self.seq = event_id, seq

    def position(self, session: Any) -> int | None:  # Any: an orm.Session
        """The stream position to read after (None when nothing was sent, or that event left the stream)."""
        if self.seq is not None:
            return self.seq
        return stream_position(session, self.event_id) if self.event_id else None


# `ws` (Any): flask-sock's simple_websocket.Server; the package ships no types.
def serve_socket(
    ws: Any,
    rt: Runtime,
    hub: Hub,
    user_id: str,
    since: str | None,
    ping_seconds: float,
    expires_at: float | None = None,
    conn: Connection | None = None,
) -> None:
    """Register first (live events buffer), send the backlog, then live events without duplicates.

    `conn`: the socket's place in the hub when it was taken before the handshake (`join_before_handshake`).
    A socket that falls behind (its queue overflowed) reads what it missed from the stream, after
    the last event it sent, instead of being closed.
    """
    if conn is None:
        conn = hub.connect(user_id)
    conn.catch_up = True
    cursor = Cursor()
    try:
        sent = RecentIds()
        if since:
            backlog = backlog_after(rt, user_id, since)
            if backlog is None:
                ws.send(json.dumps({"type": "resync"}))
            else:
                for event in backlog:
                    ws.send(message_for(event))
                    sent.add(event.event_id, event.seq)
                    cursor.sent(event.event_id)
        pump(
            ws,
            conn,
            sent,
            ping_seconds,
            catch_up=lambda: catch_up(ws, rt, conn, sent, cursor),
            on_sent=cursor.sent,
            expires_at=expires_at,
        )
    finally:
        hub.disconnect(conn)


def catch_up(ws: Any, rt: Runtime, conn: Connection, sent: RecentIds, cursor: Cursor) -> bool:
    """Send what a socket missed while it was behind; False when it cannot (it is then closed with 1013).

    While `behind` is set nothing is queued, so first what is queued (the oldest, in order) goes out;
    then the stream after the last event sent, in pages; then `behind` is cleared and the stream read
    once more: whatever is offered from then on is either read here (and dropped from the queue as a
    repeat) or newer, and queued.
    """
    while conn.behind:
        while True:
            try:
                item = conn.outbox.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return True  # closing: the pump sees close_code
            event_id, message, seq, _frame = item
            if event_id is None or sent.add(event_id, seq):
                ws.send(message)
                if event_id is not None:
                    cursor.sent(event_id)
        if not send_stream_after(ws, rt, conn, sent, cursor):
            return False
        conn.behind = False
        if not send_stream_after(ws, rt, conn, sent, cursor):
            return False
    return True


def send_stream_after(ws: Any, rt: Runtime, conn: Connection, sent: RecentIds, cursor: Cursor) -> bool:
    """Send the user's events in the stream after the cursor, page by page, until none is left."""
    with rt.sessions() as session:
        after = cursor.position(session)
        if after is None:
            return False
        while conn.close_code is None:
            rows = read_stream(session, after, CATCH_UP_PAGE, user_id=conn.user_id)
            for row, event in parse(rows)[0]:
                if sent.add(event.event_id, row.seq):
                    ws.send(message_for(event))
                cursor.sent(event.event_id, row.seq)
            if rows:
                after = rows[-1].seq
            if len(rows) < CATCH_UP_PAGE:
                break
    return True


def pump(
    ws: Any,
    conn: Connection,
    already_sent: RecentIds,
    ping_seconds: float,
    *,
    catch_up: Callable[[], bool] = lambda: False,
    on_sent: Callable[[str], object] = lambda _event_id: None,
    expires_at: float | None = None,
) -> None:
    """Send queued messages as they come, and a ping every `ping_seconds`; block in between.

    A message whose event id was sent already is dropped; a socket that fell behind catches up
    (`catch_up`) or, when it cannot, is closed with 1013; at `expires_at` (the token's expiry, epoch
    seconds) the socket is closed with 4001, and the client reconnects with a fresh token and `since`.
    """
    listener = threading.Thread(target=listen, args=(ws, conn), name="ws-listen", daemon=True)
    listener.start()
    next_ping = time.monotonic() + ping_seconds
    while True:
        if conn.behind and not catch_up():
            conn.close(CLOSE_TRY_AGAIN_LATER)
        wait = next_ping - time.monotonic()
        if expires_at is not None:
            wait = min(wait, expires_at - time.time())
            if wait <= 0:
                conn.close(CLOSE_BAD_TOKEN)
        try:
            batch: list[Queued | None] = [conn.outbox.get(timeout=max(0.0, wait))]
        except queue.Empty:
            batch = []
        # Everything else already waiting goes out in this same wake-up, as one write: under load the
        # pump runs seldom, and a message each time would leave the rest waiting for further turns.
        while batch and batch[-1] is not None:
            try:
                batch.append(conn.outbox.get_nowait())
            except queue.Empty:
                break
        if conn.close_code is not None or None in batch:
            if ws.connected:
                ws.close(reason=conn.close_code or 1000, message="token expired" if conn.close_code == 4001 else None)
            return
        frames = []
        for event_id, message, seq, frame in cast("list[Queued]", batch):
            if event_id is not None:
                if not already_sent.add(event_id, seq):
                    continue  # sent already (the backlog, a catch-up, a record published twice)
                on_sent(event_id)
            if message:
                frames.append(frame or frame_of(message))
        if frames:
            send_frames(ws, frames)
        if time.monotonic() >= next_ping:
            ws.send(json.dumps({"type": "ping"}))
            next_ping = time.monotonic() + ping_seconds


def send_frames(ws: Any, frames: list[bytes]) -> None:
    """Send what was queued for one wake-up of the pump, in order, as one write of whole frames.

    The frames were made once per event for every socket of its user (`frame_of`); this server
    negotiates no extension (`without_compression`), so they are what simple-websocket would write.
    """
    if not ws.connected:
        raise ConnectionClosed(ws.close_reason, ws.close_message)
    try:
        ws.sock.sendall(b"".join(frames))
    except OSError as exc:  # the peer went away mid-write: as simple-websocket reports a closed socket
        raise ConnectionClosed(message=str(exc)) from exc


def without_compression() -> None:
    """Before a socket's handshake: no permessage-deflate, whatever the client offers.

    Our messages are small JSON; a compressor per socket would cost ~300 KB of zlib state each (10,000
    sockets: gigabytes) and a compression per message per socket, and each event could no longer be
    framed once for all of its user's sockets.
    """
    if request.endpoint == "user_socket":
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)


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


def token_expiry(token: str | None) -> float | None:
    """When a token that verified expires (its `exp`, epoch seconds); None without one."""
    if not token:
        return None
    expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return float(expires) if isinstance(expires, int | float) else None


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
    app.before_request(without_compression)
    subscribe(app, rt, subscription(hub))

    def checked(user_id: str) -> tuple[str | None, int | None]:
        """The socket's token when it is of `user_id`'s current session (None, close code otherwise)."""
        try:
            token = socket_token()
            claims = token_claims(rt.settings, token)
            sub = require_account(rt.engine, claims.user_id, claims.generation)
        except DomainError:
            return None, CLOSE_BAD_TOKEN
        return (token, None) if sub == user_id else (None, CLOSE_FORBIDDEN)

    @app.before_request
    def join_before_handshake() -> None:
        # The client calls a socket open (and the web app live) on the handshake's 101: its user joins
        # the hub's audience before that, so an event a follower reads from then on is never skipped
        # as nobody's here (the web app loads no backlog for a first connection, only the task list).
        if request.endpoint != "user_socket":
            return
        user_id = (request.view_args or {}).get("user_id", "")
        token, refused = checked(user_id)
        g.socket = (token, refused, None if refused else hub.connect(user_id))

    @app.teardown_request
    def leave_if_never_served(_exc: BaseException | None) -> None:
        joined = g.pop("socket", None)
        if joined is not None and joined[2] is not None:
            hub.disconnect(joined[2])  # a no-op when the socket was served (it left on closing)

    def user_socket(ws: Any, user_id: str) -> None:
        """Push the user's events; `since` resumes from the audit log after a reconnect."""
        token, refused, conn = g.socket  # join_before_handshake ran for this endpoint (before_request)
        if refused is not None:
            message = "bad or missing token" if refused == CLOSE_BAD_TOKEN else "not your stream"
            ws.close(reason=refused, message=message)
            return
        # The socket lasts as long as its token: at its expiry it is closed with 4001 (the client
        # reconnects with a fresh one and `since`).
        serve_socket(
            ws, rt, hub, user_id, request.args.get("since"), ping_seconds, expires_at=token_expiry(token), conn=conn
        )

    describe(
        user_socket,
        query=SocketQuery,
        responses={101: None},
        auth="none",
        summary="WebSocket (upgrade): the user's events live (?token= or the session cookie); "
        "close 4001 bad token, 4003 another user",
        description='Messages: {type, event_id, data, timestamp, correlation_id}, {"type": "ping"} every 25 s, '
        '{"type": "resync"} when `since` is unknown. Send "ping" to get "pong". Closed with 4001 when the '
        "token expires: reconnect with a fresh token and `since`.",
        tags=["events"],
    )
    sock.route("/ws/user/<user_id>/tasks")(user_socket)

    atexit.register(hub.close_all)
    return hub


def socket_token() -> str | None:
    """The token a socket opens with: `?token=` (API clients), else the browser's session cookie.

    The cookie counts only on an upgrade from this server's own page (Origin): a WebSocket carries no
    custom header, so the Origin check is its CSRF protection (cross-site WebSocket hijacking).
    """
    token = request.args.get("token")
    if token is None:
        if not same_origin():
            raise Unauthorized("A socket opened from another site does not get the session cookie.")
        token = request.cookies.get(SESSION_COOKIE)
    return token


def subscription(hub: Hub) -> Subscription:
    """Every topic, in every worker, to its sockets (from the event stream, with Kafka too)."""
    return Subscription("fanout", TOPICS, hub.broadcast, every_process=True, audience=hub.users)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """Build the fanout function."""
    return function_app("taskflow.fanout", register, settings, runtime)
