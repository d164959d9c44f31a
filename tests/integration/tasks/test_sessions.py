"""The browser's session: a cookie set at sign-in, accepted beside the bearer token, CSRF-checked,
renewed as it is used, cleared by sign-out, and ended everywhere by "sign out everywhere"."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import jwt
import pytest
import requests
import websocket

from functions.combined import create_app as combined_app
from shared.services.credentials import SESSION_RENEW_SECONDS
from shared.web.sessions import SESSION_COOKIE
from tests.conftest import JWT_SECRET, with_
from tests.support.sockets import close_code

PASSWORD = "correct horse battery"
CSRF = {"X-Requested-With": "fetch"}


@pytest.fixture
def server(settings, serve):
    return serve(combined_app(with_(settings, run_background_workers=False)))


class Browser:
    """A browser's cookie jar against the server: signs in once, then sends only the cookie."""

    def __init__(self, server):
        self.server = server
        self.http = requests.Session()

    def register(self, email: str | None = None) -> dict:
        self.email = email or f"{uuid.uuid4().hex[:12]}@example.com"
        resp = self.http.post(f"{self.server.url}/api/auth/register", json={"email": self.email, "password": PASSWORD})
        assert resp.status_code == 201, resp.text
        self.user_id = resp.json()["user_id"]
        return resp.json()

    def login(self, email: str) -> dict:
        resp = self.http.post(f"{self.server.url}/api/auth/login", json={"email": email, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        self.user_id = resp.json()["user_id"]
        return resp.json()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.server.url}{path.replace('{me}', self.user_id)}", timeout=30, **kwargs)

    def socket(self, origin: str):
        """Open the user's socket as a page of `origin` does: the browser adds the cookie and the Origin."""
        cookie = f"{SESSION_COOKIE}={self.http.cookies[SESSION_COOKIE]}"
        return websocket.create_connection(
            # `since` unknown: an accepted socket answers "resync" at once (a refused one closes 4001)
            f"ws://{self.server.url.removeprefix('http://')}/ws/user/{self.user_id}/tasks?since=unknown",
            cookie=cookie,
            origin=origin,
            timeout=30,
        )


def accepted(ws) -> bool:
    """Whether the server serves the socket: its first message is the "resync" the unknown `since` asks for."""
    return json.loads(ws.recv()) == {"type": "resync"}


def test_sign_in_sets_an_httponly_samesite_cookie_and_still_answers_the_token(server):
    browser = Browser(server)
    resp = browser.http.post(
        f"{server.url}/api/auth/register", json={"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD}
    )
    assert resp.status_code == 201 and set(resp.json()) == {"user_id", "token"}
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=2592000" in cookie, "kept for 30 days"
    assert "Secure" not in cookie, "plain http on loopback: a Secure cookie would never come back"


def test_over_https_the_cookie_is_secure(server):
    client = server.app.test_client()
    resp = client.post(
        "/api/auth/register",
        json={"email": f"{uuid.uuid4().hex}@example.com", "password": PASSWORD},
        base_url="https://taskflow.example",
    )
    assert resp.status_code == 201
    assert "; Secure" in resp.headers["Set-Cookie"]


def test_the_cookie_alone_reads_and_with_the_csrf_header_writes(server):
    browser = Browser(server)
    browser.register()
    who = browser.request("GET", "/api/auth/session")
    assert who.status_code == 200 and who.json() == {"user_id": browser.user_id, "email": browser.email}
    assert browser.request("GET", "/api/{me}/tasks").status_code == 200
    created = browser.request("POST", "/api/{me}/tasks", json={"title": "by cookie"}, headers=CSRF)
    assert created.status_code == 201, created.text
    task = created.json()
    # without the custom header a cross-site form could have sent it: refused, nothing stored
    for method, path, body in (
        ("POST", "/api/{me}/tasks", {"title": "forged"}),
        ("PUT", f"/api/{{me}}/tasks/{task['id']}", {"title": "forged"}),
        ("DELETE", f"/api/{{me}}/tasks/{task['id']}", None),
        ("POST", "/api/auth/logout-all", None),
    ):
        resp = browser.request(method, path, json=body)
        assert resp.status_code == 403, (method, path, resp.text)
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert "X-Requested-With" in resp.json()["detail"]
    titles = [t["title"] for t in browser.request("GET", "/api/{me}/tasks").json()["items"]]
    assert titles == ["by cookie"]
    # another user's path with this cookie: 403, as with a token
    other = Browser(server)
    other.register()
    assert browser.request("GET", f"/api/{other.user_id}/tasks").status_code == 403


def test_the_socket_takes_the_cookie_from_its_own_page_only(server):
    browser = Browser(server)
    browser.register()
    ws = browser.socket(origin=server.url)
    try:
        assert accepted(ws)
    finally:
        ws.close()
    # a page of another site opening the socket with the browser's cookie: refused (CSWSH)
    foreign = browser.socket(origin="http://evil.example")
    try:
        assert close_code(foreign) == 4001
    finally:
        foreign.close()


def test_logout_clears_the_cookie(server):
    browser = Browser(server)
    browser.register()
    resp = browser.request("POST", "/api/auth/logout")
    assert resp.status_code == 204
    assert f"{SESSION_COOKIE}=;" in resp.headers["Set-Cookie"] and "Max-Age=0" in resp.headers["Set-Cookie"]
    assert SESSION_COOKIE not in browser.http.cookies
    assert browser.request("GET", "/api/auth/session").status_code == 401
    assert browser.request("GET", "/api/{me}/tasks").status_code == 401


def test_sign_out_everywhere_ends_every_token_and_cookie_issued_before(server):
    laptop, phone = Browser(server), Browser(server)
    api_token = laptop.register()["token"]
    phone.login(laptop.email)
    phone_ws = phone.socket(origin=server.url)
    assert accepted(phone_ws)
    phone_ws.close()
    bearer = {"Authorization": f"Bearer {api_token}"}
    assert phone.request("GET", "/api/{me}/tasks").status_code == 200
    assert requests.get(f"{server.url}/api/{laptop.user_id}/tasks", headers=bearer, timeout=30).status_code == 200

    assert laptop.request("POST", "/api/auth/logout-all", headers=CSRF).status_code == 204
    assert SESSION_COOKIE not in laptop.http.cookies, "this browser's cookie is cleared"
    # the other browser's cookie and the API client's token: refused from now on, on routes and socket
    refused = phone.request("GET", "/api/{me}/tasks")
    assert refused.status_code == 401 and "sign out everywhere" in refused.json()["detail"]
    assert phone.request("GET", "/api/auth/session").status_code == 401
    assert requests.get(f"{server.url}/api/{laptop.user_id}/tasks", headers=bearer, timeout=30).status_code == 401
    ws = phone.socket(origin=server.url)
    try:
        assert close_code(ws) == 4001
    finally:
        ws.close()
    # signing in again works, with a session of the new generation
    fresh = laptop.login(laptop.email)
    assert laptop.request("GET", "/api/{me}/tasks").status_code == 200
    fresh_bearer = {"Authorization": f"Bearer {fresh['token']}"}
    assert requests.get(f"{server.url}/api/{laptop.user_id}/tasks", headers=fresh_bearer, timeout=30).ok


def test_an_expired_or_forged_cookie_is_401(server):
    browser = Browser(server)
    browser.register()
    now = dt.datetime.now(dt.UTC)
    expired = jwt.encode(
        {"sub": browser.user_id, "gen": 0, "iat": now - dt.timedelta(days=31), "exp": now - dt.timedelta(days=1)},
        JWT_SECRET,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": browser.user_id, "exp": now + dt.timedelta(days=1)},
        "another secret of at least thirty-two bytes",
        algorithm="HS256",
    )
    for value in (expired, forged):
        browser.http.cookies.clear()
        browser.http.cookies.set(SESSION_COOKIE, value)
        resp = browser.request("GET", "/api/{me}/tasks")
        assert resp.status_code == 401, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert browser.request("GET", "/api/auth/session").status_code == 401


def test_a_cookie_used_a_day_after_it_was_issued_is_renewed(server):
    browser = Browser(server)
    browser.register()
    now = dt.datetime.now(dt.UTC)
    old = jwt.encode(
        {
            "sub": browser.user_id,
            "gen": 0,
            "iat": now - dt.timedelta(seconds=SESSION_RENEW_SECONDS + 60),
            "exp": now + dt.timedelta(days=5),
        },
        JWT_SECRET,
        algorithm="HS256",
    )
    browser.http.cookies.clear()
    browser.http.cookies.set(SESSION_COOKIE, old)
    resp = browser.request("GET", "/api/{me}/tasks")
    assert resp.status_code == 200
    assert "Max-Age=2592000" in resp.headers["Set-Cookie"], "a fresh 30 days"
    renewed = resp.cookies[SESSION_COOKIE]
    assert renewed != old
    assert jwt.decode(renewed, JWT_SECRET, algorithms=["HS256"])["exp"] > now.timestamp() + 29 * 86400
    # a fresh cookie is not renewed on every request
    browser.http.cookies.clear()
    browser.http.cookies.set(SESSION_COOKIE, renewed)
    assert "Set-Cookie" not in browser.request("GET", "/api/{me}/tasks").headers
