"""A token whose account does not exist is refused with 401 on every route and on the socket, never a 500.

Registering never hands out such a token any more; this holds the line for a token signed for an id
that has no account, and for an account deleted after its token was issued.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
import websocket

from functions.combined import create_app as combined_app
from shared.persistence.models import User
from shared.services.credentials import issue_token
from tests.conftest import with_
from tests.support.sockets import close_code

TASK_ID = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def gone(settings, serve, make_client):
    """The combined app served, one account deleted after sign-up, and a token for an id never registered."""
    server = serve(combined_app(with_(settings, run_background_workers=False)))
    client = make_client(server).signup()
    rt = server.app.extensions["taskflow"]
    with rt.sessions.begin() as session:
        session.execute(sa.delete(User).where(User.id == client.user_id))
    never = "11111111-2222-4333-8444-555555555555"
    return server, client, [(client.user_id, client.token), (never, issue_token(rt.settings, never))]


@pytest.fixture(params=["deleted", "never registered"])
def account(request, gone):
    server, client, accounts = gone
    return server, client, accounts[0 if request.param == "deleted" else 1]


@pytest.fixture
def spec(gone):
    server, client, _ = gone
    return client.request("GET", "/openapi.json", auth=False).json()


def user_routes(spec):
    """Every operation under /api/{user_id}/, with its path filled in."""
    for path, item in spec["paths"].items():
        if not path.startswith("/api/{user_id}/"):
            continue
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path


def test_every_user_route_answers_401_to_a_token_without_an_account(account, spec):
    server, client, (user_id, token) = account
    seen = []
    for method, path in user_routes(spec):
        url = re.sub(r"\{[a-z_]+\}", TASK_ID, path.replace("{user_id}", user_id))
        resp = client.http.request(
            method, f"{server.url}{url}", headers={"Authorization": f"Bearer {token}"}, json={}, timeout=30
        )
        seen.append(path)
        assert resp.status_code == 401, (method, path, resp.status_code, resp.text[:200])
        assert resp.headers["Content-Type"] == "application/problem+json"
    assert len(seen) > 30, "the spec's user routes were all tried"


def test_the_socket_refuses_a_token_without_an_account(account):
    server, _, (user_id, token) = account
    ws = websocket.create_connection(
        f"ws://{server.url.removeprefix('http://')}/ws/user/{user_id}/tasks?token={token}", timeout=30
    )
    try:
        assert close_code(ws) == 4001
    finally:
        ws.close()
