"""Tracing a consumer's batch: a span per event under its own trace, one batch span linked to them all."""

from __future__ import annotations

from opentelemetry import trace


def test_a_batch_gets_a_span_per_event_under_its_own_trace_and_one_linked_batch_span_for_the_shared_work(spans):
    from shared.domain.events import Event
    from shared.observability import tracing

    parents = ["00-" + f"{i:032x}" + "-" + f"{i:016x}" + "-01" for i in (1, 2)]
    events = [
        Event(event_type="task.created", user_id="u", aggregate_id=None, data={}).with_traceparent(tp) for tp in parents
    ]
    spans.clear()
    with tracing.consuming("audit", "kafka", events) as handed:
        current = trace.get_current_span()
        assert [e.traceparent.split("-")[1] for e in handed] == [f"{i:032x}" for i in (1, 2)]
    per_event = [s for s in spans.get_finished_spans() if s.name == "process tasks.events"]
    assert sorted(s.parent.span_id for s in per_event) == [1, 2]
    [batch] = [s for s in spans.get_finished_spans() if s.name == "process audit batch"]
    assert current.get_span_context().span_id == batch.context.span_id, "SQL of the batch nests under it"
    assert {link.context.span_id for link in batch.links} == {s.context.span_id for s in per_event}
