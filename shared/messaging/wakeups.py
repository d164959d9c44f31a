"""Wake-ups between processes. A wake-up only wakes a loop: rows are always read from the
database, so a lost one costs latency (until the loop's idle poll), never an event.

- Writers → the leader's relay: a datagram on a Unix socket the leader binds beside the other
  workers of the container (`LocalWake`). Not a `NOTIFY` in the writing transaction: PostgreSQL
  serialises the commits of notifying transactions (one at a time through the commit's flush),
  which measured as a 0.69× cut in create throughput and a long latency tail.
- The relay → every worker's socket feed: `NOTIFY taskflow_stream` once per published batch
  (`Listener`, one LISTEN connection per worker). SQLite has no NOTIFY: the feeds poll there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.concurrency.loops import Loop

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

STREAM_CHANNEL = "taskflow_stream"


def wake_path(database_url: str) -> str:
    """The leader's wake-up socket for this database: one per deployment on this machine."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"taskflow-wake-{digest}.sock")


class LocalWake:
    """Datagrams on a Unix socket: any worker `send()`s, the leader's `loop` receives and calls back."""

    def __init__(self, path: str, on_wake: Callable[[], None]):
        self._path = path
        self._on_wake = on_wake
        self._sender: socket.socket | None = None
        self._receiver: socket.socket | None = None
        self.loop = Loop("wake-receiver", self._receive, idle=0.0, on_stop=self._close)

    def send(self) -> None:
        """Nudge the leader; never blocks or fails the caller (no leader here, a full buffer: skip)."""
        try:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            self._sender.sendto(b"w", self._path)
        except OSError:
            pass

    def _receive(self) -> float:
        if self._receiver is None:
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)  # a dead leader's socket file; we hold the lease now
            receiver.bind(self._path)
            receiver.settimeout(1.0)
            self._receiver = receiver
        try:
            self._receiver.recv(16)
        except TimeoutError:
            return 0.0
        self._receiver.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            while self._receiver.recv(16):  # many writers, one wake-up
                pass
        self._receiver.settimeout(1.0)
        self._on_wake()
        return 0.0

    def close(self) -> None:
        self.loop.stop(timeout=2.0)
        self._close()

    def _close(self) -> None:
        for sock in (self._receiver, self._sender):
            if sock is not None:
                sock.close()
        if self._receiver is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path)
        self._receiver = self._sender = None


class Listener:
    """One LISTEN connection per process; calls each channel's callbacks when it is notified."""

    def __init__(self, url: str):
        self._url = url
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
