"""One background loop abstraction for every worker: relay, timers, consumers, followers, leadership.

A `Loop` runs `step()` in its own thread (a greenlet under gevent's monkey patching), then sleeps
for the delay `step` returns, or until `wake()` is called. A step that raises is logged and retried
with exponential backoff, so a database or broker outage never kills the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: `step()` returns how long to sleep before the next step: 0 runs again at once, None waits for
#: a wake-up (or `idle` seconds, whichever comes first).
Step = Callable[[], float | None]


class RetryLater(Exception):
    """The work cannot be done now (database or broker away): back off quietly, then retry."""


class Loop:
    """Run `step` repeatedly until stopped; wake early on demand; back off when it fails."""

    def __init__(
        self,
        name: str,
        step: Step,
        *,
        idle: float = 30.0,
        max_backoff: float = 30.0,
        on_stop: Callable[[], None] | None = None,
    ):
        self.name = name
        self._step = step
        self._idle = idle
        self._max_backoff = max_backoff
        self._on_stop = on_stop
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The thread `stop()` last told to stop, until it has finished (a restart waits for it).
        self._stopping: threading.Thread | None = None
        self.steps = 0
        self.failures = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> Loop:
        """Start the loop's thread; a previous run told to stop is waited for first (never two at once)."""
        if self._thread is None:
            previous, self._stopping = self._stopping, None
            if previous is not None and previous is not threading.current_thread():
                previous.join(10.0)
                if previous.is_alive():
                    log.warning("restarting a loop whose previous run has not stopped yet", extra={"loop": self.name})
            # Each run has its own stop flag: a restart never revives a run that was told to stop.
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name=f"loop-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                self._stopping = thread

    def _run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    delay = self._step()
                    self.steps += 1
                    self.failures = 0
                except Exception as exc:  # the database or broker may be down: keep the loop alive, back off
                    self.failures += 1
                    delay = min(self._max_backoff, 0.1 * 2 ** min(self.failures, 10))
                    if isinstance(exc, RetryLater):
                        log.warning(
                            "background loop backing off",
                            extra={"loop": self.name, "error": str(exc), "retry_in": delay},
                        )
                    else:
                        log.exception(
                            "background loop step failed", extra={"loop": self.name, "failures": self.failures}
                        )
                    # While failing, retry on the growing timer, not on every wake-up.
                    stop.wait(delay)
                    continue
                if delay is None:
                    delay = self._idle
                if delay > 0:
                    self._wake.wait(delay)
        finally:
            if self._on_stop is not None:
                self._on_stop()
