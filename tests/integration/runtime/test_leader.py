"""The leader lease background loops run under: one holder, freed when it dies, woken through a local socket."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

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
