"""/metrics of the combined app is whole: every gunicorn worker's counts, whichever worker answers.

The container's entrypoint at WEB_CONCURRENCY=2 (gevent workers, the leader lease, the metrics
directory gunicorn's master makes). Which worker did what is read from the per-process files
prometheus_client writes there, one worker's files at a time.
"""

from __future__ import annotations

import collections
import math
import os
import pathlib
import re
import shutil
import signal
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import websocket
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support.net import wait_until
from tests.support.process import ServerProcess

JWT_SECRET = "m" * 40
HEALTH = ("taskflow_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))
METRICS = ("taskflow_http_requests_total", (("method", "GET"), ("route", "/metrics"), ("status", "200")))
SOCKETS = ("taskflow_websocket_connections", ())
LEADER = ("taskflow_leader", ())
LAG = ("taskflow_consumer_lag_events", (("consumer", "audit"),))

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(families) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def per_worker(directory: pathlib.Path) -> dict[int, Samples]:
    """Each worker's own values: its files alone, merged by prometheus_client as /metrics merges all."""
    files = collections.defaultdict(list)
    for path in directory.glob("*.db"):
        files[int(re.search(r"_(\d+)\.db$", path.name)[1])].append(path)
    workers = {}
    for pid, paths in files.items():
        with tempfile.TemporaryDirectory() as alone:
            for path in paths:
                try:
                    shutil.copy(path, alone)
                except FileNotFoundError:  # a dead worker's live gauges just went
                    continue
            workers[pid] = samples(MultiProcessCollector(None, alone).collect())
    return workers


def scrape(server: ServerProcess, directory: pathlib.Path) -> tuple[int, Samples]:
    """GET /metrics once; return the worker that answered (its /metrics count went up) and the values."""
    before = {pid: s.get(METRICS, 0) for pid, s in per_worker(directory).items()}
    text = requests.get(server.url + "/metrics", timeout=10).text
    after = {pid: s.get(METRICS, 0) for pid, s in per_worker(directory).items()}
    [answered] = [pid for pid in after if after[pid] > before.get(pid, 0)]
    return answered, samples(text_string_to_metric_families(text))


def scrape_each_worker(server: ServerProcess, directory: pathlib.Path, workers: set[int]) -> dict[int, Samples]:
    """Scrape until every one of `workers` has answered at least once (new connections spread over them)."""
    answers: dict[int, Samples] = {}
    for _ in range(60):
        pid, values = scrape(server, directory)
        answers[pid] = values
        if workers <= answers.keys():
            return answers
    raise AssertionError(f"workers {workers - answers.keys()} never answered /metrics")


@pytest.fixture(params=["local", "kafka"])
def transport(request):
    """The in-process stream (lag and parked rows read from the database by any worker), or Kafka
    (the groups' lag read from the broker by any worker)."""
    if request.param == "local":
        yield {}
        return
    from tests.support.broker import Tansu

    tansu = Tansu().start()  # its own: the session broker may still be rebalancing killed groups
    yield {"KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap}
    tansu.stop()


def test_metrics_count_every_worker_and_a_killed_workers_gauges_go(db_url, tmp_path, transport):
    server = ServerProcess.entrypoint(
        DATABASE_URL=db_url,
        ENVIRONMENT="production",
        JWT_SECRET=JWT_SECRET,
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        **transport,
    )
    server.start()
    kafka = bool(transport)
    if kafka:  # each worker reads the audit group's lag from the broker (NaN until its first read)
        wait_until(
            lambda: all(
                samples(text_string_to_metric_families(requests.get(server.url + "/metrics", timeout=10).text)).get(
                    LAG, math.nan
                )
                == 0
                for _ in range(4)
            ),
            timeout=30,
            message="the audit group's lag read from the broker",
        )
    sockets = []
    try:
        [directory] = tmp_path.iterdir()  # the master's fresh private directory for this run
        assert directory.stat().st_mode & 0o777 == 0o700

        # N requests on new connections, concurrently: the two workers race to accept them.
        def health(_: int) -> int:
            return requests.get(server.url + "/health", timeout=10).status_code

        sent, served = 0, {}
        with ThreadPoolExecutor(8) as pool:
            while sent < 400 and len([n for n in served.values() if n > 0]) < 2:
                assert set(pool.map(health, range(40))) == {200}
                sent += 40
                served = {pid: s.get(HEALTH, 0) for pid, s in per_worker(directory).items()}
        workers = {pid for pid, n in served.items() if n > 0}
        assert len(workers) == 2, f"one worker served every request: {served}"
        assert sum(served.values()) == sent

        # Sockets until both workers hold some.
        signup = requests.post(
            server.url + "/api/auth/register", json={"email": "ops@example.com", "password": "pw-ops-123"}, timeout=10
        ).json()
        url = f"ws://127.0.0.1:{server.port}/ws/user/{signup['user_id']}/tasks?token={signup['token']}"

        def held() -> dict[int, float]:
            return {pid: s.get(SOCKETS, 0) for pid, s in per_worker(directory).items() if pid in workers}

        while len(sockets) < 40 and not all(held().get(pid, 0) > 0 for pid in workers):
            sockets.append(websocket.create_connection(url, timeout=5))
            wait_until(lambda: sum(held().values()) == len(sockets), timeout=30, message="the socket is counted")
        assert all(n > 0 for n in held().values()), held()

        leaders = [pid for pid, s in per_worker(directory).items() if s.get(LEADER) == 1]
        assert len(leaders) == 1 and leaders[0] in workers

        # Whichever worker answers: every request, every socket, and the leader's gauges.
        for pid, values in scrape_each_worker(server, directory, workers).items():
            assert values[HEALTH] == sent, f"worker {pid} reports {values[HEALTH]} of {sent} requests"
            assert values[SOCKETS] == len(sockets), f"worker {pid} reports {values[SOCKETS]} of {len(sockets)} sockets"
            assert values[LEADER] == 1, f"worker {pid}"
            assert ("taskflow_outbox_oldest_pending_age_seconds", ()) in values
            assert LAG in values, f"worker {pid}"
            if kafka:  # parked records go to <topic>.dlq; the leader counts them
                assert ("taskflow_consumer_dead_lettered_total", (("consumer", "audit"),)) in values
            else:
                assert ("taskflow_consumer_dead_letters", (("consumer", "audit"),)) in values
            assert not any("pid" in dict(labels) for _, labels in values), "no per-process series"

        # SIGKILL the leader: its sockets and leadership leave the gauges; its requests stay counted.
        [killed] = leaders
        survivor_sockets = held()[next(iter(workers - {killed}))]
        os.kill(killed, signal.SIGKILL)

        def after_kill() -> Samples:
            return samples(text_string_to_metric_families(requests.get(server.url + "/metrics", timeout=10).text))

        wait_until(
            lambda: (v := after_kill())[SOCKETS] == survivor_sockets and v[LEADER] == 1,
            timeout=30,
            message="the killed worker's sockets gone from the gauge and a live worker leading",
        )
        assert after_kill()[HEALTH] == sent
        # gunicorn's replacement worker has built its app (a worker still booting slows the shutdown).
        wait_until(
            lambda: any(SOCKETS in v for pid, v in per_worker(directory).items() if pid not in workers),
            timeout=30,
            message="the replacement worker is up",
        )
        assert not any(f"_{killed}.db" in p.name and "live" in p.name for p in directory.iterdir())
    except BaseException:
        print("".join(server.output)[-10000:])  # the workers' tracebacks, shown with the failure
        raise
    finally:
        for ws in sockets:
            ws.close()
        server.stop()
    log = "".join(server.output)[-6000:]
    assert not directory.exists(), f"the master removes its metrics directory on exit:\n{log}"
