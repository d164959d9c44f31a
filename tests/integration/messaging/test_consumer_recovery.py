"""Kafka consumers that recover and say so: a database outage pauses them without leaving the group,
a member left without partitions is made again, and the group's lag is read from the broker.

Real parts: the tansu broker, a throwaway PostgreSQL cluster of the test's own (stopped and started
at will; the shared server is never touched).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from kafka import KafkaConsumer, KafkaProducer
from kafka.coordinator.assignors.abstract import ConsumerProtocolAssignment
from kafka.coordinator.assignors.range import RangePartitionAssignor

from functions.audit import subscription
from shared.domain.events import Event
from shared.persistence.db import migrate
from shared.persistence.models import EventLog
from shared.runtime.process import Runtime
from shared.settings import Settings
from shared.triggers.kafka_loop import ConsumerLoop
from tests.conftest import JWT_SECRET, with_
from tests.support.net import wait_until


@pytest.fixture
def own_cluster():
    from tests.support.pg_cluster import ThrowawayCluster

    cluster = ThrowawayCluster().start()
    migrate(cluster.url)
    yield cluster
    cluster.destroy()


def runtime_on(url: str, broker) -> Runtime:
    return Runtime(
        Settings(
            database_url=url,
            jwt_secret=JWT_SECRET,
            kafka_bootstrap_servers=broker.bootstrap,
            run_background_workers=False,
        )
    )


def audit_loop(rt: Runtime, **options) -> ConsumerLoop:
    """The audit function's subscription in a group of the test's own."""
    group = f"audit-{uuid.uuid4().hex[:8]}"
    return ConsumerLoop(rt.settings, dataclasses.replace(subscription(rt), group=group), **options)


def publish(broker, user: str, count: int) -> list[str]:
    """`count` task.created envelopes of `user` straight onto tasks.events; their event ids."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    ids = []
    for i in range(count):
        event = Event(event_type="task.created", user_id=user, aggregate_id=str(uuid.uuid4()), data={"title": f"t{i}"})
        producer.send("tasks.events", key=user.encode(), value=json.dumps(event.to_dict()).encode())
        ids.append(event.event_id)
    producer.flush(10)
    producer.close()
    return ids


def audited(rt: Runtime, ids: list[str]) -> int:
    with rt.sessions() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(EventLog).where(EventLog.event_id.in_(ids))) or 0


