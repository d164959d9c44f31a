"""WebSocket client swarm (its own process): hold N sockets, record event receipt latency.

Prints one JSON line when done: opened, still_open, and latency percentiles (receipt time minus
the event's timestamp, the moment the API wrote it)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import resource
import statistics
import time

import aiohttp


async def hold(session, url, latencies, state, stop, sockets):
    try:
        async with session.ws_connect(url, heartbeat=None, autoping=True, max_msg_size=0) as ws:
            state["open"] += 1
            sockets.append(ws)
            async for msg in ws:  # ends when the socket closes (we close them all at the end)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                body = json.loads(msg.data)
                if body.get("type") == "task.created":
                    sent = dt.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00")).timestamp()
                    latencies.append((time.time() - sent) * 1000)
            if not stop.is_set():
                state["closed_early"] += 1
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        state["failed"] += 1
        state.setdefault("errors", set()).add(type(exc).__name__)


async def main(urls, seconds, ramp):
    latencies: list[float] = []
    state = {"open": 0, "failed": 0, "closed_early": 0}
    stop = asyncio.Event()
    sockets: list = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        tasks = []
        for i, url in enumerate(urls):
            tasks.append(asyncio.create_task(hold(session, url, latencies, state, stop, sockets)))
            if i % 200 == 199:
                await asyncio.sleep(ramp)
        deadline = time.monotonic() + 120
        while state["open"] + state["failed"] < len(urls) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        print(json.dumps({"phase": "connected", "open": state["open"], "failed": state["failed"]}), flush=True)
        await asyncio.sleep(seconds)
        still_open = state["open"] - state["closed_early"]
        stop.set()
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "opened": state["open"],
        "failed": state["failed"],
        "still_open": still_open,
        "errors": sorted(state.get("errors", ())),
        "received": len(latencies),
    }
    if len(latencies) >= 2:
        q = statistics.quantiles(latencies, n=100)
        result.update(p50_ms=round(q[49], 1), p95_ms=round(q[94], 1), p99_ms=round(q[98], 1))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", required=True, help="file with one ws:// URL per line")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--ramp", type=float, default=0.05)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(args.urls) as f:
        asyncio.run(main([line.strip() for line in f if line.strip()], args.seconds, args.ramp))
