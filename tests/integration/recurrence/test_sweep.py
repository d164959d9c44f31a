"""The recurrence sweep: each due occurrence spawned once, DST-correct, with its event; and its triggers
(the cron route, the Dapr gRPC binding, the combined app's timer)."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import grpc
import pytest
import sqlalchemy as sa
from dapr.proto.runtime.v1 import appcallback_pb2, appcallback_pb2_grpc

import functions.recurrence
from functions.combined import create_app as combined_app
from functions.recurrence import create_app, grpc_app
from functions.recurrence.sweep import spawn_due
from shared.persistence.models import Task
from shared.services import series as series_module
from tests.conftest import with_
from tests.support.net import free_port, wait_until
from tests.support.series import event_types, instances, make_series

UTC = dt.UTC
NY = zoneinfo.ZoneInfo("America/New_York")


def test_sweep_spawns_dst_correct_instances_with_copies_and_events(api):
    series = make_series(api, "FREQ=DAILY", dtstart="2026-03-07T09:00:00", tz="America/New_York")
    sid = series["id"]
    api.request("PUT", f"/api/{{me}}/tasks/{sid}", json={"description": "water them", "tags": ["home"]})
    api.request("POST", f"/api/{{me}}/tasks/{sid}/reminders", json={"remind_at": "2099-01-01T00:00:00Z"})
    with api.rt.sessions.begin() as s:  # a relative reminder on the series, copied to each instance
        from shared.persistence.models import Reminder

        s.add(
            Reminder(
                task_id=sid,
                user_id=api.user_id,
                remind_at=dt.datetime(2098, 1, 1, tzinfo=UTC),
                minutes_before=0,
                notified=False,
            )
        )
        s.add(
            Reminder(
                task_id=sid,
                user_id=api.user_id,
                remind_at=dt.datetime(2097, 1, 1, tzinfo=UTC),
                minutes_before=30,
                notified=False,
            )
        )
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=dt.datetime(2026, 3, 7, 14, tzinfo=UTC)))
    for day in (7, 8, 9):
        now = dt.datetime(2026, 3, day, 9, 0, 0, tzinfo=NY)
        assert spawn_due(api.rt, now=now) == 1
        assert spawn_due(api.rt, now=now) == 0, "a second sweep at the same moment spawns nothing"
    made = instances(api.rt, sid)
    assert [i.occurrence_at.astimezone(NY).strftime("%d %H:%M %z") for i in made] == [
        "07 09:00 -0500",
        "08 09:00 -0400",
        "09 09:00 -0400",
    ]
    assert all(i.title == "series" and i.description == "water them" and i.tags == ["home"] for i in made)
    assert all(i.due_date == i.occurrence_at for i in made)
    with api.rt.sessions() as s:
        copied = [(r.minutes_before, r.remind_at == i.due_date) for i in made for r in s.get(Task, i.id).reminders]
    # An instance spawns at its occurrence, when "30 minutes before" is already past: the series itself
    # rings its relative reminders before each occurrence (tests/integration/reminders/test_series_reminders.py),
    # so copies would only ring twice or late.
    assert copied == []
    spawned = event_types(api.rt, "recurring.spawned")
    assert [e["aggregate_id"] for e in spawned] == [i.id for i in made]
    assert all(e["data"]["series_id"] == sid and e["data"]["parent_id"] == sid for e in spawned)


def test_missed_occurrences_yield_one_instance_and_count_ends_the_series(api):
    series = make_series(api, "FREQ=DAILY;COUNT=3", dtstart="2026-01-01T08:00:00Z")
    sid = series["id"]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=dt.datetime(2026, 1, 1, 8, tzinfo=UTC)))
    # Down for two days: one instance for the backlog, then the series moves on past now.
    assert spawn_due(api.rt, now=dt.datetime(2026, 1, 2, 20, tzinfo=UTC)) == 1
    with api.rt.sessions() as s:
        assert s.get(Task, sid).next_occurrence == dt.datetime(2026, 1, 3, 8, tzinfo=UTC)
    assert spawn_due(api.rt, now=dt.datetime(2026, 1, 3, 8, tzinfo=UTC)) == 1
    with api.rt.sessions() as s:
        assert s.get(Task, sid).next_occurrence is None, "COUNT exhausted"
    assert len(instances(api.rt, sid)) == 2
    listed = api.request("GET", "/api/{me}/tasks/recurring").json()["items"]
    assert listed == [
        {
            "id": sid,
            "title": "series",
            "recurrence_rule": "FREQ=DAILY;COUNT=3",
            "timezone": "UTC",
            "repeat_from": "schedule",
            "next_occurrence": None,
        }
    ]


def test_two_concurrent_sweeps_spawn_each_occurrence_once(api):
    due_at = dt.datetime(2026, 5, 1, 12, tzinfo=UTC)
    ids = [make_series(api, "FREQ=DAILY", dtstart="2026-05-01T12:00:00Z", title=f"s{i}")["id"] for i in range(120)]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id.in_(ids)).values(next_occurrence=due_at))
    results, barrier = [], threading.Barrier(2)

    def sweep():
        barrier.wait()
        results.append(spawn_due(api.rt, now=due_at + dt.timedelta(minutes=1), batch_size=25))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(results) == 120
    with api.rt.sessions() as s:
        per_series = s.execute(
            sa.select(Task.parent_id, sa.func.count()).where(Task.parent_id.in_(ids)).group_by(Task.parent_id)
        ).all()
    assert len(per_series) == 120 and all(n == 1 for _, n in per_series)
    assert len(event_types(api.rt, "recurring.spawned")) == 120


def test_a_sweep_failing_halfway_rolls_back_instances_and_events_together(api, monkeypatch):
    due_at = dt.datetime(2026, 6, 1, 12, tzinfo=UTC)
    ids = [make_series(api, "FREQ=WEEKLY", dtstart="2026-06-01T12:00:00Z", title=f"f{i}")["id"] for i in range(6)]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id.in_(ids)).values(next_occurrence=due_at))
    real, calls = series_module.spawn_instances, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(series_module, "spawn_instances", failing)
    with pytest.raises(RuntimeError):
        spawn_due(api.rt, now=due_at, batch_size=3)  # the first batch of 3 commits, the second fails
    with api.rt.sessions() as s:
        children = set(s.scalars(sa.select(Task.parent_id).where(Task.parent_id.in_(ids))))
        still_due = {i for i in ids if s.get(Task, i).next_occurrence == due_at}
    spawned_events = {e["data"]["series_id"] for e in event_types(api.rt, "recurring.spawned")}
    assert len(children) == 3 and children == spawned_events, "no instance without its event, and back"
    assert still_due == set(ids) - children, "the failed batch left its series due"
    monkeypatch.setattr(series_module, "spawn_instances", real)
    assert spawn_due(api.rt, now=due_at) == 3
    assert len(event_types(api.rt, "recurring.spawned")) == 6


def test_cron_route_contract_and_app_token_guard(settings, serve, make_client):
    guarded = with_(settings, run_background_workers=False, app_api_token="cron-token")
    server = serve(create_app(guarded))
    client = make_client(server)
    assert client.request("POST", "/recurrence-cron", auth=False).status_code == 401
    assert client.request("POST", "/recurrence-cron", auth=False, headers={"dapr-api-token": "nope"}).status_code == 403
    ok = {"dapr-api-token": "cron-token"}
    assert client.request("OPTIONS", "/recurrence-cron", auth=False, headers=ok).status_code == 200
    resp = client.request("POST", "/recurrence-cron", auth=False, headers=ok)
    assert resp.status_code == 200 and resp.json() == {"spawned": 0}


def test_grpc_binding_runs_the_same_sweep(api):
    due_at = dt.datetime.now(UTC) - dt.timedelta(minutes=1)
    sid = make_series(api, "FREQ=DAILY", dtstart="2026-01-01T00:00:00Z")["id"]
    with api.rt.sessions.begin() as s:
        s.execute(sa.update(Task).where(Task.id == sid).values(next_occurrence=due_at))
    app = grpc_app(api.rt)
    port = free_port()
    thread = threading.Thread(target=app.run, kwargs={"app_port": port, "listen_address": "127.0.0.1"}, daemon=True)
    thread.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=10)
            stub = appcallback_pb2_grpc.AppCallbackStub(channel)
            bindings = stub.ListInputBindings(__import__("google.protobuf.empty_pb2").protobuf.empty_pb2.Empty())
            assert list(bindings.bindings) == [functions.recurrence.BINDING]
            stub.OnBindingEvent(appcallback_pb2.BindingEventRequest(name="recurrence-cron", data=b""))
    finally:
        app.stop()
        thread.join(5)
    assert len(instances(api.rt, sid)) == 1


def test_combined_app_timer_spawns_when_the_occurrence_comes(settings, serve, make_client):
    server = serve(combined_app(settings))
    api = make_client(server).signup()
    rt = server.app.extensions["taskflow"]
    start = (dt.datetime.now(UTC) + dt.timedelta(seconds=2)).replace(microsecond=0) + dt.timedelta(seconds=1)
    sid = make_series(api, "FREQ=DAILY", dtstart=start.isoformat())["id"]
    wait_until(lambda: instances(rt, sid), timeout=60, message="the timer to spawn the instance")
    spawned_at = instances(rt, sid)[0].created_at
    # Never before its occurrence; how soon after (target: within a second) is a row of
    # tests/bench/bench_recurrence.py.
    assert start <= spawned_at, (start, spawned_at)