def parked(broker, user: str) -> list[bytes]:
    """The records of `user` on the dead-letter topic (every test's records share the session's broker)."""
    reader = KafkaConsumer(
        "tasks.events.dlq",
        bootstrap_servers=broker.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return [record.value for record in reader if record.key == user.encode()]
    finally:
        reader.close()


def member_id(loop: ConsumerLoop) -> str:
    """The member id the broker gave this consumer (a rejoin gets a new one)."""
    return loop._consumer._coordinator._generation.member_id


def test_a_database_outage_pauses_the_consumer_keeps_its_membership_and_loses_nothing(own_cluster, broker):
    rt = runtime_on(own_cluster.url, broker)
    try:
        loop = rt.add_consumer(audit_loop(rt, outage_backoff_max=0.5))
        assert loop.ready.wait(30), "joined its group"
        user = f"outage-{uuid.uuid4().hex[:8]}"
        before = publish(broker, user, 20)
        wait_until(lambda: audited(rt, before) == 20, timeout=30, message="audited before the outage")
        consumer, member = loop._consumer, member_id(loop)

        own_cluster.stop()
        during = publish(broker, user, 50)
        wait_until(lambda: loop.paused >= 3, timeout=30, message="the consumer paused (and retried) on the outage")
        assert loop._consumer is consumer and member_id(loop) == member, "the same member: no leave, no rejoin"
        wait_until(lambda: rt.consumer_lag[loop.name] >= 50, timeout=45, message=f"the lag: {rt.consumer_lag}")

        own_cluster.start()
        wait_until(lambda: audited(rt, during) == 50, timeout=60, message="every event of the outage audited")
        assert loop._consumer is consumer and member_id(loop) == member, "kept its membership through the outage"
        # The broker is the session's: a fresh group also reads (and parks) other tests' poison records.
        assert loop.recreated == 0 and parked(broker, user) == [], (
            f"an outage is nobody's poison: {loop.last_dead_letter}"
        )
        wait_until(lambda: rt.consumer_lag[loop.name] == 0, timeout=30, message="the group's lag back to 0")
    finally:
        rt.close()


class Greedy(RangePartitionAssignor):
    """A group leader that keeps every partition to itself (named `range`, so the group agrees to it):
    the other members get nothing, as in a group stuck on a member the broker should have evicted."""

    @classmethod
    def assign(cls, cluster, members):
        assignment = super().assign(cluster, [m for m in members if m.member_id.startswith("squatter")])
        for member in members:
            assignment.setdefault(member.member_id, ConsumerProtocolAssignment(cls.version, [], b""))
        return assignment


def test_a_member_that_owns_no_partition_is_recreated_and_then_consumes(settings, broker):
    rt = Runtime(with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False))
    loop = audit_loop(rt, unassigned_limit=2.0)
    squatter = KafkaConsumer(
        "tasks.events",
        "reminders.events",
        bootstrap_servers=broker.bootstrap,
        group_id=loop.group,
        client_id="squatter",
        enable_auto_commit=False,
        partition_assignment_strategy=[Greedy],
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    leaving = threading.Event()

    def hold() -> None:
        while not leaving.is_set():
            squatter.poll(timeout_ms=100)
            if squatter.assignment():
                squatter.seek_to_end()  # reads nothing of its own: holds the partitions, no more
        squatter.close()

    holder = threading.Thread(target=hold, daemon=True)
    try:
        holder.start()
        wait_until(lambda: squatter.assignment(), timeout=30, message="the squatter owns the partitions")
        rt.add_consumer(loop)
        partitions = rt.metrics.partitions.labels(loop.name)
        wait_until(lambda: loop.recreated >= 1, timeout=60, message="the partitionless member made again")
        assert partitions._value.get() == 0 or loop.standalone, "it owned nothing, and said so"

        # The stuck member is still in the group: the new one consumes all the same.
        user = f"orphan-{uuid.uuid4().hex[:8]}"
        ids = publish(broker, user, 10)
        wait_until(lambda: audited(rt, ids) == 10, timeout=60, message="the recreated member consumes")
        assert loop.standalone and loop.recreated == 1, "made again once, not in a loop"
        assert partitions._value.get() == 8, "it owns both topics' partitions, and says so"
    finally:
        leaving.set()
        rt.close()


def test_group_lag_is_read_from_the_broker_in_a_process_that_does_not_consume(settings, broker):
    """A worker that is not the leader exports the group's lag too, and it grows while nobody consumes."""
    rt = Runtime(with_(settings, kafka_bootstrap_servers=broker.bootstrap, run_background_workers=False))
    try:
        loop = audit_loop(rt)
        rt._watch_group_lag(loop)  # watched, never started: the group has no member at all
        user = f"lag-{uuid.uuid4().hex[:8]}"
        seen = []

        def steady():
            seen.append(rt.consumer_lag[loop.name])
            return len(seen) > 2 and seen[-1] == seen[-2] == seen[-3]  # NaN until read, never equal

        wait_until(steady, interval=1.0, message="a steady reading")
        base = seen[-1]
        publish(broker, user, 25)
        wait_until(
            lambda: seen.append(rt.consumer_lag[loop.name]) or seen[-1] == base + 25,
            timeout=15,
            message="the lag counts the 25 that wait",
        )
        text = rt.metrics.exposition().decode()
        assert f'taskflow_consumer_lag_events{{consumer="audit"}} {base + 25:.1f}' in text
    finally:
        rt.close()


def test_tansu_lists_the_last_batch_not_the_end_and_the_lag_reader_reads_the_end_anyway(broker):
    """A broker fault, reproduced: ListOffsets(latest) answers the last record batch's base offset + 1.

    50 records sent in one batch read as an end offset 1 higher than before, where a fetch reports
    the true high watermark. A lag built on ListOffsets alone would read 1 where 50 wait; the lag
    reader fetches at the last record to read the true end.
    """
    from kafka import TopicPartition

    from shared.messaging.group_lag import GroupLagReader

    topic = f"quirk-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=50)
    producer.send(topic, b"first", partition=0).get(10)
    for i in range(50):
        producer.send(topic, f"r{i}".encode(), partition=0)
    producer.flush(10)
    producer.close()
    probe = KafkaConsumer(bootstrap_servers=broker.bootstrap, fetch_max_wait_ms=10)
    try:
        wait_until(lambda: probe.partitions_for_topic(topic), message="the topic is known")
        tp = TopicPartition(topic, 0)
        listed = probe.end_offsets([tp])[tp]
        probe.assign([tp])
        probe.seek(tp, 0)
        wait_until(lambda: probe.poll(timeout_ms=100) is not None and probe.highwater(tp), message="a fetch")
        assert probe.highwater(tp) == 51, "the fetch knows all 51 records"
        assert listed == 2, f"tansu lists the batch (base offset 1) + 1, not 51: {listed}"
    finally:
        probe.close()
    reader = GroupLagReader(Settings(kafka_bootstrap_servers=broker.bootstrap), {f"g-{topic}": [topic]})
    try:
        assert reader.read() == {f"g-{topic}": 51}
    finally:
        reader.close()
