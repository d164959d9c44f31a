"""The web app as a Todoist user meets it: quick add, views, lists, the side panel, keys, axe-core, offline.

One server and one browser for the module (Playwright is slow); screenshots of each view at
1280x800 and 390x844 go to tests/artifacts/. (On a phone: tests/e2e/web/test_phone.py.)
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.browser import wait_js
from tests.support.net import wait_until
from tests.support.paths import ARTIFACTS
from tests.support.webapp import VIEWS, axe_violations, open_app, quick_add, second_tab, show_view, sign_up, signed_up


def test_quick_add_lists_views_panel_keys_axe_and_screenshots(app_process, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context, page = open_app(browser, app_process)
    sign_up(page)
    # the browser's zone became the user's, once
    expect(page.locator("#settings-open")).to_be_visible()
    page.get_by_label("New list name").fill("Home")
    page.get_by_role("button", name="Add list").click()
    expect(page.locator("#view-title")).to_have_text("Home")
    page.locator(".views button[data-view='inbox']").click()

    # The issue's own line: on the last day of a month "1 day before the 1st" is past for this
    # occurrence, and the series rings before the next one instead.
    quick_add(page, "Pay rent every month on the 1st at 9am #home !high remind 1 day before")
    page.locator("#sidenav button", has_text="Home").click()
    row = page.locator("li.task[data-title='Pay rent']")
    expect(row).to_be_visible()
    expect(row.locator(".badge.recurring")).to_have_text("↻ every month on the 1st at 09:00")
    expect(row.locator(".badge.prio-high")).to_be_visible()
    expect(row.locator(".list-badge")).to_have_count(0)  # in the Home list, rows do not repeat "Home"
    expect(row.locator(".bell")).to_be_visible()
    expect(page.locator("#sidenav button", has_text="Home").locator(".count")).to_have_text("1")
    expect(page.locator("#list-recolor")).to_have_value("#3b82f6")  # the list's own colour
    page.screenshot(path=str(ARTIFACTS / "view-list-desktop.png"))
    page.get_by_role("button", name="Rename").click()  # the same dialog as a phone's "+ New list"
    expect(page.get_by_role("dialog", name="Rename list")).to_be_visible()
    assert axe_violations(page) == [], "rename dialog"
    page.screenshot(path=str(ARTIFACTS / "view-rename-desktop.png"))
    page.get_by_role("button", name="Cancel").click()

    page.locator(".views button[data-view='inbox']").click()
    quick_add(page, "call mom tomorrow 6pm @family")
    mom = page.locator("li.task[data-title='call mom']")
    expect(mom.locator(".due")).to_have_text("Tomorrow 18:00")
    expect(mom.locator(".badge", has_text="@family")).to_be_visible()
    quick_add(page, "standup every weekday at 9:30 until March")
    quick_add(page, "overdue thing 2020-01-02 10:00")
    expect(page.locator("li.task[data-title='overdue thing'] .due.overdue")).to_be_visible()

    # an ambiguous line asks instead of guessing
    page.locator("#quick").fill("dentist at 6")
    expect(page.locator("#questions li")).to_contain_text("morning or in the evening")
    page.locator("#questions button", has_text="6pm").click()
    expect(page.locator("#quick")).to_have_value("dentist at 6pm")
    page.locator("#quick").fill("")

    # keyboard: j moves, x completes, Enter opens the panel, Esc closes, ? helps
    page.locator("#view-title").click()
    page.keyboard.press("j")
    expect(page.locator("li.task.selected")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#panel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.locator("li.task.selected .title")).to_be_focused()  # back on the row it was about
    page.keyboard.press("j")
    expect(page.locator("li.task.selected")).to_have_count(1)
    page.locator("#tasks input.complete").first.focus()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("Escape")

    # the side panel edits fields and another tab sees it live
    other = second_tab(page, app_process)  # the browser's session cookie: no second sign-in
    # a clean row: no buttons but the checkbox, the title and its tags (each opens its @tag filter view);
    # clicking anywhere else on it opens the panel
    buttons = mom.locator("button").evaluate_all("bs => bs.map(b => b.className)")
    assert [b for b in buttons if b != "badge tag-link"] == ["title", "row-delete"]
    assert page.locator(".filters, [data-filter]").count() == 0, "the views replace the old filter buttons"
    mom.locator(".due").click()
    page.locator("#p-title").fill("call mom and dad")
    page.locator("#p-priority").select_option("urgent")
    page.locator("#p-description").fill("see https://example.org/plan")
    page.locator("#panel-form button[type=submit]").click()
    # the tabs of one browser share one queue of changes (either may send it): saved here means settled here
    expect(page.locator(".toast", has_text="Saved.")).to_be_visible()
    expect(other.locator("li.task[data-title='call mom and dad'] .badge.prio-urgent")).to_be_visible()
    expect(page.locator("#p-links a")).to_have_attribute("href", "https://example.org/plan")
    page.locator("#p-repeat").fill("every weekday at 9:30")
    expect(page.locator("#p-preview li")).to_have_count(5)
    page.locator("#p-reminder").select_option("30")
    page.locator("#panel-form button[type=submit]").click()
    dad = other.locator("li.task[data-title='call mom and dad']")
    expect(dad.locator(".badge.recurring")).to_have_text("↻ every weekday at 09:30")
    expect(page.locator("li.task[data-title='call mom and dad'] .bell")).to_be_visible()

    # search is a view: / opens it, it finds open and completed tasks in every list, matches highlighted
    page.locator("li.task[data-title='overdue thing'] input.complete").click()
    expect(page.locator(".toast")).to_have_text("Completed “overdue thing”.Undo×")
    page.locator("#view-title").click()
    page.keyboard.press("/")
    expect(page.locator("#view-title")).to_have_text("Search")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.type("n")
    found = page.locator("#tasks li.task")
    # call mom and dad, Pay rent (in the list Home), standup, overdue thing (completed, so last)
    expect(found).to_have_count(4)
    expect(found.last).to_have_attribute("data-title", "overdue thing")  # completed results come last
    expect(found.last).to_have_class("task done")
    page.keyboard.type("t")
    expect(found).to_have_count(1)
    expect(page.locator("li.task[data-title='Pay rent'] .title mark")).to_have_text("nt")
    page.locator("#search").fill("THING")
    expect(found.locator(".title mark")).to_have_text("thing")
    page.locator("#search").press("Enter")  # to the results: the keys work on them
    expect(found.locator("input.complete")).to_be_focused()
    found.locator("input.complete").click()  # reopened from the results
    expect(found).not_to_have_class("task done")
    page.locator("#search").fill("plan")
    expect(page.locator("li.task[data-title='call mom and dad'] .snippet mark")).to_have_text("plan")
    page.locator(".views button[data-view='inbox']").click()
    quick_add(page, "Buy stamps")
    page.locator("li.task[data-title='Buy stamps'] input.complete").click()
    page.locator(".views button[data-view='completed']").click()
    expect(page.locator("li.task.done[data-title='Buy stamps']")).to_be_visible()
    # added in Today without a date of its own: due today, as in Todoist
    page.locator(".views button[data-view='today']").click()
    quick_add(page, "water the plants")
    expect(page.locator("li.task[data-title='water the plants'] .due")).to_contain_text("Today")

    # views with their grouping, axe on each, screenshots at both sizes
    for view in VIEWS:
        page.locator(f".views button[data-view='{view}']").click()
        assert axe_violations(page) == [], view
    page.locator(".views button[data-view='today']").click()
    expect(page.locator("#tasks li.group h3").first).to_have_text("Overdue")
    page.locator(".views button[data-view='upcoming']").click()
    expect(page.locator("#tasks li.group").first).to_be_visible()
    # a series shows on each of its days in the next 14 days: standup on every weekday
    wait_js(
        page,
        "[...document.querySelectorAll('#tasks li.task')].filter(li => li.textContent.includes('standup')).length >= 9",
    )
    days = page.locator("#tasks li.group").evaluate_all("els => els.map(e => e.dataset.day)")
    assert len(days) == len(set(days)) >= 9 and days == sorted(days)
    for name, (width, height) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
        page.set_viewport_size({"width": width, "height": height})
        for view in VIEWS:
            show_view(page, view)  # on a phone, from the Menu
            page.screenshot(path=str(ARTIFACTS / f"view-{view}-{name}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (view, name)

    assert page.csp_refusals == []

    # deleting a list hides it and its tasks, undo brings them back
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#sidenav button", has_text="Home").click()
    page.get_by_role("button", name="Delete list").click()
    expect(page.locator("#sidenav button", has_text="Home")).to_have_count(0)
    page.locator(".toast button", has_text="Undo").click()
    expect(page.locator("#sidenav button", has_text="Home")).to_have_count(1)

    # archiving hides a list from the navigation; restoring brings it back
    page.locator("#lists button", has_text="Home").click()
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#lists button", has_text="Home")).to_have_count(0)
    page.locator("#archived-wrap summary").click()
    page.get_by_role("button", name="Restore Home").click()
    expect(page.locator("#view-title")).to_have_text("Home")
    expect(page.locator("#lists button", has_text="Home")).to_have_count(1)

    # offline: the shell and the last loaded tasks, read-only
    wait_js(page, "navigator.serviceWorker.controller !== null")
    context.set_offline(True)
    page.reload()  # the shell comes from the service worker's cache, at the list's own address
    expect(page.locator("#offline-banner")).to_be_visible()
    expect(page.locator("#view-title")).to_have_text("Home")
    expect(page.locator("li.task[data-title='Pay rent']")).to_be_visible()
    page.locator(".views button[data-view='inbox']").click()
    expect(page.locator("li.task[data-title='call mom and dad']")).to_be_visible()
    expect(page.locator("#quick-form")).to_be_visible()  # a line typed offline waits on the device
    context.set_offline(False)
    context.close()


def test_skip_one_instance_and_stop_the_series_from_the_panel(app_process, browser, pg_url):

    import requests
    import sqlalchemy as sa

    from shared.persistence.db import make_engine

    context, page, session, api, headers = signed_up(browser, app_process)
    base = f"{api}/tasks"

    def series(title, **extra):
        body = {"title": title, "due_date": "2030-01-01T09:00", "timezone": "UTC", "recurrence_rule": "FREQ=DAILY"}
        body.update(extra)
        resp = requests.post(base, json=body, headers=headers, timeout=10)
        assert resp.status_code == 201, resp.text
        return resp.json()

    water = series("Water plants", reminders=[{"minutes_before": 60}])
    # Make the series due now; creating another series wakes the recurrence timer, which spawns it.
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE tasks SET next_occurrence = now() - interval '1 minute' WHERE id = :id"),
            {"id": water["id"]},
        )
    engine.dispose()
    series("Wake the timer")
    page.locator(".views button[data-view='all']").click()
    rows = page.locator("li.task[data-title='Water plants']")
    expect(rows).to_have_count(2, timeout=30_000)
    instance = page.locator(f"li.task[data-title='Water plants']:not([data-id='{water['id']}'])")
    expect(instance.locator(".bell")).to_be_visible()  # the series rings for it
    instance.locator(".title").click()
    expect(page.locator("#p-skip")).to_be_visible()
    expect(page.locator("#panel-reminders")).to_contain_text("1 hour before, every occurrence (set on the series)")
    page.locator("#p-skip").click()
    expect(rows).to_have_count(1)
    engine = make_engine(pg_url)
    with engine.connect() as conn:  # recorded as skipped: never respawned, an EXDATE in calendar feeds
        skipped = conn.scalar(
            sa.text("SELECT count(*) FROM skipped_occurrences WHERE series_id = :id"), {"id": water["id"]}
        )
    engine.dispose()
    assert skipped == 1
    series_row = page.locator(f"li.task[data-id='{water['id']}']")
    expect(series_row.locator(".badge.recurring")).to_be_visible()
    series_row.locator(".title").click()
    # the series' own panel skips its next occurrence (not yet spawned): the series moves on
    next_before = requests.get(f"{base}/{water['id']}", headers=headers, timeout=10).json()["next_occurrence"]
    expect(page.locator("#p-skip")).to_be_visible()
    page.locator("#p-skip").click()
    wait_until(
        lambda: (
            requests.get(f"{base}/{water['id']}", headers=headers, timeout=10).json()["next_occurrence"] > next_before
        ),
        message="the series' next occurrence skipped",
    )
    expect(series_row).to_have_count(1)
    page.locator("#p-stop").click()
    expect(series_row.locator(".badge.recurring")).to_have_count(0)
    resp = requests.get(f"{base}/{water['id']}", headers=headers, timeout=10)
    assert resp.json()["recurrence_rule"] is None
    context.close()


def test_ticking_a_recurring_task_completes_its_next_occurrence_and_undo_reopens_it(app_process, browser):

    import requests

    context, page, session, api, headers = signed_up(browser, app_process)
    base = f"{api}/tasks"
    body = {"title": "Team sync", "due_date": "2030-01-07T09:00", "timezone": "UTC", "recurrence_rule": "FREQ=WEEKLY"}
    series = requests.post(base, json=body, headers=headers, timeout=10).json()
    page.locator(".views button[data-view='all']").click()
    row = page.locator(f"li.task[data-id='{series['id']}']")
    expect(row).to_be_visible()
    row.locator("input.complete").click()  # one click: the series row re-renders open (check() would click again)
    expect(page.locator("#toasts")).to_contain_text("Done: “Team sync”")
    expect(page.locator("#toasts")).to_contain_text("Next:")
    stored = requests.get(f"{base}/{series['id']}", headers=headers, timeout=10).json()
    assert stored["completed"] is False and stored["next_occurrence"] == "2030-01-14T09:00:00+00:00"
    expect(row.locator("input.complete")).not_to_be_checked()  # the series stays open
    page.locator(".views button[data-view='completed']").click()
    expect(page.locator("li.task[data-title='Team sync']")).to_have_count(1)  # the occurrence, done
    page.locator("#toasts button", has_text="Undo").click()
    expect(page.locator("li.task[data-title='Team sync']")).to_have_count(0)
    # Undo goes out through the page's queue of changes: the server has it once the queue is sent.
    wait_until(
        lambda: requests.get(f"{base}?completed=true", headers=headers, timeout=10).json()["items"] == [],
        message="the undo to reach the server",
    )
    context.close()


def test_the_side_panel_edits_due_date_tags_and_list_and_another_tab_sees_them(app_process, browser):

    import requests

    context, page, session, api, headers = signed_up(browser, app_process)
    requests.post(f"{api}/lists", json={"name": "Errands"}, headers=headers, timeout=10).raise_for_status()
    page.reload()
    quick_add(page, "renew passport")
    page.keyboard.press("Escape")
    other = second_tab(page, app_process)
    other.locator(".views button[data-view='all']").click()
    row = page.locator("li.task[data-title='renew passport']")
    row.locator(".title").click()
    page.locator("#p-due").fill("2031-05-06T10:15")
    page.locator("#p-tags").fill("admin, travel")
    page.locator("#p-list").select_option(label="Errands")
    page.locator("#panel-form button[type=submit]").click()
    expect(page.locator(".toast", has_text="Saved.")).to_be_visible()  # the server has it, not only this browser
    seen = other.locator("li.task[data-title='renew passport']")
    expect(seen.locator(".list-badge")).to_have_text("Errands")
    expect(seen.locator(".badge", has_text="@travel")).to_be_visible()
    expect(seen.locator(".due")).to_contain_text("10:15")
    [task] = requests.get(f"{api}/tasks", headers=headers, timeout=10).json()["items"]
    assert task["due_date"] == "2031-05-06T10:15:00+02:00" and task["tags"] == ["admin", "travel"]
    lists = requests.get(f"{api}/lists", headers=headers, timeout=10).json()["items"]
    assert task["list_id"] == lists[0]["id"]
    context.close()


def test_drag_to_reorder_is_kept_after_a_reload(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    for title in ("first", "second", "third"):
        quick_add(page, title)
    titles = "els => els.map(e => e.dataset.title)"
    rows = page.locator("#tasks li.task[data-id]")
    expect(rows).to_have_count(3)
    before = rows.evaluate_all(titles)
    page.locator("li.task[data-id] >> nth=2").drag_to(page.locator("li.task[data-id] >> nth=0"))
    moved = [before[2], before[0], before[1]]
    expect(rows).to_have_count(3)
    wait_js(
        page,
        "[...document.querySelectorAll('#tasks li.task[data-id]')].map(e => e.dataset.title).join()"
        f" === {','.join(moved)!r}",
    )
    page.wait_for_timeout(300)  # the changed positions, sent through PATCH
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    expect(rows).to_have_count(3)
    assert rows.evaluate_all(titles) == moved
    context.close()


def test_list_events_reach_open_sockets_and_the_audit_log(app_process):
    import json

    import websocket

    from tests.support.live import Client
    from tests.support.net import wait_until

    client = Client(app_process.url).signup()
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{app_process.port}/ws/user/{client.user_id}/tasks?token={client.token}", timeout=5
    )
    try:
        created = client.request("POST", "/api/{me}/lists", json={"name": "Garden", "color": "#22aa55"}).json()
        client.request("PUT", f"/api/{{me}}/lists/{created['id']}", json={"name": "Yard"})
        seen = []
        while len(seen) < 2:
            message = json.loads(ws.recv())
            if message["type"] != "ping":
                seen.append((message["type"], message["data"]["name"]))
        assert seen == [("list.created", "Garden"), ("list.updated", "Yard")]
    finally:
        ws.close()
    history = wait_until(
        lambda: (lambda items: items if len(items) == 2 else None)(
            client.request("GET", f"/api/{{me}}/events?aggregate_id={created['id']}").json()["items"]
        ),
        message="two list events in the audit log",
    )
    assert [e["event_type"] for e in history] == ["list.created", "list.updated"]
