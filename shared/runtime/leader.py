"""Leadership: the one process in a deployment that runs the background loops.

On PostgreSQL the leader holds a lease that expires: a row of `leases` (holder, fencing token,
expires_at on the server's clock) that it renews every `interval` seconds. A leader that stops
renewing (it died, or it was frozen: SIGSTOP, a stalled VM) loses it after `ttl` seconds; a
candidate that finds the lease expired (or its holder's connections gone: a crash frees it at
once) first terminates every database session of the old holder (their transactions roll back and
their locks go), then takes the lease with the next fencing token. The work the leader does checks
that token inside its own transactions (`PostgresLease.check`), so a leader that wakes after
losing the lease commits nothing before it notices and stops its loops.

On SQLite (one machine, one serving process by definition) an exclusive `flock` on a file beside
the database plays the same role: the kernel releases it when the process dies.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import socket
import tempfile
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from shared.concurrency.loops import Loop, RetryLater
from shared.messaging.fencing import Fencing

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg
    from sqlalchemy import orm

log = logging.getLogger(__name__)

LEASE_NAME = "leader"
#: A lease not renewed for this long is taken over (the holder renews it every second).
LEASE_TTL_SECONDS = 4.0
#: Every database session of a process is named `taskflow:<holder id>`, so that a new leader can end
#: the sessions (and so the transactions and locks) of a frozen one.
APPLICATION_PREFIX = "taskflow:"


class LostLeadership(RetryLater):
    """The fencing token no longer matches: another process leads now; this one must not commit its work."""


@functools.cache
def _holder_for(pid: int) -> str:
    return f"{socket.gethostname()[:24]}:{pid}:{uuid.uuid4().hex[:8]}"


def holder_id() -> str:
    """This process's identity in the lease and in its sessions' application_name (new after a fork)."""
    return _holder_for(os.getpid())


def application_name() -> str:
    """The application_name of every database session this process opens (at most 63 bytes)."""
    return (APPLICATION_PREFIX + holder_id())[:63]


class Lease(Protocol):
    def try_acquire(self) -> bool: ...

    def still_held(self) -> bool: ...

    def release(self) -> None: ...

    def check(self, session: orm.Session) -> None: ...

    def fencing(self) -> Fencing | None: ...


class PostgresLease:
    """The `leases` row named `name`, renewed on a connection of our own (never one from the pool)."""

    def __init__(self, url: str, *, name: str = LEASE_NAME, ttl: float = LEASE_TTL_SECONDS, holder: str | None = None):
        self._url = url
        self._name = name
        self._ttl = ttl
        self._conn: psycopg.Connection[Any] | None = None
        #: This process (`holder_id()`); tests name several holders in one process.
        self.holder = holder or holder_id()
        #: The fencing token while we hold the lease (None otherwise).
        self.token: int | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        import psycopg

        if self._conn is None:
            self._conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=5, application_name=(APPLICATION_PREFIX + self.holder)[:63]
            )
        return self._conn

    def try_acquire(self) -> bool:
        """Take the lease when nobody holds it, it expired, or its holder has no session left."""
        import psycopg

        try:
            conn = self._connection()
            conn.execute(
                "INSERT INTO leases (name, holder, token, expires_at) VALUES (%s, '', 0, now()) "
                "ON CONFLICT (name) DO NOTHING",
                (self._name,),
            )
            row = conn.execute(
                "SELECT holder, expires_at < now() FROM leases WHERE name = %s", (self._name,)
            ).fetchone()
            if row is None:
                return False
            holder, expired = row
            if holder and holder != self.holder and not expired and self._holder_alive(conn, holder):
                return False
            if holder and holder != self.holder:
                self._end_sessions_of(conn, holder)
            with conn.transaction():
                taken = conn.execute(
                    "UPDATE leases SET holder = %(holder)s, token = token + 1, "
                    "expires_at = now() + make_interval(secs => %(ttl)s) "
                    "WHERE name = %(name)s AND holder = %(old)s RETURNING token",
                    {"holder": self.holder, "ttl": self._ttl, "name": self._name, "old": holder},
                ).fetchone()
            if taken is None:
                return False  # another candidate was quicker
            self.token = int(taken[0])
            log.info("leader lease taken", extra={"holder": self.holder, "token": self.token, "previous": holder})
            return True
        except psycopg.Error as exc:
            log.warning("leader lease unavailable", extra={"error": str(exc)})
            self.release()
            return False

    @staticmethod
    def _holder_alive(conn: psycopg.Connection[Any], holder: str) -> bool:
        """Whether the holder still has a session (a crashed process's sessions close with it)."""
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            ((APPLICATION_PREFIX + holder)[:63],),
        ).fetchone()
        return bool(row and row[0])

    @staticmethod
    def _end_sessions_of(conn: psycopg.Connection[Any], holder: str) -> None:
        """Terminate the old holder's sessions: what it had in flight rolls back, its locks go."""
        import psycopg

        try:
            ended = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                ((APPLICATION_PREFIX + holder)[:63],),
            ).fetchone()
            if ended and ended[0]:
                log.warning("ended the sessions of a leader that stopped renewing", extra={"holder": holder})
        except psycopg.Error as exc:  # not allowed (another role): the fencing token still holds
            log.warning("could not end the old leader's sessions", extra={"holder": holder, "error": str(exc)})

    def still_held(self) -> bool:
        """Renew the lease; False when another process took it (or the database cannot be reached)."""
        import psycopg

        if self._conn is None or self.token is None:
            return False
        try:
            row = self._conn.execute(
                "UPDATE leases SET expires_at = now() + make_interval(secs => %s) "
                "WHERE name = %s AND holder = %s AND token = %s RETURNING token",
                (self._ttl, self._name, self.holder, self.token),
            ).fetchone()
        except psycopg.Error:
            self.release()
            return False
        if row is None:
            self.token = None
            self.release()
            return False
        return True

    def check(self, session: orm.Session) -> None:
        """Fence: raise LostLeadership unless our token is still the lease's (inside the caller's transaction)."""
        token = self.token
        current = session.scalar(sa.text("SELECT token FROM leases WHERE name = :name"), {"name": self._name})
        if token is None or current != token:
            raise LostLeadership(f"the leader lease moved on (token {current}, ours {token})")

    def fencing(self) -> Fencing:
        """The lease's name and our token, for a statement that fences itself (`check` folded into it)."""
        return self._name, self.token

    def release(self) -> None:
        """Let the lease go at once when we still hold it (a clean stop), and close our connection."""
        conn, self._conn = self._conn, None
        token, self.token = self.token, None
        if conn is None:
            return
        try:
            if token is not None and not conn.closed:
                conn.execute(
                    "UPDATE leases SET expires_at = now() WHERE name = %s AND holder = %s AND token = %s",
                    (self._name, self.holder, token),
                )
        except Exception:  # a broken connection: the lease expires by itself
            log.debug("releasing the leader lease failed", exc_info=True)
        try:
            conn.close()
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

    def check(self, session: orm.Session) -> None:
        """One machine: the kernel's lock is the fence."""

    def fencing(self) -> None:
        """One machine: nothing for a statement to check."""


def lease_for(database_url: str, libpq_url: str) -> Lease:
    """Pick the lease for this database: a `leases` row on PostgreSQL, a file lock on SQLite."""
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

    def check(self, session: orm.Session) -> None:
        """Fence the caller's transaction: raise LostLeadership unless this process still holds the lease."""
        self._lease.check(session)

    def fencing(self) -> Fencing | None:
        """What a statement checks to fence itself (None: nothing to check, as `check` is then a no-op)."""
        return self._lease.fencing()

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
        # The leader renews every `interval`; a candidate looks twice as often, so that it takes an
        # expired lease within half an interval of its expiry.
        return self._interval if self.is_leader else self._interval / 2

    def _step_down(self) -> None:
        if self.is_leader:
            self.is_leader = False
            self.on_change(False)
            for loop in self._loops:
                loop.stop()
        self._lease.release()
