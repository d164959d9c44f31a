"""Under gevent's monkey patching (the gunicorn gevent worker), blocking calls yield to other greenlets.

Each check runs in a fresh interpreter that patches first, exactly as the worker does, then
imports the app's modules: psycopg, kafka-python and the Dapr gRPC client wait cooperatively, and
CPU-heavy calls go to the bounded pool of real threads instead of stalling the loop.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import JWT_SECRET
from tests.support.paths import ROOT

PRELUDE = """
from gevent import monkey
monkey.patch_all()
import json, time, gevent

def ticker(gaps, stop):
    last = time.perf_counter()
    while not stop[0]:
        gevent.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now

def while_ticking(work):
    gaps, stop = [], [False]
    tick = gevent.spawn(ticker, gaps, stop)
    gevent.sleep(0.02)
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    stop[0] = True
    tick.join()
    return {"elapsed": elapsed, "max_gap": max(gaps), "ticks": len(gaps), "result": result}

def with_the_pool():  # bounded as the runtime bounds it (CPU_THREADS, default 2), not gevent's default 10
    import shared.concurrency.offload
    shared.concurrency.offload.bound(2)

def without_the_pool():  # the same calls made straight on the loop: the measure must tell the two apart
    import shared.concurrency.offload
    shared.concurrency.offload._pool = lambda: None
"""


def run_patched(body: str, direct: bool = False, **constants: object) -> dict:
    """Run `body` in a fresh patched interpreter, with `constants` defined as globals (`direct`: no CPU pool)."""
    return run_patched_with_stderr(body, direct, **constants)[0]


def run_patched_with_stderr(body: str, direct: bool = False, **constants: object) -> tuple[dict, str]:
    """As run_patched, with what the interpreter wrote to stderr."""
    script = (
        PRELUDE
        + ("without_the_pool()\n" if direct else "")
        + "".join(f"{name} = {value!r}\n" for name, value in constants.items())
        + textwrap.dedent(body)
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_psycopg_queries_wait_cooperatively(pg_url):
    result = run_patched(
        """
        import sqlalchemy as sa
        from shared.persistence.db import make_engine
        engine = make_engine(PG_URL)
        def sleep_in_db():
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_sleep(0.5)"))
        def five_at_once():
            gevent.joinall([gevent.spawn(sleep_in_db) for _ in range(5)], raise_error=True)
        print(json.dumps(while_ticking(five_at_once)))
    """,
        PG_URL=pg_url,
    )
    assert result["elapsed"] < 1.5, f"five 0.5 s queries ran one after another: {result}"
    assert result["max_gap"] < 0.2, f"the loop stalled while the database worked: {result}"


def test_kafka_poll_waits_cooperatively(broker):
    result = run_patched(
        """
        from kafka import KafkaConsumer
        def poll_an_empty_topic():
            consumer = KafkaConsumer("coop-empty", bootstrap_servers=BOOTSTRAP, group_id=None,
                                     consumer_timeout_ms=1000, fetch_max_wait_ms=500)
            consumer.poll(timeout_ms=1500)
            consumer.close()
        print(json.dumps(while_ticking(poll_an_empty_topic)))
    """,
        BOOTSTRAP=broker.bootstrap,
    )
    assert result["elapsed"] >= 1.0 and result["max_gap"] < 0.2, result


HASH_FOUR = """
        from shared.services.credentials import hash_password, verify_password
        def hash_four():
            jobs = [gevent.spawn(hash_password, f"password {i}") for i in range(4)]
            gevent.joinall(jobs, raise_error=True)
            return verify_password(jobs[0].value, "password 0")
        print(json.dumps(while_ticking(hash_four)))
    """


def test_password_hashing_runs_on_the_thread_pool_not_the_loop():
    result, direct = run_patched(HASH_FOUR), run_patched(HASH_FOUR, direct=True)
    assert result["result"] is True and direct["result"] is True
    # On the loop the four calls stall it for their whole run; on the pool the loop keeps ticking
    # (a busy machine preempting the process still makes gaps, hence the ratio to the same run's floor).
    assert result["max_gap"] < min(0.25, direct["max_gap"] / 2), f"on the pool {result}, on the loop {direct}"


def test_the_dapr_grpc_client_publishes_under_gevent(broker):
    """DaprClient.publish_event through the in-test sidecar, from a patched interpreter."""
    from tests.support.fake_dapr import FakeDapr

    with FakeDapr(broker.bootstrap) as sidecar:
        result = run_patched(
            """
            from shared.settings import Settings
            from shared.messaging.transports import DaprTransport, cooperative_grpc
            settings = Settings(use_dapr=True, dapr_http_port=HTTP_PORT, dapr_grpc_port=GRPC_PORT, jwt_secret=SECRET)
            transport = DaprTransport(settings)
            def publish():
                message = ("tasks.events", {"event_id": "e1", "event_type": "task.created", "user_id": "u",
                                            "aggregate_id": "a", "data": {}}, None)
                return transport.publish([message] * 3)
            outcome = while_ticking(publish)
            outcome["grpc_on_gevent"] = cooperative_grpc()
            transport.close()
            print(json.dumps(outcome))
        """,
            HTTP_PORT=sidecar.http_port,
            GRPC_PORT=sidecar.grpc_port,
            SECRET=JWT_SECRET,
        )
    assert result["result"] == 3 and result["grpc_on_gevent"] is True, result


EIGHT_RULES = """
        import datetime as dt
        from functions.tasks.core import series
        def refuse_a_rule_that_never_occurs():
            try:
                series.parse_task_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC", None,
                                          dt.datetime.now(dt.timezone.utc))
            except Exception as exc:
                return type(exc).__name__
        def eight_at_once():
            jobs = [gevent.spawn(refuse_a_rule_that_never_occurs) for _ in range(8)]
            gevent.joinall(jobs, raise_error=True)
            return [job.value for job in jobs]
        print(json.dumps(while_ticking(eight_at_once)))
    """


def test_recurrence_expansion_runs_on_the_thread_pool_not_the_loop():
    result, direct = run_patched(EIGHT_RULES), run_patched(EIGHT_RULES, direct=True)
    assert result["result"] == direct["result"] == ["ValidationFailed"] * 8, result
    assert result["max_gap"] < min(0.25, direct["max_gap"] / 2), f"on the pool {result}, on the loop {direct}"


def test_an_error_raised_on_the_pool_reaches_the_caller_without_a_traceback_on_stderr():
    """A bad rule is a 422, not a log line: gevent prints exceptions raised in pool threads."""
    caught, stderr = run_patched_with_stderr(
        """
        with_the_pool()
        from shared.concurrency.offload import offload, offload_native
        from shared.domain.recurrence import parse_rule
        caught = []
        for run in (offload, offload_native):
            try:
                run(parse_rule, "FREQ=SOMETIMES", "UTC")
            except Exception as exc:
                caught.append((type(exc).__name__, exc.__traceback__ is not None))
        print(json.dumps(caught))
        """
    )
    assert len(caught) == 2 and all(has_traceback for _, has_traceback in caught), caught
    assert "Traceback" not in stderr, stderr[-2000:]
