"""Many WebSockets at once from one process (aiohttp), with API calls made (and timed) while they are open."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import time

import aiohttp


@dataclasses.dataclass
class SwarmResult:
    opened: int
    failed: int
    #: per socket: the `data.id` of every task.created it received, in order
    received: list[list[str]]
    created: list[str]
    create_ms: list[float]

    @property
    def create_p95_ms(self) -> float:
        return statistics.quantiles(self.create_ms, n=20)[18] if len(self.create_ms) >= 2 else self.create_ms[0]


async def _swarm(ws_urls: list[str], api_url: str, token: str, changes: int, settle: float) -> SwarmResult:
    received: list[list[str]] = [[] for _ in ws_urls]
    opened = failed = 0
    connected = asyncio.Event()
    done = asyncio.Event()

    async def hold(i: int, session: aiohttp.ClientSession, url: str) -> None:
        nonlocal opened, failed
        try:
            async with session.ws_connect(url, heartbeat=None, autoping=True) as ws:
                # Open is not yet registered: the server answers "pong" only once the socket is in its
                # worker's hub (the pump runs), so from then on no change can pass it by.
                await ws.send_str("ping")
                while (reply := await asyncio.wait_for(ws.receive(), timeout=120)).type == aiohttp.WSMsgType.TEXT:
                    if reply.data == "pong":
                        break
                else:
                    failed += 1
                    if opened + failed == len(ws_urls):
                        connected.set()
                    return
                opened += 1
                if opened + failed == len(ws_urls):
                    connected.set()
                while not done.is_set():
                    try:
                        msg = await asyncio.wait_for(ws.receive(), timeout=0.5)
                    except TimeoutError:
                        continue
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        return
                    body = json.loads(msg.data)
                    if body.get("type") == "task.created":
                        received[i].append(body["data"]["id"])
        except (aiohttp.ClientError, OSError):
            failed += 1
            if opened + failed == len(ws_urls):
                connected.set()

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        holders = [asyncio.create_task(hold(i, session, url)) for i, url in enumerate(ws_urls)]
        await asyncio.wait_for(connected.wait(), timeout=120)
        created, create_ms = [], []
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(changes):
            started = time.perf_counter()
            async with session.post(api_url, json={"title": f"change {n}"}, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
                created.append((await resp.json())["id"])
            create_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and not all(len(r) >= changes for r in received[:opened]):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # room for a duplicate to show up
        done.set()
        await asyncio.gather(*holders, return_exceptions=True)
    return SwarmResult(opened, failed, received, created, create_ms)


def run_swarm(ws_urls: list[str], api_url: str, token: str, changes: int = 20, settle: float = 60.0) -> SwarmResult:
    """Open every socket, then create `changes` tasks one after another; collect what each socket saw.

    `settle` bounds the wait for every socket to have every change: it only catches a hang. The creates'
    times (`create_ms`) are for tests/bench/bench_fanout.py; the tests assert what each socket saw.
    """
    return asyncio.run(_swarm(ws_urls, api_url, token, changes, settle))
