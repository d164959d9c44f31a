"""Embedded benchmark (`make run`: SQLite, one gevent worker): writes while webhooks go out, and the
cost of merging (PATCH) next to a strict update (PUT).

1. write latency: three clients write (create, reminder, change, tick) for DURATION seconds, first with
   no webhook (the floor), then with webhooks to a fast receiver on loopback (every event goes out)
   and a slow one (answers after 1 s). Target: write p99 <= 100 ms with webhooks going out.
2. merge overhead: the same three clients change tasks with PUT (If-Match), then with PATCH
   (base_version + only the changed field), back to back. Target: PATCH >= 0.9 x PUT updates/s.

    .venv/bin/python tests/bench/bench_embedded.py [--duration 15]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.live import Client  # noqa: E402
from tests.support.process import ServerProcess  # noqa: E402
from tests.support.receiver import DelayedReceiver  # noqa: E402

SECRET = "bench-secret-bench-secret-bench-secret-1234"
WRITERS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def writes(client: Client, until: float) -> list[float]:
    """A person's writes in a loop; each request's seconds."""
    took = []
    while time.monotonic() < until:
        at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
        for method, path, body in (
            ("POST", "/api/{me}/tasks", {"title": "bench"}),
            ("POST", "/api/{me}/tasks/{id}/reminders", {"remind_at": at}),
            ("PUT", "/api/{me}/tasks/{id}", {"priority": "high"}),
            ("PATCH", "/api/{me}/tasks/{id}/complete", {}),
        ):
            started = time.perf_counter()
            resp = client.request(method, path.replace("{id}", locals().get("tid", "")), json=body)
            took.append(time.perf_counter() - started)
            if resp.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
            if method == "POST" and path.endswith("/tasks"):
                tid = resp.json()["id"]
    return took


def updates(client: Client, task: dict, kind: str, until: float) -> int:
    """Change one field of one task again and again, with PUT + If-Match or with PATCH."""
    done, version = 0, task["version"]
    while time.monotonic() < until:
        title = f"{kind} {done}"
        if kind == "put":
            resp = client.request(
                "PUT", f"/api/{{me}}/tasks/{task['id']}", json={"title": title}, headers={"If-Match": f'"{version}"'}
            )
        else:
            resp = client.request(
                "PATCH", f"/api/{{me}}/tasks/{task['id']}", json={"base_version": version, "changes": {"title": title}}
            )
        if resp.status_code != 200:
            raise RuntimeError(f"{kind}: {resp.status_code} {resp.text[:200]}")
        version = resp.json()["version"]
        done += 1
    return done


def run_writers(clients: list[Client], duration: float) -> list[float]:
    until = time.monotonic() + duration
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        return [t for part in pool.map(lambda c: writes(c, until), clients) for t in part]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=15)
    args = parser.parse_args()
    fast, slow = DelayedReceiver(0), DelayedReceiver(1)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess.make_run(
            DATABASE_URL=f"sqlite:///{tmp}/bench.db", JWT_SECRET=SECRET, WEBHOOK_ALLOW_PRIVATE="true"
        ).start(ready_path="/health", timeout=120)
        try:
            clients = [Client(server.url).signup() for _ in range(WRITERS)]
            floor = run_writers(clients, args.duration)
            for client in clients:
                for receiver in (fast, slow):
                    made = client.request("POST", "/api/{me}/webhooks", json={"url": receiver.url, "events": ["*"]})
                    assert made.status_code == 201, made.text
            hooked = run_writers(clients, args.duration)
            tasks = [c.create_task(title="merge bench") for c in clients]
            rates = {}
            for kind in ("put", "patch", "put", "patch"):
                until = time.monotonic() + args.duration / 2
                with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
                    jobs = [pool.submit(updates, c, t, kind, until) for c, t in zip(clients, tasks, strict=True)]
                    done = sum(job.result() for job in jobs)
                tasks = [
                    c.request("GET", f"/api/{{me}}/tasks/{t['id']}").json() for c, t in zip(clients, tasks, strict=True)
                ]
                rates.setdefault(kind, []).append(done / (args.duration / 2))
        finally:
            server.stop()
            fast.close()
            slow.close()
    put, patch = statistics.median(rates["put"]), statistics.median(rates["patch"])
    result = {
        "write_p50_ms_no_webhooks": round(percentile(floor, 0.5) * 1000, 1),
        "write_p99_ms_no_webhooks": round(percentile(floor, 0.99) * 1000, 1),
        "write_p50_ms_webhooks": round(percentile(hooked, 0.5) * 1000, 1),
        "write_p99_ms_webhooks": round(percentile(hooked, 0.99) * 1000, 1),
        "write_max_ms_webhooks": round(max(hooked) * 1000, 1),
        "writes_with_webhooks": len(hooked),
        "webhook_hits": {"fast": fast.hits, "slow": slow.hits},
        "put_per_s": round(put, 1),
        "patch_per_s": round(patch, 1),
    }
    print(json.dumps(result, indent=2))
    print(
        f"write p99 with webhooks going out: {result['write_p99_ms_webhooks']} ms (target <= 100 ms; "
        f"{result['write_p99_ms_no_webhooks']} ms with none = "
        f"{round(result['write_p99_ms_webhooks'] / max(result['write_p99_ms_no_webhooks'], 0.1), 2)} x the floor)"
    )
    print(f"PATCH vs PUT: {patch:.1f} vs {put:.1f} updates/s = {patch / put:.2f} x (target >= 0.9 x)")


if __name__ == "__main__":
    main()
