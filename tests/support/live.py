"""Serve a Flask app over real HTTP on loopback, and a small client for the TaskFlow API."""

from __future__ import annotations

import threading
import uuid

import requests
from werkzeug.serving import make_server


class LiveServer:
    """A threaded WSGI server on a free loopback port, in a background thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits up to one interval, once per test that serves an app.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


class Client:
    """requests against a TaskFlow base URL, optionally signed in as one user."""

    def __init__(self, base_url: str):
        self.base = base_url
        self.http = requests.Session()
        self.user_id: str | None = None
        self.token: str | None = None

    def signup(self, email: str | None = None, password: str = "correct horse battery") -> Client:
        email = email or f"{uuid.uuid4().hex[:12]}@example.com"
        resp = self.http.post(f"{self.base}/api/auth/register", json={"email": email, "password": password})
        assert resp.status_code == 201, resp.text
        self.user_id, self.token = resp.json()["user_id"], resp.json()["token"]
        self.email = email
        # An API client: it authenticates with the bearer token only (a request sent with auth=False is
        # anonymous), not with the browser session cookie the server also set.
        self.http.cookies.clear()
        return self

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    def request(self, method: str, path: str, *, auth: bool = True, headers=None, **kwargs) -> requests.Response:
        path = path.replace("{me}", self.user_id or "")
        all_headers = {**(self.headers() if auth else {}), **(headers or {})}
        return self.http.request(method, f"{self.base}{path}", headers=all_headers, timeout=30, **kwargs)

    def create_task(self, **fields) -> dict:
        fields.setdefault("title", "a task")
        resp = self.request("POST", "/api/{me}/tasks", json=fields)
        assert resp.status_code == 201, resp.text
        return resp.json()
