"""In-process timers for the combined app: sleep until the next due moment, wake early on demand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from shared.concurrency.loops import Loop
from shared.observability import tracing


class SweepTimer(Loop):
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
        self._sweep = sweep
        self._next_due = next_due
        self._max_sleep = max_sleep
        super().__init__(name, self._sweep_then_delay, idle=max_sleep, max_backoff=max_sleep)

    @property
    def sweeps(self) -> int:
        return self.steps

    def _sweep_then_delay(self) -> float:
        # A span per sweep: the events it writes (reminder.triggered, recurring.spawned) start their trace here.
        with tracing.tracer().start_as_current_span(f"sweep {self.name}"):
            self._sweep()
        due = self._next_due()
        if due is None:
            return self._max_sleep
        seconds = (due - dt.datetime.now(dt.UTC)).total_seconds()
        return min(self._max_sleep, max(0.0, seconds + 0.002))
