"""Load generator (its own process): N concurrent clients creating tasks over HTTP keep-alive.

Prints one JSON line: requests, errors, seconds, rate and latency percentiles in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

import aiohttp


async def client(session, url, user_id, token, deadline, latencies, errors, interval=0.0):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    n = 0
    # Spread the clients over the interval: synchronised clients would send in bursts and measure
    # their own queueing, not the service.
    next_at = time.perf_counter() + random.uniform(0, interval)
    while time.perf_counter() < deadline:
        if interval:
            # Open loop: each client sends on its own schedule, whatever the latency.
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        body = json.dumps(
            {"title": f"bench task {n}", "priority": "medium", "tags": ["bench"], "due_date": "2030-01-01T09:00:00Z"}
        )
        started = time.perf_counter()
        async with session.post(f"{url}/api/{user_id}/tasks", data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 201:
                errors.append(resp.status)
        latencies.append(time.perf_counter() - started)
        n += 1


async def run(url, users, concurrency, duration, warmup, rate=0.0):
    interval = concurrency / rate if rate else 0.0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _phase, seconds in (("warmup", warmup), ("measure", duration)):
            latencies: list[float] = []
            errors: list[int] = []
            deadline = time.perf_counter() + seconds
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    client(session, url, *users[i % len(users)], deadline, latencies, errors, interval)
                    for i in range(concurrency)
                )
            )
            elapsed = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": round(elapsed, 2),
        "rate": round(len(latencies) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p95_ms": round(q[94] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", required=True, help="JSON file: [[user_id, token], ...]")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s in total (open loop); 0 = closed loop")
    args = parser.parse_args()
    with open(args.users) as f:
        users = json.load(f)
    print(json.dumps(asyncio.run(run(args.url, users, args.concurrency, args.duration, args.warmup, args.rate))))


if __name__ == "__main__":
    main()
