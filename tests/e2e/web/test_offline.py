"""Offline in the web app: changes wait on the device (IndexedDB) and arrive in order; views show what they showed."""

from __future__ import annotations

from unittest.mock import ANY

import requests
from playwright.sync_api import expect

from tests.support.browser import wait_js
from tests.support.no_lost_work import WAIT, User, open_panel, row, screenshots, settled, view
from tests.support.webapp import axe_violations


def test_changes_made_offline_wait_on_the_device_and_reach_the_server_in_order(app_process, browser):
    user = User(browser, app_process)
    bills = user.create(title="Pay bills")
    ann = user.create(title="Call Ann")
    old = user.create(title="Old note")
    page = user.page
    for title in ("Pay bills", "Call Ann", "Old note"):
        expect(row(page, title)).to_be_visible(timeout=WAIT)
    wait_js(page, "navigator.serviceWorker.controller !== null", timeout=WAIT / 1000)
    wait_js(page, "(localStorage.getItem('taskflow.offline') || '').includes('Old note')", timeout=WAIT / 1000)

    user.context.set_offline(True)
    expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    pending = page.locator("#pending")
    # tick
    row(page, "Pay bills").locator("input.complete").click()
    expect(row(page, "Pay bills")).to_have_count(0)
    expect(pending).to_have_text("1 change waiting", timeout=WAIT)
    expect(page.locator("#toasts")).to_contain_text("Completed “Pay bills”. It will be sent when you are back online.")
    # add (read when sent: "tomorrow" is the day after it was typed)
    page.locator("#quick").fill("Buy stamps tomorrow 10am !high")
    expect(page.locator("#questions")).to_contain_text("Offline")
    page.locator("#quick").press("Enter")
    expect(row(page, "Buy stamps tomorrow 10am !high").locator(".badge.waiting")).to_be_visible()
    # edit
    open_panel(page, "Call Ann")
    page.locator("#p-title").fill("Call Ann back")
    page.locator("#panel-form button[type=submit]").click()
    expect(page.locator("#toasts")).to_contain_text("Saved on this device")
    page.keyboard.press("Escape")
    # delete (after its Undo window)
    row(page, "Old note").hover()
    row(page, "Old note").get_by_role("button", name="Delete Old note").click()
    expect(pending).to_have_text("4 changes waiting", timeout=WAIT)
    assert page.writes == [], "nothing left the browser"

    # A reload offline: the shell from the service worker, the tasks from the offline copy, the queue kept.
    page.reload()
    expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    expect(pending).to_have_text("4 changes waiting", timeout=WAIT)
    expect(row(page, "Call Ann back").locator(".title")).to_be_visible()
    expect(row(page, "Buy stamps tomorrow 10am !high").locator(".title")).to_be_visible()
    expect(row(page, "Old note")).to_have_count(0)
    expect(row(page, "Pay bills")).to_have_count(0)
    view(page, "completed")
    expect(row(page, "Pay bills")).to_be_visible()
    view(page, "inbox")
    assert "Failed to fetch" not in page.locator("body").inner_text()
    assert axe_violations(page) == [], "changes waiting"
    screenshots(page, "offline-waiting")

    user.context.set_offline(False)
    expect(pending).to_be_hidden(timeout=WAIT)
    expect(page.locator("#offline-banner")).to_be_hidden(timeout=WAIT)
    settled(page)
    assert user.get(bills["id"]).json()["completed"] is True
    assert user.get(ann["id"]).json()["title"] == "Call Ann back"
    assert user.get(old["id"]).status_code == 404
    [stamps] = [t for t in user.tasks() if t["title"] == "Buy stamps"]
    assert stamps["priority"] == "high" and stamps["due_date"] is not None
    expect(row(page, "Buy stamps")).to_be_visible(timeout=WAIT)
    expect(row(page, "Buy stamps tomorrow 10am !high")).to_have_count(0)
    # in the order they were made
    assert [(m, p.rsplit("/", 1)[-1], body) for m, p, body in page.writes] == [
        ("PATCH", bills["id"], {"base_version": 1, "changes": {"completed": True}}),
        ("POST", "tasks", {"title": "Buy stamps", "priority": "high", "timezone": "Europe/Paris", "due_date": ANY}),
        ("PATCH", ann["id"], {"base_version": 1, "changes": {"title": "Call Ann back"}}),
        ("DELETE", old["id"], None),
    ]
    user.close()


def test_offline_every_view_shows_what_it_showed_online(app_process, browser):
    import datetime as dt

    user = User(browser, app_process, tz="UTC")
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    lst = requests.post(f"{user.api}/lists", json={"name": "Home"}, headers=user.headers, timeout=10).json()
    # at midnight: the two-week window (from now) holds the same 13 later days whatever the time of day
    user.create(title="Daily review", due_date=f"{tomorrow}T00:00", timezone="UTC", recurrence_rule="FREQ=DAILY")
    user.create(title="Fix the tap", list_id=lst["id"], priority="high", tags=["house"])
    user.create(title="Overdue call", due_date="2020-01-02T10:00", reminders=[{"remind_at": "2031-01-01T08:00:00Z"}])
    user.create(title="Tomorrow thing", due_date=f"{tomorrow}T10:00", timezone="UTC")
    done = user.create(title="Done already")
    requests.patch(f"{user.api}/tasks/{done['id']}/complete", json={}, headers=user.headers, timeout=10)
    page = user.page
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    views = ["inbox", "today", "upcoming", "all", "completed"]
    online = {}
    for name in views + ["list"]:
        if name == "list":
            page.locator("#lists button", has_text="Home").click()
        else:
            view(page, name)
        expect(page.locator("#tasks li.task").first).to_be_visible(timeout=WAIT)
        if name == "upcoming":  # a series on each of its days in the next two weeks
            expect(page.locator("#tasks li.occurrence")).to_have_count(13, timeout=WAIT)
        if name == "inbox":  # the bell of a task with a reminder
            expect(row(page, "Overdue call").locator(".bell")).to_be_visible(timeout=WAIT)
        online[name] = page.locator("#tasks").inner_text()
    assert "Daily review" in online["all"] and "Fix the tap" in online["list"]
    wait_js(page, "navigator.serviceWorker.controller !== null", timeout=WAIT / 1000)
    wait_js(
        page,
        "Object.keys(JSON.parse(localStorage.getItem('taskflow.offline') || '{}').occurrences || {}).length > 0",
        timeout=WAIT / 1000,
    )
    user.context.set_offline(True)
    page.reload()
    expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    for name in views + ["list"]:
        if name == "list":
            page.locator("#lists button", has_text="Home").click()
        else:
            view(page, name)
        titles = page.locator("#tasks li.task .title, #tasks li.task button.link")
        expect(titles.first).to_be_visible(timeout=WAIT)
        assert page.locator("#tasks").inner_text() == online[name], name
    screenshots(page, "offline-all-views")
    # The service worker answers no API request from a cache: offline, a request fails (the page shows
    # its own copy, which says how old it is).
    answered = page.evaluate(
        "fetch(`/api/${JSON.parse(localStorage.getItem('taskflow.session')).userId}/tasks`)"
        ".then(r => 'answered ' + r.status, () => 'failed')"
    )
    assert answered == "failed"
    expect(page.locator("#offline-banner")).to_contain_text("showing your tasks as of")
    user.context.set_offline(False)
    user.close()
