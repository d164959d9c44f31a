"""The broker's reachability for /health and /metrics, checked off the request thread.

Liveness probes time out after a second; a broker that drops packets would make a synchronous
check take that long and get a healthy process restarted. So requests read the last result,
and a stale one is refreshed by a short-lived background thread.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.messaging.transports import Transport


class BrokerProbe:
    """Whether the transport's broker answered, checked at most every `interval` seconds."""

    def __init__(self, transport: Transport, interval: float = 5.0) -> None:
        self._transport = transport
        self._interval = interval
        self._lock = threading.Lock()
        self._reachable: bool | None = None
        self._checked_at = float("-inf")
        self._checking = False

    def reachable(self) -> bool | None:
        """The last result (None before the first check); starts a refresh when it is stale."""
        with self._lock:
            if not self._checking and time.monotonic() - self._checked_at > self._interval:
                self._checking = True
                threading.Thread(target=self._check, name="broker-probe", daemon=True).start()
            return self._reachable

    def _check(self) -> None:
        reachable = False
        try:
            reachable = bool(self._transport.healthy())
        finally:
            with self._lock:
                self._reachable, self._checked_at, self._checking = reachable, time.monotonic(), False

    def gauge_value(self) -> float:
        reachable = self.reachable()
        return float("nan") if reachable is None else float(reachable)
