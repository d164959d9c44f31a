"""An open socket ends with its token: closed with 4001 when the token expires; a fresh token and
`since` resume it without losing an event (issue 28, item 6)."""

from __future__ import annotations

import time

from tests.conftest import JWT_SECRET
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.sockets import Collector

TTL = 4


def test_a_socket_is_closed_with_4001_when_its_token_expires_and_resumes_with_a_fresh_one(db_url):
    server = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET, JWT_TTL_SECONDS=str(TTL)).start()
    try:
        alice = Client(server.url).signup()
        opened = time.monotonic()
        base = f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks"
        socket = Collector(f"{base}?token={alice.token}")
        seen = alice.create_task(title="while the token holds")["id"]
        wait_until(lambda: socket.event_ids("task.created"), timeout=30, message="the event while the token holds")
        assert socket.closed.wait(TTL + 30), "closed when the token expired"
        assert socket.close_code == 4001
        assert time.monotonic() - opened >= TTL - 1, "not before the token expired"
        assert alice.request("GET", "/api/{me}/tasks").status_code == 401, "the token is refused everywhere now"

        # Events made while the socket was closed are not lost: a fresh token and `since` resume it.
        fresh = Client(server.url)
        resp = fresh.http.post(
            f"{server.url}/api/auth/login", json={"email": alice.email, "password": "correct horse battery"}
        )
        assert resp.status_code == 200, resp.text
        fresh.user_id, fresh.token = resp.json()["user_id"], resp.json()["token"]
        missed = fresh.create_task(title="while the socket was closed")["id"]
        last = socket.event_ids()[-1]
        resumed = Collector(f"{base}?token={fresh.token}&since={last}")
        live = fresh.create_task(title="live again")["id"]
        wait_until(
            lambda: (
                [m["data"]["id"] for m in list(resumed.messages) if m.get("type") == "task.created"] == [missed, live]
            ),
            timeout=30,
            message="the missed event, then the live one",
        )
        assert seen not in [m["data"]["id"] for m in resumed.messages if m.get("type") == "task.created"]
        resumed.close()
    finally:
        server.stop()
