"""A socket's user is in the hub's audience before the client sees the socket open.

The web app calls a socket live on the handshake's 101 and loads no backlog for a first connection:
an event a follower read between the 101 and the socket's registration would be skipped as nobody's
here, and never reach that tab. The account check (a database read) used to sit in between.
"""

from __future__ import annotations

import time

import requests
import websocket

from tests.conftest import with_
from tests.support.sockets import close_code


def test_the_user_joins_the_audience_before_the_handshake_answers_and_leaves_when_the_socket_closes(
    settings, serve, make_client, monkeypatch
):
    import functions.fanout as fanout
    from functions.combined import create_app

    slow_check = fanout.require_account

    def require_account(*args, **kwargs):
        time.sleep(0.3)  # a busy worker: the account read takes a while
        return slow_check(*args, **kwargs)

    monkeypatch.setattr(fanout, "require_account", require_account)
    app = create_app(with_(settings, run_background_workers=False))
    server = serve(app)
    hub = app.extensions["taskflow_hub"]
    alice = make_client(server).signup()
    base = f"{server.url.replace('http', 'ws', 1)}/ws/user/{alice.user_id}/tasks"
    ws = websocket.create_connection(f"{base}?token={alice.token}", timeout=10)
    assert alice.user_id in hub.users(), "in the audience as soon as the client sees the socket open"
    ws.close()
    deadline = time.monotonic() + 10
    while alice.user_id in hub.users() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert alice.user_id not in hub.users()
    # A refused token joins nothing, and is still told so after the handshake (4001).
    assert close_code(websocket.create_connection(f"{base}?token=garbage", timeout=10)) == 4001
    assert hub.count() == 0
    # A plain request to the socket's path (no upgrade) is refused, and what it joined it leaves.
    plain = requests.get(f"{server.url}/ws/user/{alice.user_id}/tasks?token={alice.token}", timeout=10)
    assert 400 <= plain.status_code < 500
    assert hub.count() == 0
