"""Leadership: the one process in a deployment that runs the background loops.

On PostgreSQL the leader holds a session advisory lock on a connection of its own: when the
process dies, the server drops the connection and the lock with it, and the next candidate
takes over on its next attempt (every `interval` seconds). On SQLite (one machine by
definition) an exclusive `flock` on a file beside the database plays the same role: the kernel
releases it when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any, Protocol

from shared.concurrency.loops import Loop

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x7A5F11


class Lease(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLease:
    """A session advisory lock on a dedicated connection (never one from the pool)."""

    def __init__(self, url: str):
        self._url = url
        self._conn: psycopg.Connection[Any] | None = None

    def try_acquire(self) -> bool:
        """Try the lock on our own connection (kept between attempts; a new one after an error)."""
        import psycopg

        try:
            if self._conn is None:
                self._conn = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=5, application_name=f"taskflow-leader-{os.getpid()}"
                )
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()
            return bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("leader lease unavailable", extra={"error": str(exc)})
            self.release()
            return False

    def still_held(self) -> bool:
        import psycopg

        if self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            self.release()
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # closing the session releases its advisory locks
            except Exception:  # a broken connection is discarded either way
                log.debug("closing the leader connection failed", exc_info=True)


class FileLease:
    """An exclusive, non-blocking flock on `<database>.leader`."""

    def __init__(self, path: str):
        self._path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def lease_for(database_url: str, libpq_url: str) -> Lease:
    """Pick the lease for this database: an advisory lock on PostgreSQL, a file lock on SQLite."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1] or "taskflow.db"
        if path == ":memory:":  # one process by definition: a private lock file
            path = os.path.join(tempfile.gettempdir(), f"taskflow-{os.getpid()}")
        return FileLease(f"{path}.leader")
    return PostgresLease(libpq_url)


class Election:
    """Try for leadership every `interval` seconds; start `loops` while leader, stop them when not."""

    def __init__(self, lease: Lease, *, interval: float = 1.0):
        self._lease = lease
        self._loops: list[Loop] = []
        self.is_leader = False
        #: Told True when this process takes the lease and False when it lets it go (a metric).
        self.on_change: Callable[[bool], None] = lambda _leader: None
        self.loop = Loop(
            "leader-election", self._step, idle=interval, max_backoff=interval * 5, on_stop=self._step_down
        )
        self._interval = interval

    def add(self, loop: Loop) -> Loop:
        self._loops.append(loop)
        if self.is_leader:
            loop.start()
        return loop

    def start(self) -> Election:
        self.loop.start()
        return self

    def stop(self) -> None:
        self.loop.stop()
        self._step_down()

    def _step(self) -> float:
        if self.is_leader:
            if not self._lease.still_held():
                log.warning("leadership lost; stopping the background loops")
                self._step_down()
        elif self._lease.try_acquire():
            self.is_leader = True
            self.on_change(True)
            log.info(
                "elected leader; starting the background loops", extra={"pid": os.getpid(), "loops": len(self._loops)}
            )
            for loop in self._loops:
                loop.start()
        return self._interval

    def _step_down(self) -> None:
        if self.is_leader:
            self.is_leader = False
            self.on_change(False)
            for loop in self._loops:
                loop.stop()
        self._lease.release()
