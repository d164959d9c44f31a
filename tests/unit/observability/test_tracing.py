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


def _served(app, path="/api/u/tasks", method="POST", headers=None, iterate=True, close=True):
    """Call `app` behind the request-span middleware as a WSGI server would: (status, body bytes)."""
    from werkzeug.test import EnvironBuilder

    from shared.observability import tracing

    environ = EnvironBuilder(
        path=path, method=method, headers=headers or {}, environ_base={"REMOTE_ADDR": "127.0.0.9"}
    ).get_environ()
    answered = []
    body = tracing._ServerSpans(app)(environ, lambda status, headers, *exc: answered.append(status))
    data = b"".join(body) if iterate else b""
    if close:
        getattr(body, "close", lambda: None)()
    return answered, data


def _app(status="201 CREATED", chunks=(b"{}",), closed=None):
    def app(environ, start_response):
        start_response(status, [("Content-Type", "application/json")])
        inside.append(trace.get_current_span().get_span_context().span_id)

        class Body:
            def __iter__(self):
                return iter(chunks)

            def close(self):
                if closed is not None:
                    closed.append(True)

        return Body()

    inside: list[int] = []
    app.inside = inside
    return app


def test_a_request_span_continues_the_callers_trace_and_carries_the_request_and_its_status(spans):
    caller = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    app = _app()
    spans.clear()
    status, data = _served(app, "/api/u/tasks?x=1", headers={"traceparent": caller, "User-Agent": "curl/8"})
    assert (status, data) == (["201 CREATED"], b"{}")
    [span] = spans.get_finished_spans()
    assert span.kind == trace.SpanKind.SERVER and span.name == "POST"
    assert f"{span.context.trace_id:032x}" == "ab" * 16 and span.parent.span_id == int("cd" * 8, 16)
    assert app.inside == [span.context.span_id], "the app runs inside the request span"
    assert dict(span.attributes) == {
        "http.method": "POST",
        "http.scheme": "http",
        "http.host": "localhost",
        "http.target": "/api/u/tasks?x=1",
        "http.flavor": "1.1",
        "net.peer.ip": "127.0.0.9",
        "http.user_agent": "curl/8",
        "http.status_code": 201,
    }
    assert span.status.status_code == trace.StatusCode.UNSET
    assert trace.get_current_span() is trace.INVALID_SPAN, "the request's context is let go"


def test_a_server_error_marks_the_span_and_a_credential_in_the_url_never_reaches_it(spans):
    spans.clear()
    _served(_app("500 INTERNAL SERVER ERROR"), "/ical/s3cret-feed-token.ics", method="GET")
    _served(_app("200 OK"), "/ws/user/u/tasks", method="GET")  # a socket's upgrade: no span at all
    _served(_app("200 OK"), "/health", method="GET")
    _served(_app("200 OK"), "/api/u/tasks", method="GET", headers={"X-Anything": "1"})
    error, listed = spans.get_finished_spans()
    assert error.status.status_code == trace.StatusCode.ERROR and error.attributes["http.status_code"] == 500
    assert error.attributes["http.target"] == "/ical/<token>.ics"
    assert "s3cret" not in str(dict(error.attributes)) and "s3cret" not in error.name
    assert listed.attributes["http.status_code"] == 200


def test_the_span_ends_once_whether_the_server_reads_the_body_closes_it_or_both(spans):
    for iterate, close in ((True, False), (False, True), (True, True)):
        closed: list[bool] = []
        spans.clear()
        _served(_app(closed=closed), iterate=iterate, close=close)
        assert len(spans.get_finished_spans()) == 1, (iterate, close)
        assert closed == ([True] if close else []), "the body is closed when the server closes it"
        assert trace.get_current_span() is trace.INVALID_SPAN


def test_a_strange_method_never_names_a_span_and_a_body_that_fails_midway_marks_it(spans):
    import pytest

    spans.clear()
    _served(_app("405 METHOD NOT ALLOWED"), method="FOOé")
    [strange] = spans.get_finished_spans()
    assert strange.name == "HTTP" and strange.attributes["http.method"] == "_OTHER"

    def failing(environ, start_response):
        start_response("200 OK", [])

        def body():
            yield b"first"
            raise RuntimeError("the disk went away")

        return body()

    spans.clear()
    with pytest.raises(RuntimeError):
        _served(failing, method="GET")
    [failed] = spans.get_finished_spans()
    assert failed.status.status_code == trace.StatusCode.ERROR and "the disk went away" in failed.status.description
    assert trace.get_current_span() is trace.INVALID_SPAN


def test_the_callers_baggage_stays_in_the_requests_context(spans):
    from opentelemetry import baggage

    seen = []

    def app(environ, start_response):
        seen.append(baggage.get_baggage("tenant"))
        start_response("200 OK", [])
        return [b""]

    caller = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
    _served(app, method="GET", headers={"traceparent": caller, "baggage": "tenant=acme"})
    assert seen == ["acme"]
