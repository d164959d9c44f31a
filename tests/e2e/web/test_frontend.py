"""The web app in a real browser: Debian's Chromium driven by Playwright, against gunicorn."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import JWT_SECRET
from tests.support.browser import wait_js
from tests.support.paths import ARTIFACTS
from tests.support.webapp import SESSION_COOKIE, add_task, session_of, sign_in, sign_up, task_row

# Each test's browser contexts are closed after it, so no socket outlives its test.
_contexts: list = []


@pytest.fixture(autouse=True)
def _close_contexts():
    yield
    while _contexts:
        _contexts.pop().close()


def new_page(browser, app_process, width=1280, height=800):
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id="UTC")
    _contexts.append(context)
    # These tests drive the full form, which sits behind "More" (quick add is the main way in).
    context.add_init_script("localStorage.setItem('taskflow.more', 'open')")
    page = context.new_page()
    external = []
    page.on(
        "request",
        lambda r: (
            external.append(r.url) if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:")) else None
        ),
    )
    page.external_requests = external
    page.goto(app_process.url + "/")
    return page


def test_two_tabs_stay_in_sync_and_another_user_sees_nothing(app_process, browser):
    one = new_page(browser, app_process)
    email, _ = sign_up(one)
    two = new_page(browser, app_process)
    sign_in(two, email)
    three = new_page(browser, app_process)
    sign_up(three)
    add_task(one, "Buy oat milk")
    # It appears in the other tab (within ~500 ms of the click: a row of tests/bench/bench_fanout.py).
    expect(task_row(two, "Buy oat milk")).to_have_count(1, timeout=30_000)
    # Completing moves it out of the "Open" list, so click (not check(), which re-verifies the box).
    task_row(two, "Buy oat milk").locator("input.complete").click()
    expect(task_row(two, "Buy oat milk")).to_have_count(0)
    one.locator(".views button[data-view='completed']").click()
    expect(task_row(one, "Buy oat milk")).to_have_class("task done", timeout=30_000)
    time.sleep(0.5)
    expect(three.locator("li.task")).to_have_count(0)
    assert one.external_requests == [] and two.external_requests == []


def test_server_restart_goes_reconnecting_then_live_and_catches_up(app_process, browser):
    page = new_page(browser, app_process)
    sign_up(page)
    add_task(page, "Before the restart")
    expect(task_row(page, "Before the restart")).to_have_count(1)
    session = session_of(page)
    app_process.stop()
    expect(page.locator("#live")).to_have_attribute("data-status", "reconnecting", timeout=30_000)
    app_process.start()
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=40000)
    resp = requests.post(
        f"{app_process.url}/api/{session['userId']}/tasks",
        json={"title": "After the restart"},
        headers={"Authorization": f"Bearer {session['token']}"},
        timeout=10,
    )
    assert resp.status_code == 201
    expect(task_row(page, "After the restart")).to_have_count(1, timeout=30_000)


RULES = [
    (
        {"freq": "DAILY", "interval": "2"},
        "FREQ=DAILY;INTERVAL=2",
        ["2030-01-01", "2030-01-03", "2030-01-05", "2030-01-07", "2030-01-09"],
    ),
    (
        {"freq": "WEEKLY", "days": ["MO", "TH"]},
        "FREQ=WEEKLY;BYDAY=MO,TH",
        ["2030-01-03", "2030-01-07", "2030-01-10", "2030-01-14", "2030-01-17"],
    ),
    (
        {"freq": "MONTHLY", "monthly": "day", "monthday": "15"},
        "FREQ=MONTHLY;BYMONTHDAY=15",
        ["2030-01-15", "2030-02-15", "2030-03-15", "2030-04-15", "2030-05-15"],
    ),
    (
        {"freq": "MONTHLY", "monthly": "nth", "nth": "2", "nthday": "TU"},
        "FREQ=MONTHLY;BYDAY=2TU",
        ["2030-01-08", "2030-02-12", "2030-03-12", "2030-04-09", "2030-05-14"],
    ),
    (
        {"freq": "MONTHLY", "monthly": "last"},
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        ["2030-01-31", "2030-02-28", "2030-03-29", "2030-04-30", "2030-05-31"],
    ),
    (
        {"freq": "YEARLY", "ends": "count", "count": "3"},
        "FREQ=YEARLY;COUNT=3",
        ["2030-01-01", "2031-01-01", "2032-01-01"],
    ),
    (
        {"freq": "WEEKLY", "days": ["FR"], "ends": "until", "until": "2030-01-20"},
        "FREQ=WEEKLY;BYDAY=FR;UNTIL=20300120T235959Z",
        ["2030-01-04", "2030-01-11", "2030-01-18"],
    ),
    (
        {"freq": "CUSTOM", "custom": "FREQ=MONTHLY;BYDAY=-1FR"},
        "FREQ=MONTHLY;BYDAY=-1FR",
        ["2030-01-25", "2030-02-22", "2030-03-29", "2030-04-26", "2030-05-31"],
    ),
]


def test_recurrence_form_builds_each_rule_and_previews_the_next_dates(app_process, browser):
    page = new_page(browser, app_process)
    sign_up(page)
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("Due", exact=True).fill("2030-01-01T09:00")
    for fields, rule, dates in RULES:
        page.get_by_label("Frequency").select_option(fields["freq"])
        if fields["freq"] != "CUSTOM":
            page.locator("#interval").fill(fields.get("interval", "1"))
            page.locator("#ends").select_option(fields.get("ends", "never"))
        if fields["freq"] == "WEEKLY":
            for box in page.locator("#weekdays input").all():
                box.set_checked(box.get_attribute("value") in fields.get("days", []))
        if "monthly" in fields:
            page.locator("#monthly").select_option(fields["monthly"])
        if "monthday" in fields:
            page.locator("#monthday").fill(fields["monthday"])
        if "nth" in fields:
            page.locator("#nth").select_option(fields["nth"])
            page.locator("#nthday").select_option(fields["nthday"])
        if "custom" in fields:
            page.locator("#custom-rule").fill(fields["custom"])
        if "count" in fields:
            page.locator("#count").fill(fields["count"])
        if "until" in fields:
            page.locator("#until").fill(fields["until"])
        expect(page.locator("#rrule")).to_have_text(rule)
        expect(page.locator("#preview li")).to_have_count(len(dates), timeout=30_000)
        expect(page.locator("#preview li").first).to_have_attribute("data-iso", f"{dates[0]}T09:00:00+00:00")
        got = [d[:10] for d in page.locator("#preview li").evaluate_all("ls => ls.map(l => l.dataset.iso)")]
        assert got == dates, (rule, got)
    add_task(page, "Monthly review")
    row = task_row(page, "Monthly review")
    expect(row.locator(".badge.recurring")).to_have_count(1)
    expect(row.locator(".badge.recurring")).to_have_attribute("title", "FREQ=MONTHLY;BYDAY=-1FR")


def test_a_reminder_three_seconds_ahead_shows_its_toast(app_process, browser):
    page = new_page(browser, app_process)
    sign_up(page)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("New task", exact=True).fill("Stretch")
    page.locator("#reminder").select_option("custom")
    page.locator("#remind-at").fill(soon)
    page.get_by_role("button", name="Add task").click()
    expect(task_row(page, "Stretch")).to_have_count(1)
    expect(page.locator(".toast", has_text="Reminder: Stretch")).to_be_visible(timeout=30_000)


def test_delete_with_undo_history_panel_and_search(app_process, browser):
    page = new_page(browser, app_process)
    sign_up(page)
    add_task(page, "Keep me")
    add_task(page, "Drop me")
    expect(page.locator("li.task")).to_have_count(2)
    task_row(page, "Keep me").click()
    page.locator("#p-title").fill("Keep me please")
    page.locator("#p-title").press("Enter")
    expect(task_row(page, "Keep me please")).to_have_count(1)
    # delete on hover in the row, and in the panel; one toast at a time, each with its undo
    task_row(page, "Drop me").hover()
    task_row(page, "Drop me").get_by_role("button", name="Delete Drop me").click()
    expect(page.locator("li.task")).to_have_count(1)
    page.locator(".toast").get_by_role("button", name="Undo").click()
    expect(page.locator("li.task")).to_have_count(2)
    task_row(page, "Drop me").click()
    page.get_by_role("button", name="Delete task").click()
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.locator("li.task")).to_have_count(1)
    expect(page.locator(".toast")).to_have_count(1)
    page.locator(".toast").get_by_role("button", name="Undo").click()
    expect(page.locator("li.task")).to_have_count(2)
    page.keyboard.press("/")
    page.get_by_label("Search all tasks").fill("please")
    expect(page.locator("li.task")).to_have_count(1)
    expect(page.locator("li.task mark")).to_have_text("please")
    page.locator(".views button[data-view='inbox']").click()
    task_row(page, "Keep me please").click()
    expect(page.locator("#panel-history li")).to_have_count(2, timeout=30_000)
    expect(page.locator("#panel-history li").last).to_contain_text("task updated")
    # ticking a task by mistake: its toast brings it back
    page.keyboard.press("Escape")
    task_row(page, "Keep me please").locator("input.complete").click()
    expect(task_row(page, "Keep me please")).to_have_count(0)
    page.locator(".toast", has_text="Completed “Keep me please”.").get_by_role("button", name="Undo").click()
    expect(task_row(page, "Keep me please")).not_to_have_class("task done")


def test_an_expired_session_returns_to_sign_in_with_a_message(app_process, browser):
    import jwt

    page = new_page(browser, app_process)
    sign_up(page)
    session = session_of(page)
    expired = jwt.encode({"sub": session["userId"], "exp": 1}, JWT_SECRET, algorithm="HS256")
    # The person comes back later: the browser still holds the session cookie, but what it holds has
    # expired. The old page is closed first: still open, a request of its own could meet the expiry
    # first and sign out there (with the message, on that page), forgetting who was signed in.
    context = page.context
    page.close()
    context.add_cookies([{"name": SESSION_COOKIE, "value": expired, "url": app_process.url}])
    page = context.new_page()
    page.goto(app_process.url)
    expect(page.locator("#auth-message")).to_contain_text("expired", timeout=30_000)
    expect(page.locator("#auth")).to_be_visible()


def test_screenshots_of_the_main_views_at_desktop_and_phone_widths(app_process, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    for name, (width, height) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
        page = new_page(browser, app_process, width, height)
        page.screenshot(path=str(ARTIFACTS / f"signin-{name}.png"), full_page=True)
        sign_up(page)
        for title in ("Water the plants", "File the taxes", "Call the plumber"):
            add_task(page, title)
        page.get_by_label("Frequency").select_option("WEEKLY")
        expect(page.locator("#preview li").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / f"tasks-{name}.png"), full_page=True)
        width_px = page.evaluate("document.documentElement.scrollWidth")
        assert width_px <= width + 1, f"{name}: the page scrolls sideways ({width_px}px)"
        assert (ARTIFACTS / f"tasks-{name}.png").stat().st_size > 10_000


def test_calendar_link_and_ics_import_from_the_page(app_process, browser):
    page = new_page(browser, app_process)
    sign_up(page)
    add_task(page, "Dated")
    page.locator("#calendar summary").click()
    page.get_by_role("button", name="Get calendar link").click()
    wait_js(page, "document.getElementById('feed-url').value.includes('/ical/')")
    url = page.locator("#feed-url").input_value()
    assert requests.get(url, timeout=10).text.startswith("BEGIN:VCALENDAR")
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:a\r\nSUMMARY:From my calendar\r\n"
        "DUE:20270105T090000Z\r\nLOCATION:Home\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
    page.set_input_files("#ics-file", files=[{"name": "a.ics", "mimeType": "text/calendar", "buffer": ics.encode()}])
    page.get_by_role("button", name="Preview import").click()
    summary = "Would create 1 task, 0 recurring series, 0 reminders; not kept: LOCATION."
    expect(page.locator("#ics-result")).to_have_text(summary)
    expect(page.locator("li.task")).to_have_count(1)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(task_row(page, "From my calendar")).to_have_count(1)
    page.get_by_role("button", name="Turn link off").click()
    expect(page.locator("#feed-url")).to_have_value("")
    assert requests.get(url, timeout=10).status_code == 404
    assert page.external_requests == []
