"""Sub-tasks in the web app: Tab indents the selected row under the one above, a parent collapses and shows
its progress, the panel adds sub-tasks, and completing a parent ticks its sub-tasks with one Undo."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.no_lost_work import WAIT, User, open_panel, patches, row, settled, view
from tests.support.webapp import axe_violations


def test_indent_collapse_progress_and_complete_the_parent(app_process, browser):
    user = User(browser, app_process)
    page = user.page
    tickets = user.create(title="Book tickets")
    trip = user.create(title="Plan the trip")  # newer: above "Book tickets" in All
    user.create(title="Pack", parent_task_id=trip["id"])
    view(page, "all")
    expect(row(page, "Pack")).to_have_attribute("data-depth", "1", timeout=WAIT)
    expect(row(page, "Plan the trip").locator(".subtask-progress")).to_have_text("0/1")

    # Tab on "Book tickets" (selected with the keyboard) puts it under the row above at its level.
    row(page, "Book tickets").locator("input.complete").focus()
    page.keyboard.press("Tab")
    expect(row(page, "Book tickets")).to_have_attribute("data-depth", "1")
    settled(page)
    assert patches(page, tickets["id"]) == [{"base_version": 1, "changes": {"parent_task_id": trip["id"]}}]
    assert user.get(tickets["id"]).json()["parent_task_id"] == trip["id"]
    expect(row(page, "Book tickets")).to_have_attribute("data-depth", "1")
    expect(row(page, "Plan the trip").locator(".subtask-progress")).to_have_text("0/2")
    # Shift-Tab takes it out again, and Tab puts it back.
    row(page, "Book tickets").locator("input.complete").focus()
    page.keyboard.press("Shift+Tab")
    expect(row(page, "Book tickets")).not_to_have_attribute("data-depth", "1")
    settled(page)
    assert user.get(tickets["id"]).json()["parent_task_id"] is None
    row(page, "Book tickets").locator("input.complete").focus()
    page.keyboard.press("Tab")
    expect(row(page, "Book tickets")).to_have_attribute("data-depth", "1")
    settled(page)

    # Collapse hides the sub-tasks, and stays collapsed after a reload.
    row(page, "Plan the trip").locator(".subtask-toggle").click()
    expect(row(page, "Pack")).to_have_count(0)
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    view(page, "all")
    expect(row(page, "Plan the trip")).to_be_visible()
    expect(row(page, "Pack")).to_have_count(0)
    row(page, "Plan the trip").locator(".subtask-toggle").click()
    expect(row(page, "Pack")).to_be_visible()

    # The panel lists the sub-tasks and adds one.
    open_panel(page, "Plan the trip")
    expect(page.locator("#p-subtasks li")).to_have_count(2)
    page.locator("#p-subtask-title").fill("Renew passport")
    page.locator("#p-subtask-title").press("Enter")
    expect(page.locator("#p-subtasks li")).to_have_count(3, timeout=WAIT)
    settled(page)
    expect(row(page, "Renew passport")).to_have_attribute("data-depth", "1")
    expect(row(page, "Plan the trip").locator(".subtask-progress")).to_have_text("0/3")
    assert axe_violations(page) == []
    page.keyboard.press("Escape")

    # Completing the parent ticks its sub-tasks; one Undo brings them all back.
    row(page, "Plan the trip").locator("input.complete").click()
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("and 3 sub-tasks")  # shown once the server has it
    settled(page)
    expect(row(page, "Pack")).to_have_count(0)  # done: out of All
    assert all(t["completed"] for t in user.tasks())
    toast.get_by_role("button", name="Undo").click()
    expect(row(page, "Pack")).to_be_visible()
    settled(page)
    page.wait_for_function("[...state.tasks.values()].every((t) => !t.completed)", timeout=WAIT)
    assert not any(t["completed"] for t in user.tasks())
    expect(row(page, "Pack")).to_be_visible()
    expect(row(page, "Plan the trip").locator(".subtask-progress")).to_have_text("0/3")
    user.close()
