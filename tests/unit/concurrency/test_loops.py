"""The one background-loop abstraction: sleeps for what its step asks, wakes on demand, backs off when failing.

(The leader lease it runs under: tests/integration/runtime/test_leader.py.)
"""

from __future__ import annotations

import logging
import threading
import time

from shared.concurrency.loops import Loop, RetryLater
from tests.support.net import wait_until


def test_a_loop_sleeps_for_what_its_step_returns_and_wakes_early_on_demand():
    runs: list[float] = []
    loop = Loop("sleepy", lambda: runs.append(time.monotonic()) or 30.0).start()
    try:
        wait_until(lambda: len(runs) == 1)
        time.sleep(0.2)
        assert len(runs) == 1, "asleep for the 30 s its step asked for"
        loop.wake()
        # Half the 30 s it asked for: only a wake-up gets it there in time.
        wait_until(lambda: len(runs) == 2, timeout=15, message="woken early")
    finally:
        loop.stop()
    assert not loop.running


def test_a_failing_step_backs_off_ignores_wakeups_and_recovers(caplog):
    caplog.set_level(logging.WARNING, logger="shared.concurrency.loops")
    calls: list[float] = []
    healthy = threading.Event()

    def step():
        calls.append(time.monotonic())
        if not healthy.is_set():
            raise RetryLater("database away")
        return None

    loop = Loop("flaky", step, idle=30.0, max_backoff=0.4).start()
    try:
        wait_until(lambda: len(calls) >= 4, timeout=30, message="retries")
        # The delays the loop chose (logged with each retry), not the gaps a busy machine stretches.
        delays = [r.retry_in for r in caplog.records if r.getMessage() == "background loop backing off"]
        assert delays[:3] == [0.2, 0.4, 0.4], f"the backoff grows to its cap: {delays}"
        for _ in range(20):
            loop.wake()  # commits keep waking it: a failing loop must not spin on them
        count = len(calls)
        time.sleep(0.1)
        assert len(calls) <= count + 1
        healthy.set()
        wait_until(lambda: loop.failures == 0 and loop.steps >= 1, timeout=30, message="recovery")
    finally:
        loop.stop()


def test_a_loop_restarted_while_its_last_run_still_stops_never_runs_twice():
    """Leadership lost and won again while a step was stuck: the old run ends, only the new one steps."""
    release = threading.Event()
    runs: list[threading.Thread] = []  # thread objects, not idents: an ident is reused once a thread ends
    stopped: list[threading.Thread] = []

    def step():
        runs.append(threading.current_thread())
        release.wait(5)  # the first step is stuck (a slow database call)
        return 0.01

    loop = Loop("restarted", step, on_stop=lambda: stopped.append(threading.current_thread()))
    loop.start()
    wait_until(lambda: runs, message="the first step")
    first = runs[0]
    loop.stop(timeout=0.05)  # gives up waiting: the step is still stuck
    threading.Timer(0.2, release.set).start()
    loop.start()  # waits for the old run to end, then starts a new one
    assert stopped == [first], "the old run ended (its on_stop ran) before the new one started"
    wait_until(lambda: len({t for t in runs if t != first}) == 1, message="the new run steps")
    count = runs.count(first)
    time.sleep(0.1)
    assert runs.count(first) == count, "the old run never stepped again"
    loop.stop()
