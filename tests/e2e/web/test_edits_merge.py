"""Two tabs on one task in the web app: different fields merge, one field in conflict shows both values."""

from __future__ import annotations

import requests
from playwright.sync_api import expect

from tests.support.no_lost_work import WAIT, User, open_panel, patches, row, screenshots, settled, view
from tests.support.webapp import axe_violations


def test_two_tabs_editing_different_fields_of_one_task_keep_both(app_process, browser):
    user = User(browser, app_process)
    task = user.create(title="Renew passport")
    a = user.page
    b = user.tab()
    expect(row(a, "Renew passport")).to_be_visible(timeout=WAIT)
    open_panel(a, "Renew passport")
    a.locator("#p-description").fill("Two photos, the old passport, the form")  # typed, not saved yet
    open_panel(b, "Renew passport")
    b.locator("#p-priority").select_option("high")
    b.locator("#p-tags").fill("admin")
    b.locator("#panel-form button[type=submit]").click()
    expect(b.locator("#toasts")).to_contain_text("Saved.", timeout=WAIT)
    # Tab A sees B's change in the fields it did not touch, and keeps what it typed.
    expect(a.locator("#p-priority")).to_have_value("high", timeout=WAIT)
    expect(a.locator("#p-tags")).to_have_value("admin")
    expect(a.locator("#p-description")).to_have_value("Two photos, the old passport, the form")
    a.locator("#panel-form button[type=submit]").click()
    expect(a.locator("#toasts")).to_contain_text("Saved.", timeout=WAIT)
    stored = user.get(task["id"]).json()
    assert stored["description"] == "Two photos, the old passport, the form"
    assert stored["priority"] == "high" and stored["tags"] == ["admin"]
    # Each tab sent only what its person changed, from the version they started from.
    assert patches(b, task["id"]) == [{"base_version": 1, "changes": {"priority": "high", "tags": ["admin"]}}]
    assert patches(a, task["id"]) == [
        {"base_version": 1, "changes": {"description": "Two photos, the old passport, the form"}}
    ]
    assert not [w for w in a.writes + b.writes if w[0] == "PUT"], "no whole-task PUT"
    user.close()


def test_a_conflict_on_one_field_shows_both_values_and_keeping_yours_saves_it(app_process, browser):
    user = User(browser, app_process)
    task = user.create(title="Book the venue")
    a = user.page
    b = user.tab()
    expect(row(a, "Book the venue")).to_be_visible(timeout=WAIT)
    open_panel(a, "Book the venue")
    a.locator("#p-title").fill("Book the venue for Friday")
    a.locator("#p-priority").select_option("urgent")
    open_panel(b, "Book the venue")
    b.locator("#p-title").fill("Book the venue and the caterer")
    b.locator("#panel-form button[type=submit]").click()
    expect(row(a, "Book the venue and the caterer")).to_be_visible(timeout=WAIT)
    a.locator("#panel-form button[type=submit]").click()
    conflicts = a.locator("#p-conflicts")
    expect(conflicts).to_be_visible(timeout=WAIT)
    title = conflicts.locator("fieldset[data-field='title']")
    expect(title).to_contain_text("Yours: Book the venue for Friday")
    expect(title).to_contain_text("Theirs: Book the venue and the caterer")
    expect(conflicts.locator("fieldset")).to_have_count(1)  # priority was not changed elsewhere
    # Nothing was stored by the refused save: not the title, not the priority sent with it.
    stored = user.get(task["id"]).json()
    assert stored["title"] == "Book the venue and the caterer" and stored["priority"] == "none"
    assert axe_violations(a) == [], "the conflict in the panel"
    screenshots(a, "conflict")
    title.get_by_label("Yours: Book the venue for Friday").check()
    a.get_by_role("button", name="Keep my choices").click()
    expect(a.locator("#p-conflicts")).to_be_hidden(timeout=WAIT)
    expect(a.locator("#toasts")).to_contain_text("Saved.", timeout=WAIT)
    stored = user.get(task["id"]).json()
    assert stored["title"] == "Book the venue for Friday" and stored["priority"] == "urgent"
    sent = patches(a, task["id"])
    assert sent[-1] == {"base_version": 2, "changes": {"title": "Book the venue for Friday", "priority": "urgent"}}
    expect(row(b, "Book the venue for Friday")).to_be_visible(timeout=WAIT)  # the other tab sees it live

    # Keeping theirs: the person's value is dropped because they chose so, and nothing is sent.
    open_panel(b, "Book the venue for Friday")
    b.locator("#p-priority").select_option("low")
    open_panel(a, "Book the venue for Friday")
    a.locator("#p-priority").select_option("medium")
    a.locator("#panel-form button[type=submit]").click()
    expect(a.locator("#toasts")).to_contain_text("Saved.", timeout=WAIT)
    b.locator("#panel-form button[type=submit]").click()
    priority = b.locator("#p-conflicts fieldset[data-field='priority']")
    expect(priority).to_contain_text("Yours: low", timeout=WAIT)
    expect(priority).to_contain_text("Theirs: medium")
    before = len(b.writes)
    priority.get_by_label("Theirs: medium").check()
    b.get_by_role("button", name="Keep my choices").click()
    expect(b.locator("#p-conflicts")).to_be_hidden(timeout=WAIT)
    expect(b.locator("#p-priority")).to_have_value("medium")
    assert len(b.writes) == before
    assert user.get(task["id"]).json()["priority"] == "medium"
    user.close()


