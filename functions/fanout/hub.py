"""The hub: each user's open sockets, a bounded queue per socket, broadcast without blocking."""

from __future__ import annotations

import logging
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable

from wsproto.frame_protocol import FrameProtocol

from shared.domain import json_text
from shared.domain.events import Event, iso

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
#: How many of the event ids a socket sent it remembers, to drop a repeat (a record the relay published
#: twice, an event both in the catch-up and in the live queue): memory per socket is bounded by it
#: (references to the events' own id strings: ~15 KB at most, and only on a socket that got that many).
RECENT_IDS = 512

#: What waits in a socket's queue: (event id or None, the text to send, its stream position, the text as a
#: WebSocket frame when one was made for every socket of the user); None alone wakes the socket to close.
Queued = tuple[str | None, str, int | None, bytes | None]


class RecentIds:
    """What a socket sent: the last `size` event ids (a set for lookups, a deque for their order, oldest
    forgotten first) and the furthest stream position.

    Events from the stream come in position order on each path (backlog, catch-up, live), so one at or
    before the furthest position sent is a repeat however long ago it went out; the ids catch the rest.
    """

    def __init__(self, size: int = RECENT_IDS):
        self._size = size
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self.position: int | None = None

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: str, seq: int | None = None) -> bool:
        """Remember `event_id` (read at stream position `seq`, when known); False when it is a repeat."""
        if event_id in self._ids or (seq is not None and self.position is not None and seq <= self.position):
            return False
        if seq is not None:
            self.position = seq
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


def frame_of(text: str) -> bytes:
    """`text` as one complete WebSocket text frame from a server (unmasked, no extension), by wsproto."""
    return bytes(FrameProtocol(client=False, extensions=[]).send_data(text, fin=True))


def message_for(event: Event) -> str:
    return json_text.dumps_text(
        {
            "type": event.event_type,
            "event_id": event.event_id,
            "data": event.data,
            "timestamp": iso(event.timestamp),
            "correlation_id": event.correlation_id,
        }
    )


class Connection:
    """One open socket: messages wait in a bounded queue.

    When the queue overflows (a burst after a broker outage, a slow client), a socket that can
    `catch_up` is marked `behind`: the broadcaster drops its messages from then on and the socket's
    own thread reads what it missed from the event stream instead. One that cannot is closed with 1013.
    """

    def __init__(self, user_id: str, max_queue: int):
        self.user_id = user_id
        self.outbox: queue.Queue[Queued | None] = queue.Queue(maxsize=max_queue)
        self.close_code: int | None = None
        self.catch_up = False
        self.behind = False

    def offer(
        self, message: str, event_id: str | None = None, seq: int | None = None, frame: bytes | None = None
    ) -> bool:
        """Queue a message without ever blocking the broadcaster; False when the client fell behind."""
        if self.behind:
            return True  # the socket's thread reads it from the stream
        try:
            self.outbox.put_nowait((event_id, message, seq, frame))
            return True
        except queue.Full:
            if self.catch_up:
                self.behind = True
                return True
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

    def __init__(self, max_queue: int = 2048, on_count: Callable[[int], None] | None = None):
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
            # Framed once for all of the user's sockets (they send it as it is: no extension is negotiated).
            frame = frame_of(message)
            for conn in targets:
                if not conn.offer(message, event.event_id, event.seq, frame):
                    log.warning("slow client closed", extra={"user_id": event.user_id})

    def users(self) -> frozenset[str]:
        """The users with a socket open here (the events of anyone else need not even be read)."""
        with self._lock:
            return frozenset(self._by_user)

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
