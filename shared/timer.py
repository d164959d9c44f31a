"""In-process timers for the combined app: sleep until the next due moment, wake early on demand."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class SweepTimer:
    """Run `sweep()` when `next_due()` comes (or when woken); never a fixed polling period.

    `max_sleep` only bounds how long a timer trusts its view of the database (another
    replica may have added work without waking this one).
    """

    def __init__(
        self,
        name: str,
        sweep: Callable[[], object],
        next_due: Callable[[], dt.datetime | None],
        max_sleep: float = 30.0,
    ):
        self.name = name
        self._sweep = sweep
        self._next_due = next_due
        self._max_sleep = max_sleep
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> SweepTimer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"timer-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _delay(self) -> float:
        due = self._next_due()
        if due is None:
            return self._max_sleep
        seconds = (due - dt.datetime.now(dt.UTC)).total_seconds()
        return min(self._max_sleep, max(0.0, seconds + 0.002))

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._wake.clear()
                self._sweep()
                self.sweeps += 1
                delay = self._delay()
                failures = 0
            except Exception:  # the database may be down: keep the timer alive and retry with backoff
                failures += 1
                delay = min(self._max_sleep, 0.5 * 2 ** min(failures, 6))
                log.exception("timer sweep failed", extra={"timer": self.name})
            if delay > 0:
                self._wake.wait(delay)
