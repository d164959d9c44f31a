"""Password hashing: argon2 runs are bounded, however many sign-ups arrive at once."""

from __future__ import annotations

import threading
import time

from shared.services import credentials


def test_concurrent_hashing_is_bounded(monkeypatch):
    hashing = credentials._hashing()
    running, peak, lock = [0], [0], threading.Lock()
    real_hash = hashing.hasher.hash

    class Spy:
        def hash(self, password):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                time.sleep(0.05)
                return real_hash(password)
            finally:
                with lock:
                    running[0] -= 1

    monkeypatch.setattr(hashing, "hasher", Spy())
    threads = [threading.Thread(target=credentials.hash_password, args=(f"pw-{i}-long",)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == credentials.MAX_CONCURRENT_HASHES
