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
