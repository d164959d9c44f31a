"""The hub: each user's open sockets, a bounded queue per socket, broadcast without blocking."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable

from shared.domain.events import Event, iso

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013


def message_for(event: Event) -> str:
    return json.dumps(
        {
            "type": event.event_type,
            "event_id": event.event_id,
            "data": event.data,
            "timestamp": iso(event.timestamp),
            "correlation_id": event.correlation_id,
        }
    )


class Connection:
    """One open socket: messages wait in a bounded queue; a full queue closes it with 1013."""

    def __init__(self, user_id: str, max_queue: int):
        self.user_id = user_id
        self.outbox: queue.Queue[str | None] = queue.Queue(maxsize=max_queue)
        self.close_code: int | None = None

    def offer(self, message: str) -> bool:
        """Queue a message without ever blocking the broadcaster; False when the client fell behind."""
        try:
            self.outbox.put_nowait(message)
            return True
        except queue.Full:
            self.close(CLOSE_TRY_AGAIN_LATER)
            return False

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
            # Make room for the wake-up so the socket's own thread notices at once.
            while True:
                try:
                    self.outbox.put_nowait(None)
                    break
                except queue.Full:
                    try:
                        self.outbox.get_nowait()
                    except queue.Empty:
                        pass


class Hub:
    """Per-user sets of connections behind one lock; owned by the app, never module state."""

    def __init__(self, max_queue: int = 256, on_count: Callable[[int], None] | None = None):
        self._max_queue = max_queue
        self._on_count = on_count  # told the number of open sockets after each change (a gauge)
        self._lock = threading.Lock()
        self._by_user: dict[str, set[Connection]] = defaultdict(set)
        self._open = 0
        self.closed = False

    def connect(self, user_id: str) -> Connection:
        conn = Connection(user_id, self._max_queue)
        with self._lock:
            self._by_user[user_id].add(conn)
            self._open += 1
            self._counted()
        return conn

    def disconnect(self, conn: Connection) -> None:
        with self._lock:
            conns = self._by_user.get(conn.user_id)
            if conns is not None and conn in conns:
                conns.discard(conn)
                self._open -= 1
                if not conns:
                    del self._by_user[conn.user_id]
                self._counted()

    def _counted(self) -> None:
        if self._on_count is not None:
            self._on_count(self._open)

    def broadcast(self, events: list[Event]) -> None:
        """Queue each event for every socket of its user (the consumer thread never waits on a client)."""
        for event in events:
            with self._lock:
                targets = list(self._by_user.get(event.user_id, ()))
            if not targets:
                continue
            message = message_for(event)
            for conn in targets:
                if not conn.offer(message):
                    log.warning("slow client closed", extra={"user_id": event.user_id})

    def count(self) -> int:
        with self._lock:
            return sum(len(c) for c in self._by_user.values())

    def close_all(self, code: int = CLOSE_GOING_AWAY) -> None:
        """Graceful shutdown: every socket is closed with 1001."""
        self.closed = True
        with self._lock:
            conns = [c for cs in self._by_user.values() for c in cs]
        for conn in conns:
            conn.close(code)
