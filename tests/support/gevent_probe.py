"""Probe gevent's loop from a fresh monkey-patched interpreter, as the gunicorn gevent worker runs the app.

A ticker greenlet sleeps 5 ms at a time. A call that waits cooperatively lets it tick meanwhile; a call
that blocks the loop leaves its count where it was. That count, and the order in which concurrent calls
start and end, are what the tests assert (tests/integration/concurrency/test_cooperative.py); the gaps
and elapsed times are what tests/bench/bench_core.py reports, on a machine quiet enough to mean something.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.support.paths import ROOT

PRELUDE = """
from gevent import monkey
monkey.patch_all()
import json, time, gevent

TICKS = [0]

def ticker(gaps, stop):
    last = time.perf_counter()
    while not stop[0]:
        gevent.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        TICKS[0] += 1
        last = now

def ticked(call, *args, **kwargs):
    # Run call(*args, **kwargs): its result, and how often the loop ticked meanwhile (0: it never yielded).
    before = TICKS[0]
    result = call(*args, **kwargs)
    return result, TICKS[0] - before

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

#: Five 0.5 s queries at once (PG_URL): the order they started and ended in, the ticks during each.
FIVE_QUERIES = """
    import sqlalchemy as sa
    from shared.persistence.db import make_engine
    engine = make_engine(PG_URL)
    order = []
    def sleep_in_db(i):
        order.append(["start", i])
        with engine.connect() as conn:
            _, ticks = ticked(conn.execute, sa.text("SELECT pg_sleep(0.5)"))
        order.append(["end", i])
        return ticks
    def five_at_once():
        jobs = [gevent.spawn(sleep_in_db, i) for i in range(5)]
        gevent.joinall(jobs, raise_error=True)
        return {"order": order, "ticks": [job.value for job in jobs]}
    print(json.dumps(while_ticking(five_at_once)))
"""

#: One 1.5 s poll of an empty topic (BOOTSTRAP): the ticks during it.
EMPTY_POLL = """
    from kafka import KafkaConsumer
    def poll_an_empty_topic():
        consumer = KafkaConsumer("coop-empty", bootstrap_servers=BOOTSTRAP, group_id=None,
                                 consumer_timeout_ms=1000, fetch_max_wait_ms=500)
        _, ticks = ticked(consumer.poll, timeout_ms=1500)
        consumer.close()
        return ticks
    print(json.dumps(while_ticking(poll_an_empty_topic)))
"""

#: Four argon2 hashes at once: the ticks during each, and whether the first verifies.
HASH_FOUR = """
    from shared.services.credentials import hash_password, verify_password
    def hash_four():
        jobs = [gevent.spawn(ticked, hash_password, f"password {i}") for i in range(4)]
        gevent.joinall(jobs, raise_error=True)
        return {"verified": verify_password(jobs[0].value[0], "password 0"), "ticks": [j.value[1] for j in jobs]}
    print(json.dumps(while_ticking(hash_four)))
"""

#: Eight refusals of a rule that never occurs (each spends the expansion's CPU budget): the ticks during each.
EIGHT_RULES = """
    import datetime as dt
    from functions.tasks.core import tasks
    def refuse_a_rule_that_never_occurs():
        try:
            tasks.parse_task_rule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "UTC", None,
                                      dt.datetime.now(dt.timezone.utc))
        except Exception as exc:
            return type(exc).__name__
    def eight_at_once():
        jobs = [gevent.spawn(ticked, refuse_a_rule_that_never_occurs) for _ in range(8)]
        gevent.joinall(jobs, raise_error=True)
        return {"refused": [j.value[0] for j in jobs], "ticks": [j.value[1] for j in jobs]}
    print(json.dumps(while_ticking(eight_at_once)))
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
