"""Socket pumps on a busy gevent worker: queued -> sent latency and CPU per message (issue 27, part 3).

One gevent process: `--sockets` pumps (`functions.fanout.pump`) over `--users` users, each writing to a
real socket pair the frames the hub made once per event (wsproto); `--busy` greenlets stand for requests
(CPU in 2 ms slices); events are broadcast at `--rate`/s for `--seconds`.

    .venv/bin/python tests/bench/bench_pump.py [--sockets 1000] [--users 50] [--rate 200] [--busy 8]
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wsproto import ConnectionType  # noqa: E402
from wsproto.connection import Connection as WsConnection  # noqa: E402

from functions.fanout import pump  # noqa: E402
from functions.fanout.hub import Hub, RecentIds  # noqa: E402
from shared.domain.events import Event  # noqa: E402

LATENCIES: list[float] = []
WRITES = [0]


def queued_times(data: bytes) -> list[float]:
    """The `t` (when it was queued) of each text frame in one write (server frames: unmasked)."""
    times, i = [], 0
    while i < len(data):
        length, i = data[i + 1] & 0x7F, i + 2
        if length == 126:
            length, i = int.from_bytes(data[i : i + 2], "big"), i + 2
        elif length == 127:
            length, i = int.from_bytes(data[i : i + 8], "big"), i + 8
        times.append(json.loads(data[i : i + length])["data"]["t"])
        i += length
    return times


class Sock:
    """One end of a socket pair; a write records the latency of every message it carries."""

    def __init__(self, end: socket.socket):
        self._end = end

    def sendall(self, data: bytes) -> None:
        sent = queued_times(data)
        self._end.sendall(data)
        WRITES[0] += 1
        now = time.perf_counter()
        LATENCIES.extend(now - t for t in sent)

    send = sendall


class FakeWs:
    """The parts of simple-websocket's Server that the pump uses."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        self._theirs = theirs
        self._frames = WsConnection(ConnectionType.SERVER)
        self.sock = Sock(ours)
        self.connected = True
        gevent.spawn(self._drain)

    def _drain(self) -> None:
        while self._theirs.recv(65536):
            pass

    def send(self, message: str) -> None:
        from wsproto.events import TextMessage

        self.sock.sendall(self._frames.send(TextMessage(data=message)))

    def receive(self, timeout=None):  # type: ignore[no-untyped-def]
        gevent.sleep(3600)

    def close(self, reason=None, message=None) -> None:  # type: ignore[no-untyped-def]
        self.connected = False


def busy(stop: list[bool]) -> None:
    """A request's worth of CPU in 2 ms slices, yielding between them, until told to stop."""
    while not stop[0]:
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass
        gevent.sleep(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--busy", type=int, default=8)
    args = parser.parse_args()
    hub = Hub(max_queue=4096)
    users = [f"user-{i}" for i in range(args.users)]
    for i in range(args.sockets):
        conn = hub.connect(users[i % args.users])
        gevent.spawn(pump, FakeWs(), conn, RecentIds(), 3600.0)
    gevent.sleep(0.5)
    stop = [False]
    hogs = [gevent.spawn(busy, stop) for _ in range(args.busy)]
    cpu = time.process_time()
    sent = 0
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        events = [
            Event("task.created", users[(sent + k) % args.users], None, {"t": time.perf_counter()})
            for k in range(max(1, int(args.rate / 50)))
        ]
        hub.broadcast(events)
        sent += len(events)
        gevent.sleep(0.02)
    gevent.sleep(1.0)
    stop[0] = True
    gevent.joinall(hogs)
    cpu = time.process_time() - cpu
    q = statistics.quantiles(LATENCIES, n=100) if len(LATENCIES) > 2 else [0.0] * 99
    print(
        json.dumps(
            {
                "events": sent,
                "messages": len(LATENCIES),
                "queued_to_sent_p50_ms": round(q[49] * 1000, 1),
                "queued_to_sent_p95_ms": round(q[94] * 1000, 1),
                "writes_per_message": round(WRITES[0] / max(1, len(LATENCIES)), 3),
                "cpu_us_per_message": round(cpu * 1e6 / max(1, len(LATENCIES)), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
