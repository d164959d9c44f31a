"""Under gevent's monkey patching (the gunicorn gevent worker), blocking calls yield to other greenlets.

Each check runs in a fresh interpreter that patches first, exactly as the worker does, then
imports the app's modules: psycopg, kafka-python and the Dapr gRPC client wait cooperatively, and
CPU-heavy calls go to the bounded pool of real threads instead of stalling the loop. What is asserted
is whether the loop ran while a call worked (a ticker greenlet's count moved) and in which order
concurrent calls started and ended; how long the loop stalls is a row of tests/bench/bench_core.py.
"""

from __future__ import annotations

from tests.conftest import JWT_SECRET
from tests.support.gevent_probe import (
    EIGHT_RULES,
    EMPTY_POLL,
    FIVE_QUERIES,
    HASH_FOUR,
    run_patched,
    run_patched_with_stderr,
)


def test_psycopg_queries_wait_cooperatively(pg_url):
    result = run_patched(FIVE_QUERIES, PG_URL=pg_url)["result"]
    first_end = [what for what, _ in result["order"]].index("end")
    assert first_end == 5, f"the five 0.5 s queries ran at once, not one after another: {result['order']}"
    assert all(ticks > 0 for ticks in result["ticks"]), f"the loop kept running while the database worked: {result}"


def test_kafka_poll_waits_cooperatively(broker):
    result = run_patched(EMPTY_POLL, BOOTSTRAP=broker.bootstrap)
    assert result["elapsed"] >= 1.0, f"the poll waited for records: {result}"
    assert result["result"] > 0, f"the loop kept running while the poll waited: {result}"


def test_password_hashing_runs_on_the_thread_pool_not_the_loop():
    result, direct = run_patched(HASH_FOUR)["result"], run_patched(HASH_FOUR, direct=True)["result"]
    assert result["verified"] is True and direct["verified"] is True
    # On the loop each hash stalls it for its whole run (the ticker never moves: the probe tells the two
    # apart); on the pool the loop keeps ticking while each one runs.
    assert direct["ticks"] == [0] * 4, f"on the loop {direct}"
    assert all(ticks > 0 for ticks in result["ticks"]), f"on the pool {result}"


def test_the_dapr_grpc_client_publishes_under_gevent(broker):
    """DaprClient.publish_event through the in-test sidecar, from a patched interpreter."""
    from tests.support.fake_dapr import FakeDapr

    with FakeDapr(broker.bootstrap) as sidecar:
        result = run_patched(
            """
            from shared.settings import Settings
            from shared.messaging.cloudevents import Outgoing
            from shared.messaging.transports import DaprTransport, cooperative_grpc
            settings = Settings(use_dapr=True, dapr_http_port=HTTP_PORT, dapr_grpc_port=GRPC_PORT, jwt_secret=SECRET)
            transport = DaprTransport(settings)
            def publish():
                message = Outgoing.of("tasks.events", {"event_id": "e1", "event_type": "task.created", "user_id": "u",
                                                       "aggregate_id": "a", "timestamp": "2026-01-01T00:00:00Z",
                                                       "data": {}})
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


def test_recurrence_expansion_runs_on_the_thread_pool_not_the_loop():
    result, direct = run_patched(EIGHT_RULES)["result"], run_patched(EIGHT_RULES, direct=True)["result"]
    assert result["refused"] == direct["refused"] == ["ValidationFailed"] * 8, result
    assert direct["ticks"] == [0] * 8, f"on the loop {direct}"
    assert all(ticks > 0 for ticks in result["ticks"]), f"on the pool {result}"


def test_an_error_raised_on_the_pool_reaches_the_caller_without_a_traceback_on_stderr():
    """A bad rule is a 422, not a log line: gevent prints exceptions raised in pool threads."""
    caught, stderr = run_patched_with_stderr(
        """
        with_the_pool()
        from shared.concurrency.offload import offload, offload_native
        from shared.domain.rule_parsing import parse_rule
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
