"""CloudEvents delivered to /events/<topic>: JSON nested too deep is a DROP or a 400, never a 500.

A 500 on the subscription route is retried by Dapr for ever; a malformed delivery is dropped (structured)
or refused (binary), and nothing is stored.
"""

from __future__ import annotations

from functions.audit import create_app as audit_app
from shared.persistence.models import EventLog
from tests.conftest import with_
from tests.support.rows import rows

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_deeply_nested_json_deliveries_are_dropped_or_400_and_store_nothing(settings, serve, make_client, db_url):
    client = make_client(serve(audit_app(with_(settings, run_background_workers=False))))
    structured = (
        DEEP,
        b'{"specversion":"1.0","id":"1","type":"t","source":"s","data":' + DEEP + b"}",
        b'{"specversion":"1.0","id":"1","type":"t","source":"s","data":"' + b"[" * 100_000 + b'"}',
    )
    for body in structured:
        resp = client.request(
            "POST",
            "/events/tasks.events",
            auth=False,
            data=body,
            headers={"Content-Type": "application/cloudevents+json"},
        )
        assert resp.status_code == 200 and resp.json() == {"status": "DROP"}, resp.text[:200]
    binary = {"ce-id": "x", "ce-type": "t", "ce-source": "s", "ce-specversion": "1.0"}
    binary["Content-Type"] = "application/json"
    resp = client.request("POST", "/events/tasks.events", auth=False, data=DEEP, headers=binary)
    assert resp.status_code == 400 and resp.headers["Content-Type"] == "application/problem+json"
    assert rows(db_url, EventLog) == 0
