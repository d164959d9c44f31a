"""Reading the event stream (the numbered outbox): the one home of every read of its rows.

Its head, an event's position, the rows after a position (a user's only, or with only the payloads of
the users a worker has sockets for), and the rows parsed into events. The consumers that read it live
in shared.messaging.stream.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from shared.domain.events import Event, MalformedEvent
from shared.persistence.db import driver_autocommit
from shared.persistence.models import Outbox


@dataclasses.dataclass(frozen=True)
class StreamRow:
    seq: int
    topic: str
    event_id: str
    payload: dict[str, Any]
    traceparent: str | None = None


def stream_head(session: orm.Session) -> int:
    """The highest position in the stream (0 when empty)."""
    return session.scalar(sa.select(sa.func.coalesce(sa.func.max(Outbox.seq), 0))) or 0


def stream_position(session: orm.Session, event_id: str, *, user_id: str | None = None) -> int | None:
    """The position of event `event_id` (one of `user_id`'s when given); None when it is not in the stream (yet)."""
    query = sa.select(Outbox.seq).where(Outbox.event_id == event_id[:36])
    if user_id is not None:
        query = query.where(Outbox.user_id == user_id)
    return session.scalar(query)


def read_stream(session: orm.Session, after: int, limit: int, *, user_id: str | None = None) -> list[StreamRow]:
    """Up to `limit` rows after position `after`, in stream order (only `user_id`'s when given)."""
    query = sa.select(Outbox.seq, Outbox.topic, Outbox.event_id, Outbox.payload, Outbox.traceparent).where(
        Outbox.seq > after
    )
    if user_id is not None:
        query = query.where(Outbox.user_id == user_id)
    return [StreamRow(*row) for row in session.execute(query.order_by(Outbox.seq).limit(limit)).all()]


#: A consumer's batch on PostgreSQL: one prepared statement on an autocommit connection (no session, no BEGIN
#: and ROLLBACK around it).
_READ_AFTER_PG = "SELECT seq, topic, event_id, payload, traceparent FROM outbox WHERE seq > %s ORDER BY seq LIMIT %s"


def read_stream_after(sessions: orm.sessionmaker[orm.Session], after: int, limit: int) -> list[StreamRow]:
    """Up to `limit` rows after position `after`, in stream order (a consumer's next batch)."""
    engine: sa.Engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        with driver_autocommit(engine) as driver:
            return [StreamRow(*row) for row in driver.execute(_READ_AFTER_PG, (after, limit), prepare=True)]
    with sessions() as session:
        return read_stream(session, after, limit)


#: The socket feed's read on PostgreSQL, as psycopg SQL on an autocommit connection: one prepared statement,
#: one round trip (no session, no BEGIN and ROLLBACK around it), another user's payload never sent.
_READ_FOR_PG = """
SELECT seq, user_id, user_id = ANY(%(users)s::text[]) AS wanted, topic, event_id,
       CASE WHEN user_id = ANY(%(users)s::text[]) THEN payload END AS payload, traceparent
FROM outbox WHERE seq > %(after)s ORDER BY seq LIMIT %(limit)s
"""
_PAYLOADS_PG = "SELECT seq, payload FROM outbox WHERE seq = ANY(%(seqs)s::bigint[])"


def read_stream_for(
    sessions: orm.sessionmaker[orm.Session], after: int, limit: int, audience: Callable[[], Collection[str]]
) -> tuple[int | None, list[StreamRow]]:
    """Read up to `limit` positions after `after`, with the payloads of the `audience()` users' rows only.

    Returns (the last position read, None when nothing is newer; the audience's rows, in stream
    order). Every position is read (the caller moves past all of them), but another user's payload
    is neither sent by the database nor decoded here. The audience is asked again once the rows are
    in: a user who joined it meanwhile (a socket that registered while the query ran) gets the
    payloads of their rows read after all, so no event read here passes a registered socket by.
    """
    users = frozenset(audience())
    engine: sa.Engine = sessions.kw["bind"]
    if engine.dialect.name == "postgresql":
        with driver_autocommit(engine) as driver:
            rows: Sequence[Any] = driver.execute(
                _READ_FOR_PG, {"users": list(users), "after": after, "limit": limit}, prepare=True
            ).fetchall()
            missing = _joined_meanwhile(rows, users, audience)
            payloads: dict[int, Any] = (
                dict(driver.execute(_PAYLOADS_PG, {"seqs": missing}).fetchall()) if missing else {}
            )
    else:
        with sessions() as session:
            rows, payloads = _read_for_sqlite(session, users, after, limit, audience)
    if not rows:
        return None, []
    # r: (seq, user_id, wanted, topic, event_id, payload, traceparent)
    found = [
        StreamRow(r[0], r[3], r[4], r[5] if r[2] else payloads[r[0]], r[6]) for r in rows if r[2] or r[0] in payloads
    ]
    return rows[-1][0], found


def _joined_meanwhile(rows: Sequence[Any], users: frozenset[str], audience: Callable[[], Collection[str]]) -> list[int]:
    """The positions read without their payload whose user joined the audience while the rows were read."""
    late = frozenset(audience()) - users if rows else frozenset()
    # r: (seq, user_id, wanted, …)
    return [r[0] for r in rows if not r[2] and r[1] in late]


def _read_for_sqlite(
    session: orm.Session, users: frozenset[str], after: int, limit: int, audience: Callable[[], Collection[str]]
) -> tuple[Sequence[Any], dict[int, Any]]:
    table = Outbox.__table__
    wanted = table.c.user_id.in_(users)
    query = (
        sa.select(
            table.c.seq,
            table.c.user_id,
            wanted.label("wanted"),
            table.c.topic,
            table.c.event_id,
            sa.case((wanted, table.c.payload), else_=sa.null()).label("payload"),
            table.c.traceparent,
        )
        .where(table.c.seq > after)
        .order_by(table.c.seq)
        .limit(limit)
    )
    rows = session.execute(query).all()
    missing = _joined_meanwhile(rows, users, audience)
    payloads: dict[int, Any] = {}
    if missing:
        payloads = dict(session.execute(sa.select(table.c.seq, table.c.payload).where(table.c.seq.in_(missing))).all())
    return rows, payloads


def parse(rows: Sequence[StreamRow]) -> tuple[list[tuple[StreamRow, Event]], list[tuple[StreamRow, str]]]:
    """Split rows into (row, event) pairs, events carrying their position and stored trace context, and
    (row, error) pairs."""
    events, malformed = [], []
    for row in rows:
        try:
            event = Event.from_dict(row.payload)
            events.append(
                (row, dataclasses.replace(event, seq=row.seq, traceparent=row.traceparent or event.traceparent))
            )
        except (MalformedEvent, KeyError, TypeError, ValueError) as exc:
            malformed.append((row, f"malformed event: {exc}"))
    return events, malformed
