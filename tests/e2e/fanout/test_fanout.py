"""Fan-out over WebSocket with real server processes and real WebSocket clients."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests
import websocket

from tests.conftest import JWT_SECRET
from tests.support.live import Client
from tests.support.net import wait_until
from tests.support.process import ServerProcess
from tests.support.sockets import close_code


def ws_url(server, path_user, token, **params):
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"ws://127.0.0.1:{server.port}/ws/user/{path_user}/tasks?{query}"


def connect(server, client, **params):
    return websocket.create_connection(ws_url(server, client.user_id, client.token, **params), timeout=30)


def next_event(ws, timeout=30.0) -> dict:
    """The next message that is not a ping (the timeout catches a hang; how fast: tests/bench/bench_fanout.py)."""
    ws.settimeout(timeout)
    while True:
        message = json.loads(ws.recv())
        if message["type"] != "ping":
            return message


@pytest.fixture
def server(db_url):
    proc = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET).start()
    yield proc
    proc.stop()


def test_two_tabs_of_a_user_get_the_event_and_another_user_never(server):
    alice, bob = Client(server.url).signup(), Client(server.url).signup()
    a1, a2, b1 = connect(server, alice), connect(server, alice), connect(server, bob)
    task = alice.create_task(title="for both tabs")
    for ws in (a1, a2):
        message = next_event(ws)
        assert message["type"] == "task.created" and message["data"]["id"] == task["id"]
        assert set(message) == {"type", "event_id", "data", "timestamp", "correlation_id"}
    b1.settimeout(1.0)
    with pytest.raises(websocket.WebSocketTimeoutException):
        next_event(b1, timeout=1.0)
    for ws in (a1, a2, b1):
        ws.close()


def test_a_browser_offering_compression_gets_plain_frames_that_carry_every_character(server):
    """Browsers offer permessage-deflate; the server takes none (each event is framed once for all of a user's
    sockets), and what arrives is the event whole: any character, short, and longer than one short frame."""
    alice = Client(server.url).signup()
    offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"
    ws = websocket.create_connection(ws_url(server, alice.user_id, alice.token), timeout=30, header=[offer])
    assert "sec-websocket-extensions" not in {name.lower() for name in ws.getheaders()}
    title, description = "Zahnarzt 🦷 — café", "Notizen " * 1200
    short = alice.create_task(title="ok")
    long = alice.create_task(title=title, description=description)
    first, second = next_event(ws), next_event(ws)
    assert first["data"]["id"] == short["id"] and first["data"]["title"] == "ok"
    assert second["data"]["id"] == long["id"]
    assert (second["data"]["title"], second["data"]["description"]) == (title, description)
    ws.close()


def test_close_codes_and_no_query_trick_reaches_another_users_stream(server):
    alice, bob = Client(server.url).signup(), Client(server.url).signup()
    for url in (
        f"ws://127.0.0.1:{server.port}/ws/user/{alice.user_id}/tasks",
        ws_url(server, alice.user_id, "garbage"),
        ws_url(server, alice.user_id, alice.token + "x"),
    ):
        assert close_code(websocket.create_connection(url, timeout=5)) == 4001
    for url in (
        ws_url(server, bob.user_id, alice.token),
        ws_url(server, bob.user_id, alice.token, user_id=alice.user_id),
        f"ws://127.0.0.1:{server.port}/ws/user/{bob.user_id}/tasks?token={alice.token}&token={bob.token}",
    ):
        assert close_code(websocket.create_connection(url, timeout=5)) == 4003
    own = websocket.create_connection(ws_url(server, alice.user_id, alice.token, user_id=bob.user_id), timeout=5)
    bob.create_task(title="bob's secret")
    mine = alice.create_task(title="alice's")
    assert next_event(own)["data"]["id"] == mine["id"], "only alice's own events, whatever the query says"
    own.close()


def test_reconnect_with_since_misses_nothing_and_duplicates_nothing(server):
    alice = Client(server.url).signup()
    ws = connect(server, alice)
    first = alice.create_task(title="seen live")
    last_seen = next_event(ws)["event_id"]
    assert next_event is not None and first
    ws.close()
    missed = [alice.create_task(title=f"while away {i}")["id"] for i in range(3)]
    ws = connect(server, alice, since=last_seen)
    got = [next_event(ws)["data"]["id"] for _ in range(3)]
    assert got == missed
    live = alice.create_task(title="live again")
    assert next_event(ws)["data"]["id"] == live["id"]
    ws.settimeout(0.5)
    with pytest.raises(websocket.WebSocketTimeoutException):
        next_event(ws, timeout=0.5)
    ws.close()
    stale = connect(server, alice, since="00000000-0000-0000-0000-000000000000")
    assert json.loads(stale.recv()) == {"type": "resync"}
    stale.close()


def test_a_client_that_stops_reading_does_not_slow_the_others(server):
    alice = Client(server.url).signup()
    slow = websocket.create_connection(
        ws_url(server, alice.user_id, alice.token), timeout=5, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),)
    )
    fast = connect(server, alice)
    # The reader that stopped never holds up the one that reads: each of the 40 arrives, in order, before
    # the next is made (how fast, next to a run without the stalled reader, is tests/bench/bench_fanout.py).
    for i in range(40):
        task = alice.create_task(title=f"burst {i}", description="x" * 9000)
        assert next_event(fast)["data"]["id"] == task["id"]
    slow.close()
    fast.close()


def test_shutdown_closes_sockets_with_1001(db_url):
    proc = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET).start()
    try:
        alice = Client(proc.url).signup()
        ws = connect(proc, alice)
        time.sleep(0.2)
        import os
        import signal

        os.killpg(proc.proc.pid, signal.SIGTERM)
        assert close_code(ws) == 1001
    finally:
        proc.stop()


def test_two_fanout_processes_each_deliver_to_their_own_sockets(db_url, broker):
    common = {"DATABASE_URL": db_url, "JWT_SECRET": JWT_SECRET, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    api = ServerProcess(**common).start(ready_path="/health")  # its audit group may still be rebalancing
    fanouts = [ServerProcess("functions.fanout:create_app()", **common) for _ in range(2)]
    try:
        for f in fanouts:
            f.start(ready_path="/ready", timeout=60)
        alice = Client(api.url).signup()
        sockets = [connect(f, alice) for f in fanouts]
        task = alice.create_task(title="to every replica")
        for ws in sockets:
            assert next_event(ws)["data"]["id"] == task["id"]
            ws.close()
    finally:
        for f in fanouts:
            f.stop()
        api.stop()


def test_ping_every_interval_and_pong_for_the_clients_ping(db_url):
    proc = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET, WS_PING_SECONDS="1").start()
    try:
        alice = Client(proc.url).signup()
        ws = connect(proc, alice)
        ws.settimeout(10)  # ten of its 1 s intervals, yet well under the 25 s default: the setting is read
        assert json.loads(ws.recv()) == {"type": "ping"}
        ws.send("ping")
        assert ws.recv() == "pong"
        ws.close()
    finally:
        proc.stop()


def test_an_oversized_client_message_is_closed_with_1009(server):
    alice = Client(server.url).signup()
    ws, calm = connect(server, alice), connect(server, alice)
    ws.send("x" * (8 * 1024))  # over the 4 KiB cap
    try:
        code = close_code(ws)
    except ConnectionResetError:
        # The server closed with the rest of the frame unread, so the kernel answered with a reset that
        # can overtake the close frame: closed all the same, and nothing buffered for it.
        code = "reset"
    assert code in (1009, "reset")
    task = alice.create_task(title="the worker is fine")
    assert next_event(calm)["data"]["id"] == task["id"]
    calm.close()


def test_a_client_flooding_messages_is_closed_with_1008_and_others_are_unaffected(server):
    alice = Client(server.url).signup()
    flood, calm = connect(server, alice), connect(server, alice)
    for _ in range(300):  # far past 10 a second even when the server reads them slowly (a loaded machine)
        try:
            flood.send("ping")
        except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionResetError):
            break
    assert close_code(flood) == 1008
    task = alice.create_task(title="still live")
    assert next_event(calm)["data"]["id"] == task["id"]
    calm.close()


def test_the_socket_token_never_reaches_the_access_log(db_url):
    proc = ServerProcess(DATABASE_URL=db_url, JWT_SECRET=JWT_SECRET, GUNICORN_ACCESSLOG="-").start()
    try:
        alice = Client(proc.url).signup()
        ws = connect(proc, alice)
        alice.create_task(title="logged")
        next_event(ws)
        ws.close()
        # The access format logs paths without query strings, whatever the route.
        assert requests.get(f"{proc.url}/health?token={alice.token}", timeout=5).status_code == 200
        wait_until(lambda: any("/health " in line for line in proc.output), message="the access line")
    finally:
        proc.stop()
    logged = "".join(proc.output)
    assert '"GET /health HTTP/1.1" 200' in logged
    assert alice.token not in logged and "token=" not in logged
