"""Wake-ups between processes: PostgreSQL LISTEN/NOTIFY (SQLite has none, so loops poll there).

Writers send `NOTIFY taskflow_outbox` in the transaction that adds outbox rows (delivered on
commit), so the leader's relay wakes whichever worker served the request; the relay sends
`NOTIFY taskflow_stream` in the transaction that numbers the rows it published, so every
worker's socket feed reads them at once. A notification only wakes a loop: the rows themselves
are always read from the database, so a lost notification costs latency, never an event.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.loops import Loop

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "taskflow_outbox"
STREAM_CHANNEL = "taskflow_stream"


class Listener:
    """One LISTEN connection per process; calls each channel's callbacks when it is notified."""

    def __init__(self, url: str):
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._callbacks: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._conn: psycopg.Connection[Any] | None = None
        self.loop = Loop("listen", self._step, idle=0.0, on_stop=self._close)

    def on(self, channel: str, callback: Callable[[], None]) -> None:
        self._callbacks[channel].append(callback)

    def start(self) -> Listener:
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop(timeout=2.0)
        self._close()

    def _wake_all(self) -> None:
        for callbacks in self._callbacks.values():
            for callback in callbacks:
                callback()

    def _step(self) -> float:
        import psycopg

        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                for channel in self._callbacks:
                    self._conn.execute(f"LISTEN {channel}")  # channel names are constants above
            except psycopg.Error:
                self._close()
                raise
            self._wake_all()  # anything sent while we were not listening
        try:
            for note in self._conn.notifies(timeout=1.0):
                for callback in self._callbacks.get(note.channel, ()):
                    callback()
        except psycopg.Error:
            self._close()
            raise
        return 0.0

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # already broken
                log.debug("closing the listen connection failed", exc_info=True)
