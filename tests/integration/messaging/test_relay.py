"""The relay's numbering (one statement on the in-process stream; batch after batch to a broker), its lock and
its fence, the socket feed that reads only the payloads of the users it has sockets for, and a consumer's
fenced position."""

from __future__ import annotations

import json

import psycopg
import pytest
import sqlalchemy as sa

from shared.domain.events import Event, iso
from shared.messaging.outbox import add_event
from shared.messaging.relay import RELAY_LOCK_KEY, LeaseMovedOn, OutboxRelay
from shared.messaging.stream import StreamConsumer, StreamFollower
from shared.messaging.transports import LocalStream
from shared.persistence.db import make_engine, make_sessionmaker, migrate, utcnow
from shared.persistence.models import ConsumerOffset, Lease, Outbox


@pytest.fixture(params=["postgresql", "sqlite"])
def sessions(request, tmp_path):
    if request.param == "postgresql":
        url = request.getfixturevalue("db_url")
    else:
        url = f"sqlite:///{tmp_path / 'relay.db'}"
        migrate(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def leased(db_url):
    """PostgreSQL sessions, the leader lease held by another process at fencing token 7."""
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        session.add(Lease(name="leader", holder="someone", token=7, expires_at=utcnow()))
    yield sessions
    engine.dispose()


def write(sessions, *users: str) -> list[str]:
    """One outbox row per user given, in that order; their event ids."""
    with sessions.begin() as session:
        events = [add_event(session, Event("task.created", user, None, {"title": f"for {user}"})) for user in users]
    return [e.event_id for e in events]


def stream(sessions) -> list[tuple[str, int | None]]:
    with sessions() as session:
        return [tuple(r) for r in session.execute(sa.select(Outbox.event_id, Outbox.seq).order_by(Outbox.id))]


def test_the_relay_numbers_rows_in_id_order_batch_after_batch_once_each(sessions):
    ids = write(sessions, *["ann"] * 5)
    published: list[list[str]] = []
    relay = OutboxRelay(sessions, LocalStream(), batch_size=3, on_published=published.append)
    assert relay.relay_batch() == (3, True, False)
    assert relay.relay_batch() == (2, False, False)
    assert relay.relay_batch() == (0, False, False)
    assert stream(sessions) == [(event_id, seq) for seq, event_id in enumerate(ids, start=1)]
    assert published == [["tasks.events"] * 3, ["tasks.events"] * 2]


class Recording:
    """A broker transport that keeps what it is handed, batch by batch; it takes all of it, or only the
    first `takes` messages of all it is ever handed."""

    name = "recording"
    needs_payload = True

    def __init__(self, takes: int | None = None, on_ack=None) -> None:
        self.batches: list[list] = []
        self.takes = takes
        self.on_ack = on_ack  # called with the batch's number (from 1) as its acknowledgement is awaited

    @property
    def messages(self) -> list:
        return [m for batch in self.batches for m in batch]

    def publish(self, messages) -> int:
        return self.send(messages)()

    def send(self, messages):
        before = len(self.messages)
        self.batches.append(list(messages))
        taken = len(messages) if self.takes is None else max(0, min(len(messages), self.takes - before))
        number = len(self.batches)

        def acknowledged() -> int:
            if self.on_ack is not None:
                self.on_ack(number)
            return taken

        return acknowledged


def test_a_broker_gets_each_stored_envelope_as_its_text_with_the_fields_its_headers_need(sessions):
    with sessions.begin() as session:
        stored = [
            add_event(session, Event("task.created", "ann", "t-1", {"title": "Café ☕", "tags": ["a"]})),
            add_event(session, Event("list.created", "bob", None, {"name": "Home"})),
        ]
    broker = Recording()
    assert OutboxRelay(sessions, broker).relay_batch() == (2, False, False)
    assert [json.loads(m.data) for m in broker.messages] == [e.to_dict() for e in stored]
    fields = [(m.topic, m.event_id, m.event_type, m.user_id, m.aggregate_id, m.timestamp) for m in broker.messages]
    assert fields == [(e.topic, e.event_id, e.event_type, e.user_id, e.aggregate_id, iso(e.timestamp)) for e in stored]
    assert [seq for _, seq in stream(sessions)] == [1, 2], "numbered once the broker has them"


def test_a_relay_whose_lease_moved_on_numbers_nothing_and_the_holder_numbers_all(leased):
    sessions = leased
    write(sessions, "ann", "bob")
    frozen = OutboxRelay(sessions, LocalStream(), fencing=lambda: ("leader", 6))
    with pytest.raises(LeaseMovedOn):
        frozen.relay_batch()
    stepped_down = OutboxRelay(sessions, LocalStream(), fencing=lambda: ("leader", None))
    with pytest.raises(LeaseMovedOn):
        stepped_down.relay_batch()
    assert [seq for _, seq in stream(sessions)] == [None, None]
    leader = OutboxRelay(sessions, LocalStream(), fencing=lambda: ("leader", 7))
    assert leader.relay_batch()[0] == 2
    assert [seq for _, seq in stream(sessions)] == [1, 2]


def test_while_another_relay_holds_the_lock_nothing_is_numbered_and_once_it_is_gone_the_stream_is_notified(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    libpq = db_url.replace("postgresql+psycopg://", "postgresql://")
    try:
        write(sessions, "ann")
        relay = OutboxRelay(sessions, LocalStream())
        with psycopg.connect(libpq, autocommit=True) as other, psycopg.connect(libpq, autocommit=True) as listener:
            listener.execute("LISTEN taskflow_stream")
            other.execute("SELECT pg_advisory_lock(%s)", (RELAY_LOCK_KEY,))
            assert relay.relay_batch() == (0, False, False)
            assert relay.busy
            assert [seq for _, seq in stream(sessions)] == [None]
            other.execute("SELECT pg_advisory_unlock(%s)", (RELAY_LOCK_KEY,))
            assert relay.relay_batch()[0] == 1
            assert not relay.busy
            assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == ["taskflow_stream"]
        assert [seq for _, seq in stream(sessions)] == [1]
    finally:
        engine.dispose()


def test_a_follower_decodes_only_its_audience_and_still_moves_past_every_position(sessions):
    handed: list[str] = []
    audience = {"ann"}
    follower = StreamFollower(
        sessions, "sockets", lambda events: handed.extend(e.user_id for e in events), audience=lambda: set(audience)
    )
    assert follower.step() == 0.0  # starts at the head
    write(sessions, "ann", "bob", "cyd", "ann")
    OutboxRelay(sessions, LocalStream()).relay_batch()
    assert follower.step() is None
    assert handed == ["ann", "ann"]
    assert follower.position == 4
    assert follower.step() is None  # nothing newer: nothing handed again
    assert handed == ["ann", "ann"]


def test_a_user_whose_socket_registers_while_the_follower_reads_still_gets_the_rows_read(sessions):
    handed: list[str] = []
    asked = {"times": 0}

    def audience() -> set[str]:
        asked["times"] += 1
        return {"ann"} if asked["times"] == 1 else {"ann", "bob"}  # bob's socket registers mid-read

    follower = StreamFollower(
        sessions, "sockets", lambda events: handed.extend(e.user_id for e in events), audience=audience
    )
    follower.step()  # starts at the head
    write(sessions, "bob", "ann", "cyd")
    OutboxRelay(sessions, LocalStream()).relay_batch()
    follower.step()
    assert handed == ["bob", "ann"]
    assert follower.position == 3


def attempts(sessions) -> list[int]:
    with sessions() as session:
        return list(session.scalars(sa.select(Outbox.attempts).order_by(Outbox.id)))


def test_a_broker_gets_batch_after_batch_in_id_order_each_numbered_once_it_is_taken(sessions):
    ids = write(sessions, "ann", "bob", "ann", "cyd", "ann", "bob", "ann")
    broker, published = Recording(), []
    relay = OutboxRelay(sessions, broker, batch_size=2, on_published=published.append)
    assert relay.drain() == (7, False)
    assert [[m.event_id for m in batch] for batch in broker.batches] == [ids[0:2], ids[2:4], ids[4:6], ids[6:7]]
    assert stream(sessions) == [(event_id, seq) for seq, event_id in enumerate(ids, start=1)]
    assert published == [["tasks.events"] * 2] * 3 + [["tasks.events"]]
    assert relay.drain() == (0, False) and len(broker.batches) == 4, "nothing is sent twice"


def test_when_the_broker_fails_mid_run_what_it_took_is_numbered_and_nothing_after_is_handed_over(sessions):
    ids = write(sessions, *["ann"] * 7)
    broker = Recording(takes=3)  # the whole first batch, one message of the second
    relay = OutboxRelay(sessions, broker, batch_size=2)
    assert relay.drain() == (3, True)
    assert [[m.event_id for m in batch] for batch in broker.batches] == [ids[0:2], ids[2:4]]
    assert stream(sessions) == [(ids[0], 1), (ids[1], 2), (ids[2], 3)] + [(event_id, None) for event_id in ids[3:]]
    assert attempts(sessions) == [0, 0, 0, 1, 0, 0, 0], "the first message the broker refused is counted"
    broker.takes = None  # the broker is back: the rest goes out in order, after the positions already given
    assert relay.drain() == (4, False)
    assert [m.event_id for m in broker.batches[-2] + broker.batches[-1]] == ids[3:]
    assert stream(sessions) == [(event_id, seq) for seq, event_id in enumerate(ids, start=1)]


def test_a_relay_run_lets_go_of_the_lock_when_it_ends_and_when_its_lease_moves_on_mid_run(leased, db_url):
    sessions = leased
    libpq = db_url.replace("postgresql+psycopg://", "postgresql://")
    write(sessions, *["ann"] * 5)
    with psycopg.connect(libpq, autocommit=True) as other:

        def free() -> bool:
            got = other.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_KEY,)).fetchone()[0]
            if got:
                other.execute("SELECT pg_advisory_unlock(%s)", (RELAY_LOCK_KEY,))
            return got

        def taken_over(batch: int) -> None:  # as the second batch is acknowledged, another process leads
            if batch == 2:
                other.execute("UPDATE leases SET token = 8 WHERE name = 'leader'")

        token = {"now": 7}
        broker = Recording(on_ack=taken_over)
        relay = OutboxRelay(sessions, broker, batch_size=2, fencing=lambda: ("leader", token["now"]))
        with pytest.raises(LeaseMovedOn):
            relay.drain()
        assert len(broker.batches) == 3, "the third batch was on its way when the lease moved on"
        assert free(), "the lock went back with the run, not with the connection"
        assert [seq for _, seq in stream(sessions)] == [1, 2, None, None, None], "only what it led for"
        token["now"] = 8
        assert relay.drain() == (3, False) and free()
        assert [seq for _, seq in stream(sessions)] == [1, 2, 3, 4, 5]


def test_a_consumer_whose_lease_moved_on_keeps_its_position_and_the_leader_moves_it(leased):
    sessions = leased
    write(sessions, "ann", "bob")
    OutboxRelay(sessions, LocalStream()).relay_batch()
    handled: list[str] = []

    def positions() -> dict[str, int]:
        with sessions() as session:
            return dict(session.execute(sa.select(ConsumerOffset.consumer, ConsumerOffset.position)).all())

    def audit(token: int) -> StreamConsumer:
        record = lambda events: handled.extend(e.user_id for e in events)  # noqa: E731
        return StreamConsumer(sessions, "audit", ("tasks.events",), record, fencing=lambda: ("leader", token))

    with pytest.raises(LeaseMovedOn):
        audit(6).step()  # the loop's step (a test's catch_up checks no lease)
    assert handled == ["ann", "bob"], "handled (at least once) ..."
    assert positions() == {}, "... but a leader that lost the lease moves no position"
    assert audit(7).step() is None
    assert positions() == {"audit": 2}
