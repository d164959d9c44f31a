"""Request metadata stored with events: forwarded headers trusted only from configured proxies, bounded."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from functions.audit import record_events
from functions.combined import create_app
from shared.domain.events import Event
from shared.persistence.models import EventLog
from tests.conftest import with_
from tests.support.net import wait_until


def history(api, tid):
    return wait_until(
        lambda: api.request("GET", f"/api/{{me}}/tasks/{tid}/events").json().get("items"),
        message="the event in the audit log",
    )


def created_with(api, **headers):
    tid = api.request("POST", "/api/{me}/tasks", json={"title": "meta"}, headers=headers).json()["id"]
    return history(api, tid)[0]


@pytest.fixture
def direct(settings, serve, make_client):
    """The combined app with no trusted proxy (the local default)."""
    server = serve(create_app(settings))
    return make_client(server).signup()


@pytest.fixture
def behind_one_proxy(settings, serve, make_client):
    server = serve(create_app(with_(settings, trusted_proxy_hops=1)))
    return make_client(server).signup()


def test_a_clients_own_forwarded_for_is_not_believed(direct):
    event = created_with(direct, **{"X-Forwarded-For": "6.6.6.6"})
    assert event["client_ip"] == "127.0.0.1"


def test_behind_one_proxy_the_address_that_proxy_saw_is_stored(behind_one_proxy):
    # The client forged the first entry; the proxy appended the address it saw.
    event = created_with(behind_one_proxy, **{"X-Forwarded-For": "6.6.6.6, 203.0.113.7"})
    assert event["client_ip"] == "203.0.113.7"


def test_an_overlong_or_invalid_forwarded_address_is_not_stored_and_does_not_block_the_audit(behind_one_proxy):
    event = created_with(behind_one_proxy, **{"X-Forwarded-For": "x" * 300})
    assert event["client_ip"] is None
    event = created_with(behind_one_proxy, **{"X-Forwarded-For": "999.1.1.1"})
    assert event["client_ip"] is None


def test_user_agent_and_correlation_id_are_bounded(direct):
    event = created_with(direct, **{"User-Agent": "u" * 5000, "X-Correlation-ID": "c" * 1000})
    assert event["user_agent"] == "u" * 512
    assert len(event["correlation_id"]) <= 128 and event["correlation_id"] != "c" * 1000


def test_an_event_with_oversized_metadata_is_still_recorded(settings):
    from shared.runtime.process import Runtime

    rt = Runtime(with_(settings, run_background_workers=False))
    try:
        event = Event(
            event_type="task.created",
            user_id="u-meta",
            aggregate_id=str(uuid.uuid4()),
            data={"title": "t"},
            metadata={"client_ip": "1" * 500, "request_id": "r" * 500, "user_agent": "a" * 5000},
        )
        record_events(rt, [event])
        with rt.sessions() as s:
            row = s.scalars(sa.select(EventLog).where(EventLog.event_id == event.event_id)).one()
        assert row.client_ip is None and len(row.request_id) == 128 and len(row.user_agent) == 512
    finally:
        rt.close()
