"""The one background-loop abstraction and the leader lease it runs under."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from shared.concurrency.loops import Loop, RetryLater
from shared.runtime.leader import Election, FileLease
from tests.support.net import wait_until


def test_a_loop_sleeps_for_what_its_step_returns_and_wakes_early_on_demand():
    runs: list[float] = []
    loop = Loop("sleepy", lambda: runs.append(time.monotonic()) or 30.0).start()
    try:
        wait_until(lambda: len(runs) == 1)
        time.sleep(0.2)
        assert len(runs) == 1, "asleep for the 30 s its step asked for"
        loop.wake()
        wait_until(lambda: len(runs) == 2, timeout=2, message="woken early")
    finally:
        loop.stop()
    assert not loop.running


def test_a_failing_step_backs_off_ignores_wakeups_and_recovers():
    calls: list[float] = []
    healthy = threading.Event()

    def step():
        calls.append(time.monotonic())
        if not healthy.is_set():
            raise RetryLater("database away")
        return None

    loop = Loop("flaky", step, idle=30.0, max_backoff=0.4).start()
    try:
        wait_until(lambda: len(calls) >= 4, timeout=5, message="retries")
        gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
        assert gaps[1] > gaps[0] * 1.5, f"the backoff grows: {gaps}"
        for _ in range(20):
            loop.wake()  # commits keep waking it: a failing loop must not spin on them
        count = len(calls)
        time.sleep(0.1)
        assert len(calls) <= count + 1
        healthy.set()
        wait_until(lambda: loop.failures == 0 and loop.steps >= 1, timeout=3, message="recovery")
    finally:
        loop.stop()


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
        wait_until(lambda: election.is_leader and ran, timeout=3, message="elected and working")
    finally:
        election.stop()
    assert not election.is_leader


def test_a_local_wake_reaches_the_leaders_loop_at_once_and_never_blocks_a_sender(tmp_path):
    from shared.messaging.wakeups import LocalWake

    path = str(tmp_path / "wake.sock")
    woken = threading.Event()
    nobody = LocalWake(str(tmp_path / "nobody.sock"), lambda: None)
    nobody.send()  # no leader listening: the writer carries on
    leader = LocalWake(path, woken.set)
    leader.loop.start()
    writer = LocalWake(path, lambda: None)
    try:
        wait_until(lambda: (tmp_path / "wake.sock").exists(), timeout=3, message="the leader's socket")
        started = time.monotonic()
        writer.send()
        assert woken.wait(1.0) and time.monotonic() - started < 0.2
        for _ in range(10_000):  # far more than the socket buffers: never blocks, never raises
            writer.send()
    finally:
        leader.close()
        writer.close()
        nobody.close()
    assert not (tmp_path / "wake.sock").exists()
