"""Post-deployment smoke test: health, sign up, create a task, see it listed, create a recurring series.

    python tests/smoke.py https://taskflow.example.com [--wait 120]

Standard library only, so a deploy job runs it with any Python 3.11+ and nothing installed. It signs up
a fresh `smoke-…@example.com` account, deletes what it created, and exits 0 when every step passed,
1 at the first failure (with what the server answered). Every request carries one X-Correlation-ID,
printed first, to find the run in the server's logs. `make test` runs it against `make run`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any


class SmokeFailure(Exception):
    """A step did not get the answer a working deployment gives."""


class Api:
    """Minimal JSON-over-HTTP client for one base URL."""

    def __init__(self, base_url: str, correlation_id: str, timeout: float = 15.0):
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise SmokeFailure(f"base URL must be http(s): {base_url!r}")
        self.base = base_url.rstrip("/")
        self.correlation_id = correlation_id
        self.timeout = timeout
        self.token: str | None = None

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON body or None)."""
        headers = {"Accept": "application/json", "X-Correlation-ID": self.correlation_id}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The scheme is checked in __init__: only http(s) URLs get here (S310).
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())

    def expect(self, method: str, path: str, status: int, body: object = None) -> dict[str, Any]:
        """Call and require `status` and a JSON object (or no body for 204); return the object."""
        got, payload = self.call(method, path, body)
        if got != status:
            raise SmokeFailure(f"{method} {path}: expected {status}, got {got}: {json.dumps(payload)[:500]}")
        if status == 204:
            return {}
        if not isinstance(payload, dict):
            raise SmokeFailure(f"{method} {path}: expected a JSON object, got {json.dumps(payload)[:500]}")
        return payload


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:200].decode(errors="replace")


def wait_for_health(api: Api, wait: float) -> None:
    """Poll /health until it answers 200 (a free-tier service may be waking up)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            status, _ = api.call("GET", "/health")
            if status == 200:
                return
            problem = f"status {status}"
        except OSError as error:  # refused, reset, DNS, timeout: not up yet
            problem = str(error)
        if time.monotonic() >= deadline:
            raise SmokeFailure(f"/health did not answer 200 within {wait:.0f} s ({problem})")
        time.sleep(2)


def run(base_url: str, wait: float = 0.0, passed: Callable[[str], object] = print) -> None:
    """Run every step against `base_url`, reporting each as it passes; raise SmokeFailure at the first failure."""
    api = Api(base_url, correlation_id=f"smoke-{uuid.uuid4()}")
    passed(f"correlation id {api.correlation_id}")
    wait_for_health(api, wait)
    passed("GET /health 200")
    ready = api.expect("GET", "/ready", 200)
    passed(f"GET /ready 200 {ready.get('checks')}")

    email = f"smoke-{uuid.uuid4().hex[:16]}@example.com"
    account = api.expect("POST", "/api/auth/register", 201, {"email": email, "password": uuid.uuid4().hex})
    user_id, api.token = account["user_id"], account["token"]
    passed(f"registered {email}")

    title = f"smoke task {uuid.uuid4().hex[:8]}"
    task = api.expect("POST", f"/api/{user_id}/tasks", 201, {"title": title, "priority": "high"})
    if task.get("title") != title:
        raise SmokeFailure(f"created task came back as {task!r}")
    passed(f"created task {task['id']}")

    listed = api.expect("GET", f"/api/{user_id}/tasks", 200)
    if task["id"] not in [item["id"] for item in listed["items"]]:
        raise SmokeFailure(f"task {task['id']} is not in the list: {listed!r}")
    passed("the task is listed")

    series = api.expect(
        "POST",
        f"/api/{user_id}/tasks",
        201,
        {"title": "smoke series", "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO", "timezone": "Europe/Berlin"},
    )
    recurring = api.expect("GET", f"/api/{user_id}/tasks/recurring", 200)
    match = [item for item in recurring["items"] if item["id"] == series["id"]]
    if not match or not match[0].get("next_occurrence"):
        raise SmokeFailure(f"series {series['id']} is not listed with a next occurrence: {recurring!r}")
    passed(f"recurring series {series['id']}, next {match[0]['next_occurrence']}")

    for task_id in (task["id"], series["id"]):
        api.expect("DELETE", f"/api/{user_id}/tasks/{task_id}", 204)
    passed("deleted what it created")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="where the deployment answers, e.g. https://taskflow.example.com")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for /health (cold starts)")
    args = parser.parse_args(argv)
    try:
        run(args.base_url, args.wait, lambda step: print(f"ok    {step}", flush=True))
    except (SmokeFailure, OSError, KeyError, TypeError) as error:
        print(f"FAIL  {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print("smoke: every step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
