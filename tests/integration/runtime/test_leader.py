"""The leader lease background loops run under: one holder, freed when it dies, woken through a local socket."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from shared.concurrency.loops import Loop
from shared.runtime.leader import Election, FileLease
from tests.support.net import wait_until

HOLD = """
import sys, time
from shared.runtime.leader import FileLease
lease = FileLease(sys.argv[1])
print("acquired" if lease.try_acquire() else "refused", flush=True)
time.sleep(60)
"""


def test_a_file_lease_has_one_holder_and_frees_itself_when_the_holder_dies(tmp_path):
    path = str(tmp_path / "db.sqlite.leader")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "acquired"
        ours = FileLease(path)
        assert not ours.try_acquire(), "another process holds it"
        holder.kill()
        holder.wait(5)
        assert ours.try_acquire(), "the kernel released the dead holder's lock"
        ours.release()
    finally:
        holder.kill()
        holder.wait(5)
        holder.stdout.close()


def test_an_election_starts_its_loops_only_while_it_holds_the_lease(tmp_path):
    path = str(tmp_path / "x.leader")
    blocker = FileLease(path)
    assert blocker.try_acquire()
    ran: list[int] = []
    election = Election(FileLease(path), interval=0.05)
    election.add(Loop("work", lambda: ran.append(1) or None, idle=0.01))
    election.start()
    try:
        time.sleep(0.3)
        assert not election.is_leader and ran == []
        blocker.release()
        wait_until(lambda: election.is_leader and ran, timeout=30, message="elected and working")
    finally:
        election.stop()
    assert not election.is_leader


def test_a_local_wake_reaches_the_leaders_loop_and_never_blocks_a_sender(tmp_path):
    from shared.messaging.wakeups import LocalWake

    path = str(tmp_path / "wake.sock")
    woken = threading.Event()
    nobody = LocalWake(str(tmp_path / "nobody.sock"), lambda: None)
    nobody.send()  # no leader listening: the writer carries on
    leader = LocalWake(path, woken.set)
    leader.loop.start()
    writer = LocalWake(path, lambda: None)
    try:
        wait_until(lambda: (tmp_path / "wake.sock").exists(), timeout=30, message="the leader's socket")
        writer.send()
        # It arrives (how soon, target 200 ms, is a row of tests/bench/bench_core.py).
        assert woken.wait(30), "the leader's loop was woken"
        for _ in range(10_000):  # far more than the socket buffers: never blocks, never raises
            writer.send()
    finally:
        leader.close()
        writer.close()
        nobody.close()
    assert not (tmp_path / "wake.sock").exists()


# -- the PostgreSQL lease: expires, fences, frees itself when its holder dies --------------------------


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_a_postgres_lease_that_is_not_renewed_expires_and_its_old_holder_is_fenced_off(db_url):
    import sqlalchemy as sa

    from shared.persistence.db import make_engine, make_sessionmaker
    from shared.runtime.leader import LostLeadership, PostgresLease

    frozen = PostgresLease(_libpq(db_url), ttl=1.0, holder="test-frozen")
    other = PostgresLease(_libpq(db_url), ttl=1.0, holder="test-other")
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        assert frozen.try_acquire()
        first = frozen.token
        assert frozen.still_held(), "renewed"
        assert not other.try_acquire(), "held and renewed: nobody else takes it"
        time.sleep(1.3)  # `frozen` stops renewing (SIGSTOP)
        assert other.try_acquire(), "expired: taken over"
        assert other.token == first + 1, "the fencing token moved on"
        # The old holder wakes up: its session was ended, its renewal fails, its work is fenced off.
        assert not frozen.still_held()
        with sessions() as session, session.begin():
            other.check(session)
            with pytest.raises(LostLeadership):
                frozen.check(session)
        with sessions() as session:
            row = session.execute(sa.text("SELECT holder, token FROM leases WHERE name = 'leader'")).one()
        assert tuple(row) == ("test-other", first + 1)
    finally:
        frozen.release()
        other.release()
        engine.dispose()


def test_a_postgres_lease_whose_holder_died_is_taken_at_once_and_a_clean_stop_hands_it_over(db_url):
    from shared.runtime.leader import PostgresLease

    dead = PostgresLease(_libpq(db_url), ttl=30.0, holder="test-dead")
    heir = PostgresLease(_libpq(db_url), ttl=30.0, holder="test-heir")
    last = PostgresLease(_libpq(db_url), ttl=30.0, holder="test-last")
    try:
        assert dead.try_acquire()
        dead._conn.close()  # the process died: its sessions are gone, the row not yet expired
        started = time.monotonic()
        assert heir.try_acquire(), "a holder without a session is gone: no need to wait 30 s"
        assert time.monotonic() - started < 30
        assert not last.try_acquire()
        heir.release()  # a clean stop expires the lease at once
        assert last.try_acquire()
    finally:
        for lease in (dead, heir, last):
            lease.release()
