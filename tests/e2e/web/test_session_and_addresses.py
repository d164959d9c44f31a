"""One sign-in per browser, an address for every view, the keyboard right after sign-in, where new
tasks go, a changed task that asks before it is discarded, and settings that confirm (issue 24)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.webapp import (
    axe_violations,
    open_app,
    quick_add,
    second_tab,
    sign_in,
    sign_up,
    task_row,
)


def path_of(page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def add_list(page, name):
    page.get_by_label("New list name").fill(name)
    page.get_by_role("button", name="Add list").click()
    expect(page.locator("#view-title")).to_have_text(name)


def view(page, name):
    page.locator(f".views button[data-view='{name}']").click()


def test_one_sign_in_serves_every_tab_a_reload_and_signing_out(app_process, browser):
    context, page = open_app(browser, app_process)
    email, password = sign_up(page)
    assert page.evaluate("sessionStorage.length") == 0, "nothing of the session is per tab"
    assert "taskflow_session" not in page.evaluate("document.cookie"), "the session cookie is HttpOnly"
    # a second tab and a reload: signed in, no form
    other = second_tab(page, app_process)
    expect(other.locator("#auth")).to_be_hidden()
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    expect(page.locator("#auth")).to_be_hidden()
    # signing out in one tab signs out the other; signing in again in one signs in the other
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#auth")).to_be_visible()
    expect(other.locator("#auth")).to_be_visible()
    sign_in(other, email, password)
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    expect(page.locator("#auth")).to_be_hidden()
    context.close()


def test_sign_out_everywhere_ends_the_other_browsers_session(app_process, browser):
    context, page = open_app(browser, app_process)
    email, password = sign_up(page)
    elsewhere, there = open_app(browser, app_process)  # another browser: its own sign-in
    sign_in(there, email, password)
    page.get_by_role("button", name="Settings").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page.locator("#auth")).to_be_visible()
    expect(page.locator("#auth-message")).to_contain_text("everywhere")
    there.reload()
    expect(there.locator("#auth")).to_be_visible()
    expect(there.locator("#auth-message")).to_contain_text("sign in again")
    elsewhere.close()
    context.close()


def test_every_view_has_an_address_that_survives_reload_and_the_back_button(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    view(page, "today")
    expect(page).to_have_url(re.compile(r"/today$"))
    view(page, "upcoming")
    add_list(page, "Work")
    expect(page).to_have_url(re.compile(r"/lists/[0-9a-f-]{36}$"))
    work = path_of(page)
    page.reload()
    expect(page.locator("#view-title")).to_have_text("Work")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/upcoming$"))
    expect(page.locator("#view-title")).to_have_text("Upcoming")
    page.go_back()
    expect(page.locator("#view-title")).to_have_text("Today")
    page.go_forward()
    page.go_forward()
    expect(page.locator("#view-title")).to_have_text("Work")
    assert path_of(page) == work
    # a task open in the panel is an address too; closing it goes back to the view's
    quick_add(page, "Write the report")
    task_row(page, "Write the report").locator(".title").click()
    expect(page).to_have_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    page.reload()
    expect(page.locator("#panel")).to_be_visible()
    expect(page.locator("#p-title")).to_have_value("Write the report")
    page.keyboard.press("Escape")
    expect(page.locator("#panel")).to_be_hidden()
    assert path_of(page) == work
    # search keeps its words
    view(page, "search")
    page.locator("#search").fill("report")
    expect(page).to_have_url(re.compile(r"/search\?q=report$"))
    page.reload()
    expect(page.locator("#search")).to_have_value("report")
    expect(task_row(page, "Write the report")).to_be_visible()
    # the settings have one too; the server serves the page at each address and not over the API's
    page.goto(app_process.url + "/settings")
    expect(page.locator("#settings")).to_be_visible()
    assert page.request.get(app_process.url + "/health").json()["status"] == "ok"
    assert page.request.get(app_process.url + "/today").headers["content-type"].startswith("text/html")
    assert page.request.get(app_process.url + "/lists/not-an-id").status == 404
    context.close()


def test_shortcuts_work_right_after_sign_in_and_never_type_into_a_box(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    assert page.evaluate("document.activeElement === document.body"), "nothing is focused after sign-in"
    page.keyboard.type("jj?")
    expect(page.locator("#shortcuts")).to_be_visible()
    assert page.evaluate("[...document.querySelectorAll('input, textarea')].every(i => !i.value.includes('j'))")
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts")).to_be_hidden()
    # the closed dialog hands the focus back before the next key is the page's (a key pressed meanwhile
    # still goes to the dialog, which shortcuts ignore)
    page.wait_for_function("!document.activeElement.closest('dialog')")
    page.keyboard.press("q")
    expect(page.locator("#quick")).to_be_focused()
    expect(page.locator("#quick")).to_have_value("")
    page.keyboard.press("Escape")
    expect(page.locator("#quick")).not_to_be_focused()
    # Esc leaves the search box too, and q then opens quick add instead of typing a q
    page.keyboard.press("/")
    expect(page.locator("#search")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#search")).not_to_be_focused()
    page.keyboard.press("q")
    expect(page.locator("#quick")).to_be_focused()
    expect(page.locator("#search")).to_have_value("")
    context.close()


def test_a_task_lands_where_it_was_added_or_says_where_it_went(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    add_list(page, "Work")
    quick_add(page, "Prepare the slides")
    expect(task_row(page, "Prepare the slides")).to_be_visible()
    # in the list's own view no badge repeats the list; elsewhere the row names it
    expect(task_row(page, "Prepare the slides").locator(".list-badge")).to_have_count(0)
    view(page, "all")
    expect(task_row(page, "Prepare the slides").locator(".list-badge")).to_have_text("Work")
    page.locator("#lists button", has_text="Work").click()
    expect(page.locator("#view-title")).to_have_text("Work")
    # the full form's List field starts at the list in view
    page.locator("#more summary").click()
    expect(page.locator("#task-list option:checked")).to_have_text("Work")
    page.get_by_label("New task", exact=True).fill("Book the room")
    page.get_by_role("button", name="Add task").click()
    expect(task_row(page, "Book the room")).to_be_visible()
    expect(page.locator(".toast", has_text="Added to")).to_have_count(0)
    # a dateless task from Upcoming would vanish: a toast says where it went and opens it
    view(page, "upcoming")
    quick_add(page, "Call the bank")
    toast = page.locator(".toast", has_text="Added to Inbox.")
    expect(toast).to_be_visible()
    toast.get_by_role("button", name="Open Inbox").click()
    expect(page.locator("#view-title")).to_have_text("Inbox")
    expect(task_row(page, "Call the bank")).to_be_visible()
    context.close()


def test_a_changed_task_asks_before_its_changes_are_discarded(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    quick_add(page, "Edit me")
    task_row(page, "Edit me").locator(".title").click()
    page.locator("#p-title").fill("Edited but not saved")
    asked = []

    def answer(accept):
        def handle(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    view(page, "today")
    expect(page.locator("#panel")).to_be_visible()
    expect(page.locator("#p-title")).to_have_value("Edited but not saved")
    expect(page.locator("#view-title")).to_have_text("Inbox")
    page.once("dialog", answer(False))
    page.go_back()
    expect(page.locator("#p-title")).to_have_value("Edited but not saved")
    page.once("dialog", answer(False))
    page.locator("#p-title").press("Escape")
    expect(page.locator("#panel")).to_be_visible()
    assert asked == ["Discard changes?"] * 3
    # closing the page asks too (beforeunload)
    unload = []
    page.once("dialog", lambda dialog: (unload.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert unload == ["beforeunload"]
    page = context.new_page()
    page.goto(app_process.url + "/inbox")
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    task_row(page, "Edit me").locator(".title").click()
    page.locator("#p-title").fill("Thrown away")
    page.once("dialog", answer(True))
    view(page, "today")
    expect(page.locator("#panel")).to_be_hidden()
    expect(page.locator("#view-title")).to_have_text("Today")
    view(page, "inbox")
    expect(task_row(page, "Edit me")).to_be_visible()
    context.close()


def test_settings_confirm_offer_email_only_with_email_and_show_the_calendar_link_again(app_process, browser):
    context, page = open_app(browser, app_process)
    sign_up(page)
    page.get_by_role("button", name="Settings").click()
    expect(page.locator("#settings")).to_be_visible()
    expect(page.get_by_label("Email me reminders")).to_be_hidden()  # this server has no SMTP_URL
    assert axe_violations(page) == [], "settings"
    page.locator("#s-reminder").select_option("30")
    page.locator("#settings-form button[type=submit]").click()
    expect(page.locator(".toast", has_text="Settings saved.")).to_be_visible()
    # the calendar link: made once, shown again after a reload, replaced only after a warning
    page.locator("#calendar summary").click()
    page.get_by_role("button", name="Get calendar link").click()
    expect(page.locator("#feed-url")).to_have_value(re.compile(r"/ical/.+\.ics$"))
    link = page.locator("#feed-url").input_value()
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    page.locator("#calendar summary").click()
    expect(page.locator("#feed-url")).to_have_value(link)
    warnings = []
    page.once("dialog", lambda dialog: (warnings.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Replace link").click()
    expect(page.locator("#feed-url")).to_have_value(link)
    assert "stop" in warnings[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replace link").click()
    expect(page.locator("#feed-url")).not_to_have_value(link)
    assert page.request.get(link).status == 404
    assert page.request.get(page.locator("#feed-url").input_value()).status == 200
    assert axe_violations(page) == [], "calendar"
    context.close()