def test_the_panel_never_sends_a_zone_a_date_or_a_rule_the_person_did_not_touch(app_process, browser):
    user = User(browser, app_process)  # the browser (and so the user's preference) is in Paris
    series = user.create(
        title="Stand-up", due_date="2027-03-01T09:00", timezone="America/New_York", recurrence_rule="FREQ=DAILY"
    )
    plain = user.create(title="Dentist", due_date="2027-03-02T15:00", timezone="America/New_York")
    page = user.page
    view(page, "all")
    open_panel(page, "Stand-up")
    page.locator("#p-priority").select_option("high")
    page.locator("#panel-form button[type=submit]").click()
    expect(page.locator("#toasts")).to_contain_text("Saved.", timeout=WAIT)
    assert patches(page, series["id"]) == [{"base_version": 1, "changes": {"priority": "high"}}]
    stored = user.get(series["id"]).json()
    assert stored["timezone"] == "America/New_York" and stored["recurrence_rule"] == series["recurrence_rule"]
    assert stored["next_occurrence"] == series["next_occurrence"] and stored["due_date"] == series["due_date"]
    # A due date typed in the panel is the person's wall-clock time (Paris), sent as an instant: the
    # task keeps its own zone.
    page.keyboard.press("Escape")
    open_panel(page, "Dentist")
    expect(page.locator("#p-due")).to_have_value("2027-03-02T21:00")  # 15:00 in New York, in Paris
    page.locator("#p-due").fill("2027-03-02T22:30")
    with page.expect_request_finished(lambda r: r.method == "PATCH", timeout=WAIT):
        page.locator("#panel-form button[type=submit]").click()
    assert patches(page, plain["id"]) == [{"base_version": 1, "changes": {"due_date": "2027-03-02T22:30:00+01:00"}}]
    stored = user.get(plain["id"]).json()
    assert stored["timezone"] == "America/New_York" and stored["due_date"] == "2027-03-02T16:30:00-05:00"
    user.close()


def test_a_change_replayed_after_a_conflict_elsewhere_is_shown_to_the_person(app_process, browser):
    user = User(browser, app_process)
    task = user.create(title="Water the garden")
    page = user.page
    expect(row(page, "Water the garden")).to_be_visible(timeout=WAIT)
    user.context.set_offline(True)
    expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    open_panel(page, "Water the garden")
    page.locator("#p-title").fill("Water the garden and the pots")
    page.locator("#panel-form button[type=submit]").click()
    expect(page.locator("#pending")).to_have_text("1 change waiting", timeout=WAIT)
    page.keyboard.press("Escape")
    # Meanwhile, from another device:
    resp = requests.patch(
        f"{user.api}/tasks/{task['id']}",
        json={"base_version": 1, "changes": {"title": "Water the lawn"}},
        headers=user.headers,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    user.context.set_offline(False)
    # the toast says so when the conflict is found (it lasts a few seconds), the pill stays until reviewed
    expect(page.locator("#toasts")).to_contain_text("choose what to keep", timeout=WAIT)
    expect(page.locator("#pending")).to_have_text("1 to review", timeout=WAIT)
    page.locator("#pending").click()
    title = page.locator("#p-conflicts fieldset[data-field='title']")
    expect(title).to_contain_text("Yours: Water the garden and the pots", timeout=WAIT)
    expect(title).to_contain_text("Theirs: Water the lawn")
    assert user.get(task["id"]).json()["title"] == "Water the lawn"
    with page.expect_request_finished(lambda r: r.method == "PATCH", timeout=WAIT):  # sent again, from theirs
        page.get_by_role("button", name="Keep my choices").click()
    expect(page.locator("#pending")).to_be_hidden(timeout=WAIT)
    settled(page)
    assert user.get(task["id"]).json()["title"] == "Water the garden and the pots"
    user.close()
