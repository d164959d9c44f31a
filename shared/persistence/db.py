"""Engine, sessions, the unit of work at the edge, and Alembic migrations."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import pathlib
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event, orm

from shared.domain import json_text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine.interfaces import DBAPIConnection

log = logging.getLogger(__name__)

MIGRATIONS_DIR = pathlib.Path(__file__).resolve().parents[2] / "migrations"


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Store aware datetimes as UTC; always hand back aware UTC datetimes (SQLite too)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: How long a write waits for another *process* holding SQLite's lock (a CLI, a second worker). Inside
#: one process writers queue on the WriteGate instead, cooperatively, and never reach this wait.
SQLITE_BUSY_SECONDS = 30


class WriteGate:
    """One transaction at a time per process on SQLite, queued cooperatively.

    SQLite allows one writer per file. Left to itself, a second writer in the same process spins in
    SQLite's busy handler, a C loop that never yields to gevent: the whole worker stops until the
    first writer's greenlet gets to run and commit, which it cannot (measured: 20 s frozen while a
    webhook went out). So every transaction takes this lock (gevent's own, once gunicorn has patched
    threading; a plain lock in threads) and begins with `BEGIN IMMEDIATE`: waiting happens here, where
    other greenlets keep running, and once in, the transaction holds SQLite's write lock and can
    never fail on a stale read snapshot. Transactions must be short: none is held across a network
    call (see functions/notifications/deliveries.py). A second transaction the same thread or greenlet
    opens while it holds the gate (a nested read) begins deferred, as it cannot wait for itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders: dict[int, object] = {}  # thread or greenlet ident -> the connection that holds the gate

    def begin(self, conn: sa.Connection) -> None:
        """Begin a transaction: queue for the gate, then take SQLite's write lock at once."""
        me = threading.get_ident()
        if me in self._holders:
            conn.exec_driver_sql("BEGIN")
            return
        self._lock.acquire()
        self._holders[me] = conn
        conn.info[_GATE_OWNER] = me
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self.end(conn)
            raise

    def end(self, conn: sa.Connection) -> None:
        """The transaction is committing or rolling back: let the next one in."""
        owner = conn.info.pop(_GATE_OWNER, None)
        if owner is not None:
            del self._holders[owner]
            self._lock.release()


_GATE_OWNER = "taskflow.write_gate_owner"


