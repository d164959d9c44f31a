"""The one background-loop abstraction and the leader lease it runs under."""

from __future__ import annotations

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
