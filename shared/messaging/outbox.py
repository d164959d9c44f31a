"""Transactional outbox: write events with the change (shared.messaging.relay publishes them in order afterwards)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any, cast

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy import orm

from shared.domain.events import Event
from shared.observability import tracing
from shared.persistence.db import driver_autocommit
from shared.persistence.models import ConsumerOffset, Outbox, User

log = logging.getLogger(__name__)


def outbox_values(event: Event) -> dict[str, Any]:
    """The outbox row for an event, with the trace context of the change that wrote it."""
    return {
        "event_id": event.event_id,
        "topic": event.topic,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "payload": event.to_dict(),
        "created_at": event.timestamp,
        "attempts": 0,
        "traceparent": event.traceparent or tracing.current_traceparent(),
    }


def add_event(session: orm.Session, event: Event) -> Event:
    """Stage an event in the caller's transaction; it is published only if that commits."""
    session.add(Outbox(**outbox_values(event)))
    return event


#: An account a new row is written for, checked inside the insert itself: (user id, session generation).
AccountGuard = tuple[str, int]


@functools.cache
def _row_and_event_statement(table: sa.Table, columns: tuple[str, ...], guarded: bool) -> sa.Insert:
    """Build once per table, column set and guard: WITH new_row AS (INSERT INTO table …) INSERT INTO outbox ….

    `guarded`: both inserts select their values only while the account exists at the token's session
    generation (bound as `a_user_id`, `a_generation`), so the per-request account check costs no round
    trip of its own; a refused account inserts nothing (no row, no event).
    """
    row = {key: sa.bindparam(f"r_{key}", type_=table.c[key].type) for key in columns}
    out = {
        c.key: sa.bindparam(f"o_{c.key}", type_=c.type)
        for c in Outbox.__table__.columns
        if c.key in _OUTBOX_INSERT_COLUMNS
    }
    if not guarded:
        new_row = sa.insert(table).values(row).cte("new_row")
        return sa.insert(Outbox.__table__).values(out).add_cte(new_row)
    users = User.__table__
    account = sa.exists().where(
        users.c.id == sa.bindparam("a_user_id", type_=users.c.id.type),
        users.c.session_generation == sa.bindparam("a_generation", type_=users.c.session_generation.type),
    )
    new_row = (
        sa.insert(table)
        .from_select(list(row), sa.select(*_typed(table, row)).where(account))
        .returning(table.c[next(iter(table.primary_key)).key])
        .cte("new_row")
    )
    outbox = Outbox.__table__
    written = sa.exists(sa.select(new_row).scalar_subquery())
    return sa.insert(outbox).from_select(list(out), sa.select(*_typed(outbox, out)).where(written)).add_cte(new_row)


def _typed(table: sa.Table, binds: dict[str, sa.BindParameter[Any]]) -> list[sa.ColumnElement[Any]]:
    """A SELECT list's parameters, each of its column's type: unlike VALUES, a SELECT does not take them from
    the target columns, and a NULL of no type reads as text. Strings, numbers, JSON and times carry the
    dialect's bind cast (`%(r_title)s::VARCHAR`); the others (a boolean, a float) get a CAST."""
    return [
        bind if table.c[key].type._type_affinity in _BIND_CAST else sa.cast(bind, table.c[key].type)
        for key, bind in binds.items()
    ]


_BIND_CAST = frozenset((sa.String, sa.Integer, sa.JSON, sa.DateTime))

_OUTBOX_INSERT_COLUMNS = (
    "event_id",
    "topic",
    "event_type",
    "user_id",
    "payload",
    "created_at",
    "attempts",
    "traceparent",
)


def insert_with_event(
    engine: sa.Engine,
    table: sa.Table,
    values: dict[str, Any],
    event: Event,
    columns: tuple[str, ...],
    account: AccountGuard | None = None,
) -> bool:
    """Insert a new row ({column: value} of `columns`; the others take their defaults) and its event atomically.

    On PostgreSQL this is one prepared `WITH new_row AS (INSERT …) INSERT INTO outbox …` statement
    in autocommit, on the engine's autocommit companion: a single statement is atomic, and it costs
    one round trip instead of four (BEGIN, two INSERTs, COMMIT) on the hot path of task creation.
    Elsewhere (SQLite), the two inserts in one transaction.
    With `account`, the insert happens only while that account exists at that session generation
    (the request's account check, in the same statement): False when it did not, nothing written.
    The caller wakes the relay after it returns (`Runtime.after_commit`).
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as conn:
            if account is not None and not _account_current(conn, account):
                return False
            conn.execute(sa.insert(table), [values])
            conn.execute(sa.insert(Outbox.__table__), [outbox_values(event)])
        return True
    sql, json_params = _compiled_for_psycopg(table, columns, engine.dialect, account is not None)
    params = {f"r_{key}": values[key] for key in columns}
    params.update({f"o_{k}": v for k, v in outbox_values(event).items()})
    for name in json_params:
        params[name] = Jsonb(params[name])
    if account is not None:
        params["a_user_id"], params["a_generation"] = account
    # Straight on the pooled psycopg connection: SQLAlchemy's per-execute work (parameter processing,
    # result setup) was a fifth of the write path's CPU.
    with driver_autocommit(engine) as driver:
        written: int = driver.execute(sql, params, prepare=True).rowcount
    return written == 1


def _account_current(conn: sa.Connection, account: AccountGuard) -> bool:
    user_id, generation = account
    found = conn.scalar(sa.select(User.session_generation).where(User.id == user_id))
    return found is not None and found == generation


@functools.cache
def _compiled_for_psycopg(
    table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect, guarded: bool
) -> tuple[str, tuple[str, ...]]:
    """The insert as psycopg SQL (named parameters) and which parameters are JSON (wrapped as Jsonb)."""
    compiled = _row_and_event_statement(table, columns, guarded).compile(dialect=dialect)
    json_params = tuple(name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON))
    return str(compiled), json_params


def purge_published(session: orm.Session, cutoff: dt.datetime, batch_size: int = 5000) -> int:
    """Delete one bounded batch of rows published before `cutoff` that every stored consumer has read."""
    read_by_all = sa.select(sa.func.min(ConsumerOffset.position)).scalar_subquery()
    oldest = (
        sa.select(Outbox.id)
        .where(
            Outbox.published_at < cutoff,
            sa.or_(Outbox.seq.is_(None), Outbox.seq <= sa.func.coalesce(read_by_all, Outbox.seq)),
        )
        .order_by(Outbox.id)
        .limit(batch_size)
    )
    result = session.execute(sa.delete(Outbox).where(Outbox.id.in_(oldest)))
    return cast("sa.CursorResult[Any]", result).rowcount or 0
