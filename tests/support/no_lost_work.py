"""Page helpers of the no-lost-work browser tests (test_edits_merge, test_offline, test_no_lost_work)."""

from __future__ import annotations

import json
import pathlib
import uuid

import requests
from playwright.sync_api import expect

from tests.support.browser import wait_js
from tests.support.webapp import session_of

TESTS = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = TESTS / "artifacts"
AXE = TESTS / "js" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
WAIT = 20_000  # ms: only to catch a hang


def sign_up(page) -> dict:
    page.get_by_label("Email", exact=True).fill(f"{uuid.uuid4().hex[:10]}@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    return session_of(page)


class User:
    """A signed-up user: one browser context (a browser profile), its first tab, and the API."""

    def __init__(self, browser, app_process, width=1280, height=800, tz="Europe/Paris"):
        self.app = app_process
        self.context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=tz)
        self.page = self.tab(first=True)
        self.session = sign_up(self.page)
        self.api = f"{app_process.url}/api/{self.session['userId']}"
        self.headers = {"Authorization": f"Bearer {self.session['token']}"}

    def tab(self, first=False):
        """A tab of this browser; its writes to tasks that reached the server are recorded as
        (method, path after /api/, JSON body)."""
        page = self.context.new_page()
        page.writes = []

        def record(request):
            if request.method != "GET" and "/api/" in request.url and "/tasks" in request.url:
                try:
                    body = request.post_data_json
                except Exception:  # not JSON (an .ics body)
                    body = request.post_data
                page.writes.append((request.method, request.url.split("/api/", 1)[1], body))

        page.on("requestfinished", record)  # answered by the server (an attempt offline fails in the browser)
        page.goto(self.app.url + "/")
        if not first:  # the same account in a second tab: the browser's session cookie signs it in
            expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
        return page

    def create(self, **body):
        resp = requests.post(f"{self.api}/tasks", json=body, headers=self.headers, timeout=10)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, task_id):
        return requests.get(f"{self.api}/tasks/{task_id}", headers=self.headers, timeout=10)

    def tasks(self):
        return requests.get(f"{self.api}/tasks?limit=200", headers=self.headers, timeout=10).json()["items"]

    def close(self):
        self.context.close()


def row(page, title):
    return page.locator(f"#tasks li.task[data-title={json.dumps(title)}]")


def view(page, name):
    page.locator(f".views button[data-view='{name}']").click()


def open_panel(page, title):
    row(page, title).locator(".title").click()
    expect(page.locator("#panel")).to_be_visible()


def settled(page):
    """Nothing being stored, waiting to be sent or being sent (the page's outbox is empty)."""
    wait_js(page, "sync.storing === 0 && sync.ops.length === 0 && sync.flushing === null", timeout=WAIT / 1000)


def screenshots(page, name, on_phone=None):
    ARTIFACTS.mkdir(exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        if size == "phone" and on_phone:
            on_phone(page)
        page.screenshot(path=str(ARTIFACTS / f"no-lost-work-{name}-{size}.png"))
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (name, size)
    page.set_viewport_size({"width": 1280, "height": 800})


def patches(page, task_id):
    return [body for method, path, body in page.writes if method == "PATCH" and path.endswith(f"/tasks/{task_id}")]


# ---------- item 1: two tabs, one task ----------
