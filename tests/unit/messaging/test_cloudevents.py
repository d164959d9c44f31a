"""A Kafka record's CloudEvent: JSON nested deeper than the parser's recursion limit is malformed.

A RecursionError escaping the parsing made a poison record the consumer re-read for ever; malformed,
it is dead-lettered.
"""

from __future__ import annotations

import pytest

from shared.domain.events import MalformedEvent
from shared.messaging.cloudevents import event_from_record

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_deeply_nested_kafka_record_is_malformed_so_it_is_dead_lettered():
    names = ("ce_specversion", "ce_id", "ce_type", "ce_source")
    ce_headers = [(n, b"1.0" if n == "ce_specversion" else b"x") for n in names]
    for headers in ([], ce_headers):
        with pytest.raises(MalformedEvent):
            event_from_record(headers, b"user", DEEP)
