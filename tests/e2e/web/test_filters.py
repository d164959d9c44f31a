"""Saved filters in the web app: save one (a query that does not read says why), see it in the
navigation with its count, open it, watch the count follow a matching task added in another tab;
a row's @tag opens the @tag filter view; the search box runs a query that reads as a filter."""

from __future__ import annotations

import json

import requests
from playwright.sync_api import expect

from tests.support.webapp import axe_violations, open_app, signed_up

try:  # the session cookie signs a second tab in (once the web app has one), else the tab's own session
    from tests.support.webapp import second_tab
except ImportError:
    second_tab = None


def other_tab(browser, app_process, page, session):
    """Another tab of the same person, live."""
    if second_tab is not None:
        return second_tab(page, app_process)
    _, other = open_app(browser, app_process)
    other.evaluate(f"sessionStorage.setItem('taskflow.session', {json.dumps(json.dumps(session))})")
    other.reload()
    expect(other.locator("#live")).to_have_attribute("data-status", "live")
    return other


TASKS = (
    {"title": "call the bank", "priority": "urgent", "tags": ["phone"]},
    {"title": "chase the plumber", "priority": "urgent", "tags": ["waiting"]},
    {"title": "read a book", "priority": "low", "tags": ["phone"]},
)


def signed_up_with(browser, app_process, *tasks):
    """A new user with these tasks (made with the API), shown in the page: as signed_up answers."""
    context, page, session, api, headers = signed_up(browser, app_process)
    for body in tasks:
        requests.post(f"{api}/tasks", json=body, headers=headers, timeout=10).raise_for_status()
    page.reload()
    expect(page.locator(f"li.task[data-title={json.dumps(tasks[-1]['title'])}]")).to_be_visible()
    return context, page, session, api, headers


def test_a_saved_filter_in_the_navigation_live_and_a_tag_opens_its_view(app_process, browser):
    context, page, session, api, headers = signed_up_with(browser, app_process, *TASKS)

    page.locator("#filter-dialog-open").click()
    page.locator("#fd-name").fill("Urgent, not waiting")
    page.locator("#fd-query").fill("p1 & !@waiting &")
    page.locator("#fd-save").click()
    expect(page.locator("#fd-message")).to_contain_text("expected a term")
    expect(page.locator("#fd-message")).to_contain_text("at 16")
    page.locator("#fd-query").fill("p1 & !@waiting")
    page.locator("#fd-save").click()
    expect(page.locator("#filter-dialog")).not_to_be_visible()

    nav = page.locator("#filters button[data-view^='filter:']", has_text="Urgent, not waiting")
    expect(nav.locator(".count")).to_have_text("1")
    expect(page.locator("#view-title")).to_have_text("Urgent, not waiting")
    expect(page.locator("#tasks li.task")).to_have_count(1)
    expect(page.locator("li.task[data-title='call the bank']")).to_be_visible()
    assert axe_violations(page) == []

    # Another tab of the same person adds a matching task: the count and the open view follow, live.
    other = other_tab(browser, app_process, page, session)
    expect(other.locator("#filters button[data-view^='filter:']")).to_have_count(1)
    requests.post(f"{api}/tasks", json={"title": "pay rent", "priority": "urgent"}, headers=headers, timeout=10)
    expect(nav.locator(".count")).to_have_text("2")
    expect(page.locator("li.task[data-title='pay rent']")).to_be_visible()
    expect(other.locator("#filters .count")).to_have_text("2")

    # Clicking a tag on a row opens the @tag view.
    page.locator(".views button[data-view='all']").click()
    page.locator("li.task[data-title='read a book'] .tag-link", has_text="@phone").click()
    expect(page.locator("#view-title")).to_have_text("@phone")
    expect(page.locator("#tasks li.task")).to_have_count(2)
    expect(page.locator("li.task[data-title='call the bank']")).to_be_visible()
    expect(page.locator("#panel")).not_to_be_visible()

    # The search box understands the language; text that does not read is searched as text.
    page.locator(".views button[data-view='search']").click()
    page.locator("#search").fill("p1 & @phone")
    expect(page.locator("#search-hint")).to_contain_text("1 task")
    expect(page.locator("#tasks li.task")).to_have_count(1)
    page.locator("#search").fill("@phone &")
    expect(page.locator("#search-hint")).to_contain_text("Not a filter")
    page.locator("#search").fill("plumber")
    expect(page.locator("#tasks li.task")).to_have_count(1)
    expect(page.locator("li.task[data-title='chase the plumber']")).to_be_visible()

    # Edit, then delete, from the navigation.
    page.locator("#filters .filter-edit").click()
    page.locator("#fd-name").fill("Now")
    page.locator("#fd-save").click()
    expect(page.locator("#filters button[data-view^='filter:']")).to_have_text("Now2")
    page.locator("#filters .filter-edit").click()
    page.locator("#fd-delete").click()
    expect(page.locator("#filters li")).to_have_count(0)
    expect(other.locator("#filters li")).to_have_count(0)
    assert page.csp_refusals == []
    context.close()


def test_a_search_the_server_read_as_a_query_is_saved_as_a_filter_in_the_navigation(app_process, browser):
    context, page, _, api, headers = signed_up_with(browser, app_process, *TASKS)
    page.locator(".views button[data-view='search']").click()
    save = page.get_by_role("button", name="Save as filter")

    # Plain text, or a query that does not read: nothing to save.
    page.locator("#search").fill("plumber")
    expect(page.locator("#tasks li.task")).to_have_count(1)
    expect(save).to_be_hidden()
    page.locator("#search").fill("p1 & @phone &")
    expect(page.locator("#search-hint")).to_contain_text("Not a filter")
    expect(save).to_be_hidden()

    # A query the server read: saved under a name asked inline, the query itself unless changed.
    page.locator("#search").fill("p1 & @phone")
    expect(page.locator("#search-hint")).to_contain_text("1 task")
    save.click()
    name = page.get_by_label("Name of the new filter")
    expect(name).to_be_focused()
    expect(name).to_have_value("p1 & @phone")
    assert axe_violations(page) == []
    name.fill("Urgent calls")
    name.press("Enter")
    expect(page.locator("#save-search-message")).to_have_text("Saved as the filter “Urgent calls”.")
    nav = page.locator("#filters button[data-view^='filter:']", has_text="Urgent calls")
    expect(nav.locator(".count")).to_have_text("1")
    saved = requests.get(f"{api}/filters", headers=headers, timeout=10).json()["items"]
    assert [(f["name"], f["query"]) for f in saved] == [("Urgent calls", "p1 & @phone")]

    # Esc puts the name away; the default name is the query; the saved view opens from the navigation.
    page.locator("#search").fill("@phone")
    expect(page.locator("#search-hint")).to_contain_text("2 tasks")
    expect(page.locator("#save-search-message")).to_have_text("")
    save.click()
    name.press("Escape")
    expect(name).to_be_hidden()
    expect(page.locator("#search")).to_be_focused()
    save.click()
    page.get_by_role("button", name="Save filter").click()
    expect(page.locator("#filters button[data-view^='filter:']", has_text="@phone").locator(".count")).to_have_text("2")
    nav.click()
    expect(page.locator("#view-title")).to_have_text("Urgent calls")
    expect(page.locator("#tasks li.task")).to_have_count(1)
    assert page.csp_refusals == []
    context.close()
