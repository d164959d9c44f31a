"""Notifications benchmark: 1,000 webhook deliveries to a local receiver (real HTTP on loopback):
deliveries/s and event -> receipt latency."""

from __future__ import annotations

import http.server
import pathlib
import statistics
import sys
import threading
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

from functions.notifications.deliveries import deliver_due, enqueue  # noqa: E402
from shared.domain.events import Event  # noqa: E402
from shared.persistence.db import migrate  # noqa: E402
from shared.persistence.models import User, WebhookEndpoint  # noqa: E402
from shared.runtime.process import Runtime  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.pg import create_database, drop_database  # noqa: E402

N = 1000


def main() -> None:
    received: list[float] = []
    sent_at: dict[str, float] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            received.append(time.time() - sent_at[self.headers["webhook-id"]])
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = create_database("taskflow_bench_notify")
    try:
        migrate(url)
        rt = Runtime(Settings(database_url=url, run_background_workers=False, webhook_allow_private=True))
        with rt.sessions.begin() as s:
            s.add(User(id="u", email="u@bench.example", password_hash="-"))
            s.add(
                WebhookEndpoint(
                    id=str(uuid.uuid4()),
                    user_id="u",
                    url=f"http://127.0.0.1:{server.server_port}/h",
                    events=["*"],
                    secret="whsec_" + "A" * 32,
                    enabled=True,
                    consecutive_failures=0,
                )
            )
        events = [
            Event(event_type="task.created", user_id="u", aggregate_id=str(i), data={"title": f"t{i}"})
            for i in range(N)
        ]
        for e in events:
            sent_at[f"msg_{e.event_id}"] = e.timestamp.timestamp()
        started = time.perf_counter()
        for start in range(0, N, 100):
            enqueue(rt, events[start : start + 100])
        while len(received) < N:
            deliver_due(rt)
        elapsed = time.perf_counter() - started
        rt.close()
    finally:
        drop_database(url)
        server.shutdown()
    q = statistics.quantiles([r * 1000 for r in received], n=100)
    print()
    print("| measure (one dispatcher, PostgreSQL, receiver on loopback) | result |")
    print("|---|---|")
    print(f"| {N:,} webhook deliveries | {N / elapsed:,.0f} deliveries/s ({elapsed:.2f} s) |")
    print(f"| event -> receipt | p50 {q[49]:.0f} / p95 {q[94]:.0f} / p99 {q[98]:.0f} ms (all {N} queued at once) |")


if __name__ == "__main__":
    main()