def make_engine(url: str, *, autocommit_pool_size: int = 0, **kwargs: Any) -> sa.Engine:
    """Create an engine tuned for the dialect (SQLite: WAL, busy timeout, FKs).

    On PostgreSQL, `autocommit_pool_size` > 0 also gives the engine a companion pool of that many
    connections that stay in autocommit, for the single statements of the hot paths
    (`driver_autocommit`, `autocommit_engine`).
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS})
        engine = sa.create_engine(url, **kwargs)
        gate = WriteGate()

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
            # No implicit BEGIN from the sqlite3 module: the gate below begins every transaction.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        event.listen(engine, "begin", gate.begin)
        event.listen(engine, "commit", gate.end)
        event.listen(engine, "rollback", gate.end)
        return engine
    # Under gevent a request does not hold a thread, so the pool (not the thread count) bounds how
    # many queries a worker runs at once; PostgreSQL on a small machine gains nothing past ~10, and
    # every worker of every replica shares the server's max_connections (Render's free plan: ~100).
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 5)
    # No pre-ping: it costs a round trip per request. A dropped connection invalidates the pool
    # on first use instead, and recycling bounds how old a connection gets.
    kwargs.setdefault("pool_recycle", 1800)
    # JSON and JSONB values in and out through orjson (shared.domain.json_text), on the raw driver path too.
    # As text, not bytes: psycopg then encodes it in the connection's encoding, whatever the database's is.
    kwargs.setdefault("json_serializer", json_text.dumps_text)
    kwargs.setdefault("json_deserializer", json_text.loads)
    engine = sa.create_engine(url, **kwargs)
    if autocommit_pool_size > 0:
        # Set to autocommit once, when each connection opens: no switch on and off per statement.
        # No overflow: a burst larger than the pool waits for a connection instead of opening (and
        # then closing) sessions, so a worker's requests never cost a new PostgreSQL session each.
        # No rollback when a connection goes back to the pool: in autocommit no transaction is ever
        # left open to end (SQLAlchemy's documented setting for a DBAPI in autocommit at all times).
        companion = sa.create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            pool_size=autocommit_pool_size,
            max_overflow=0,
            pool_recycle=kwargs["pool_recycle"],
            pool_reset_on_return=None,
            json_serializer=kwargs["json_serializer"],
            json_deserializer=kwargs["json_deserializer"],
        )
        with _companions_lock:
            _companions[engine] = companion
    return engine


#: Each PostgreSQL engine's autocommit companion (written once, when make_engine builds both).
_companions: weakref.WeakKeyDictionary[sa.Engine, sa.Engine] = weakref.WeakKeyDictionary()
_companions_lock = threading.Lock()


def autocommit_engine(engine: sa.Engine) -> sa.Engine:
    """The engine for one-statement reads and writes: its autocommit companion, else the engine itself.

    On the companion a statement costs one round trip (no BEGIN, no ROLLBACK), and its pool is the
    one sized for the requests a worker serves at once (DB_AUTOCOMMIT_POOL_SIZE).
    """
    return _companions.get(engine, engine)


def dispose(engine: sa.Engine) -> None:
    """Close the engine's pooled connections, its autocommit companion's too."""
    companion = _companions.get(engine)
    if companion is not None:
        companion.dispose()
    engine.dispose()


@contextlib.contextmanager
def driver_autocommit(engine: sa.Engine) -> Iterator[Any]:  # Any: a psycopg Connection
    """A pooled psycopg connection itself, in autocommit, for one statement on a hot path.

    A single statement is atomic on its own: no BEGIN/COMMIT round trips, and none of SQLAlchemy's
    per-execute work (parameter processing, result setup, the isolation-level switch). From the
    engine's autocommit companion when it has one (connections already in autocommit), else from its
    own pool, switched to autocommit for the statement.
    A driver error leaves as SQLAlchemy would raise it (`sa.exc.OperationalError` for a lost
    connection, which the pool then discards), so callers and the HTTP edge see one kind of error.
    """
    companion = _companions.get(engine)
    if companion is None:
        with _switched_to_autocommit(engine) as switched:
            yield switched
        return
    dbapi_error = companion.dialect.loaded_dbapi.Error
    try:
        fairy = companion.raw_connection()
    except dbapi_error as exc:
        raise _wrapped(companion, exc, lost=True) from exc
    driver: Any = fairy.driver_connection
    try:
        yield driver
    except dbapi_error as exc:
        lost = _lost(companion, exc, driver)
        if lost:
            fairy.invalidate(exc)
        raise _wrapped(companion, exc, lost=lost) from exc
    finally:
        fairy.close()


@contextlib.contextmanager
def _switched_to_autocommit(engine: sa.Engine) -> Iterator[Any]:  # Any: a psycopg Connection
    with engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        driver.autocommit = True
        try:
            yield driver
        except engine.dialect.loaded_dbapi.Error as exc:
            lost = _lost(engine, exc, driver)
            if lost:
                conn.invalidate(exc)
            raise _wrapped(engine, exc, lost=lost) from exc
        finally:
            if not conn.invalidated:
                driver.autocommit = False


def _lost(engine: sa.Engine, exc: Any, driver: Any) -> bool:  # Any: the driver's error and connection
    return engine.dialect.is_disconnect(exc, driver, None) or bool(getattr(driver, "closed", False))


def _wrapped(engine: sa.Engine, exc: Exception, *, lost: bool) -> sa.exc.StatementError:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError, …)."""
    return sa.exc.DBAPIError.instance(
        None, None, exc, engine.dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=engine.dialect
    )


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached now (not that the statement is wrong).

    SQLAlchemy's wrappers of a lost or refused connection, a pool with no connection to give, and
    the driver's own errors of that kind when they escape unwrapped (psycopg's OperationalError).
    Also an error raised *because of* such a loss (a session left to roll back, a closed connection
    used again), found by following the exception's cause and context.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_connection_loss(current):
            return True
        # `raise X from loss`, or a database-layer error met while a loss was being handled (never an
        # unrelated error that merely happened inside an `except` block).
        implicit = current.__context__ if isinstance(current, sa.exc.SQLAlchemyError) else None
        current = current.__cause__ or implicit
    return False


def _is_connection_loss(exc: BaseException) -> bool:
    if isinstance(
        exc, (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, sa.exc.DisconnectionError)
    ):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        return bool(exc.connection_invalidated)
    try:
        import psycopg
    except ImportError:  # SQLite-only installs
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def make_sessionmaker(engine: sa.Engine) -> orm.sessionmaker[orm.Session]:
    return orm.sessionmaker(engine, expire_on_commit=False, autoflush=True)


class UnitOfWork:
    """Own one transaction at the edge: rolls back unless `commit()` is called.

    After a successful commit, the `on_commit` callbacks run (e.g. wake the outbox relay).
    """

    def __init__(
        self,
        sessions: orm.sessionmaker[orm.Session],
        on_commit: Callable[[], None] | None = None,
    ):
        self._sessions = sessions
        self._on_commit = on_commit
        self.session: orm.Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._sessions()
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back anything uncommitted without expiring the objects already loaded.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        if self._on_commit is not None:
            self._on_commit()


def alembic_config(url: str) -> Config:
    """Build an Alembic config pointing at migrations/ for the given database URL."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


def _normalise_url(url: str) -> str:
    return make_engine(url).url.render_as_string(hide_password=False)


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` with Alembic."""
    from alembic import command

    command.upgrade(alembic_config(_normalise_url(url)), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(_normalise_url(url)), revision)


def migrate_cli() -> None:
    """Console entry point: migrate DATABASE_URL to head."""
    from shared.observability import logs
    from shared.settings import Settings

    settings = Settings.from_env()
    logs.configure(settings.log_level)
    migrate(settings.database_url)
    log.info("database migrated", extra={"database": make_engine(settings.database_url).url.render_as_string()})
