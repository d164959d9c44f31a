"""Sections and comments in the web app: a list grouped by section (add, rename, delete with confirmation,
move a task from the panel), a comment added in one tab arriving live in another tab's open panel, and a
comment's text shown as text with its link clickable (never as HTML)."""

from __future__ import annotations

import time
import uuid

import requests
from playwright.sync_api import expect

from tests.support.browser import wait_js
from tests.support.no_lost_work import WAIT, User, open_panel, row, settled
from tests.support.paths import ARTIFACTS
from tests.support.webapp import axe_violations


def section_of(page, title):
    """The name of the section header above a task's row in the list view ('' for the list's top)."""
    return page.evaluate(
        """(title) => {
          let node = document.querySelector(`#tasks li.task[data-title="${title}"]`);
          while ((node = node.previousElementSibling)) {
            if (node.matches("li.section-head")) return (node.querySelector("h3") || {}).textContent || "(busy)";
          }
          return "";
        }""",
        title,
    )


def eventually(read, want, timeout=WAIT / 1000):
    """Wait until read() gives `want` (the page updates on its own); fail naming what it gave last."""
    deadline = time.monotonic() + timeout
    while (got := read()) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert got == want


def test_a_list_is_grouped_by_section_and_a_task_moves_to_a_section_from_the_panel(app_process, browser):
    user = User(browser, app_process)
    page = user.page
    home = requests.post(f"{user.api}/lists", json={"name": "Home"}, headers=user.headers, timeout=10).json()
    user.create(title="Loose end", list_id=home["id"])
    user.create(title="Descale the kettle", list_id=home["id"])
    page.goto(f"{app_process.url}/lists/{home['id']}")
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    expect(row(page, "Loose end")).to_be_visible(timeout=WAIT)

    # Add two sections from the list view.
    for name in ("Kitchen", "Garden"):
        page.get_by_label("New section").fill(name)
        page.get_by_role("button", name="Add section").click()
        expect(page.locator("li.section-head h3", has_text=name)).to_be_visible()
    assert page.locator("li.section-head h3").all_text_contents() == ["Kitchen", "Garden"]

    # Move a task into Kitchen from the panel's Section select (shown because the task is in a list).
    open_panel(page, "Descale the kettle")
    expect(page.locator("#p-section-label")).to_be_visible()
    page.locator("#p-section").select_option(label="Kitchen")
    settled(page)
    eventually(lambda: section_of(page, "Descale the kettle"), "Kitchen")
    assert section_of(page, "Loose end") == ""
    sections = requests.get(f"{user.api}/lists/{home['id']}/sections", headers=user.headers, timeout=10).json()
    kitchen = next(s for s in sections["items"] if s["name"] == "Kitchen")
    assert next(t for t in user.tasks() if t["title"] == "Descale the kettle")["section_id"] == kitchen["id"]
    page.keyboard.press("Escape")

    # A task created in a section elsewhere (the API) shows under it live.
    user.create(
        title="Mow the lawn",
        list_id=home["id"],
        section_id=next(s["id"] for s in sections["items"] if s["name"] == "Garden"),
    )
    expect(row(page, "Mow the lawn")).to_be_visible(timeout=WAIT)
    eventually(lambda: section_of(page, "Mow the lawn"), "Garden")

    # Rename.
    page.get_by_role("button", name="Rename section Kitchen").click()
    page.get_by_label("New name of section Kitchen").fill("Kitchen & pantry")
    page.get_by_label("New name of section Kitchen").press("Enter")
    expect(page.locator("li.section-head h3", has_text="Kitchen & pantry")).to_be_visible()
    assert axe_violations(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sections-list.png"))

    # Delete asks first; its task moves to the list's top.
    page.get_by_role("button", name="Delete section Kitchen & pantry").click()
    expect(page.locator(".section-confirm")).to_contain_text("Its tasks stay in the list")
    page.get_by_role("button", name="Delete section", exact=True).click()
    expect(page.locator("li.section-head")).to_have_count(1)
    expect(page.locator("li.section-head h3")).to_have_text(["Garden"])
    eventually(lambda: section_of(page, "Descale the kettle"), "")
    assert next(t for t in user.tasks() if t["title"] == "Descale the kettle")["section_id"] is None
    user.close()


def test_a_comment_arrives_live_in_another_tabs_open_panel_as_text_with_a_clickable_link(app_process, browser):
    user = User(browser, app_process)
    a = user.page
    task = user.create(title="Renew passport")
    expect(row(a, "Renew passport")).to_be_visible(timeout=WAIT)
    b = user.tab()
    expect(row(b, "Renew passport")).to_be_visible(timeout=WAIT)
    open_panel(b, "Renew passport")
    expect(b.locator("#panel-comments")).to_contain_text("No comments.")

    open_panel(a, "Renew passport")
    text = "<script>window.pwned = 1</script> form at https://example.com/passport?x=1 please"
    a.locator("#comment-text").fill(text)
    a.get_by_role("button", name="Comment", exact=True).click()
    expect(a.locator("#comment-text")).to_have_value("")

    # Tab B's open panel shows it without a reload, as text, its URL a link.
    comment = b.locator("#panel-comments li.comment")
    expect(comment).to_have_count(1, timeout=WAIT)
    expect(comment.locator(".comment-text")).to_have_text(text)
    link = comment.locator(".comment-text a")
    expect(link).to_have_attribute("href", "https://example.com/passport?x=1")
    expect(link).to_have_text("https://example.com/passport?x=1")
    assert comment.locator("script").count() == 0
    assert b.evaluate("window.pwned") is None and a.evaluate("window.pwned") is None
    # The row's comment count, in both tabs.
    expect(row(b, "Renew passport").locator(".badge.comments")).to_have_text("💬 1")
    expect(row(a, "Renew passport").locator(".badge.comments")).to_have_text("💬 1")
    assert axe_violations(b) == []
    ARTIFACTS.mkdir(exist_ok=True)
    b.screenshot(path=str(ARTIFACTS / "comments-panel.png"))

    # Edited in B, the change shows in A; deleted in A, it leaves B.
    b.locator("#panel-comments li.comment").get_by_role("button", name="Edit").click()
    b.get_by_label("Edit the comment").fill("Booked for Monday")
    b.get_by_role("button", name="Save comment").click()
    expect(a.locator("#panel-comments .comment-text")).to_have_text("Booked for Monday", timeout=WAIT)
    expect(a.locator("#panel-comments .comment-meta")).to_contain_text("(edited)")
    a.locator("#panel-comments li.comment").get_by_role("button", name="Delete").click()
    expect(b.locator("#panel-comments")).to_contain_text("No comments.", timeout=WAIT)
    expect(row(b, "Renew passport").locator(".badge.comments")).to_have_count(0)
    comments = requests.get(f"{user.api}/tasks/{task['id']}/comments", headers=user.headers, timeout=10).json()
    assert comments == {"items": []}
    user.close()


def quiet(page, ms=1000):
    """Wait until the rows have not been drawn again for `ms` (a drag whose row is redrawn mid-way is dropped)."""
    page.evaluate(
        """(ms) => new Promise((done) => {
          let timer = setTimeout(finish, ms);
          const watch = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(finish, ms); });
          function finish() { watch.disconnect(); done(); }
          watch.observe(document.getElementById("tasks"), { childList: true, subtree: true });
        })""",
        ms,
    )


def home_with_sections(user, *sections):
    """A list "Home" with sections (in order) of the API; returns the list and {name: section id}."""
    home = requests.post(f"{user.api}/lists", json={"name": "Home"}, headers=user.headers, timeout=10).json()
    ids = {}
    for name in sections:
        resp = requests.post(
            f"{user.api}/lists/{home['id']}/sections", json={"name": name}, headers=user.headers, timeout=10
        )
        assert resp.status_code == 201, resp.text
        ids[name] = resp.json()["id"]
    return home, ids


def test_a_list_shown_offline_after_a_reload_is_still_grouped_by_section(app_process, browser):
    user = User(browser, app_process)
    page = user.page
    home, sections = home_with_sections(user, "Kitchen", "Garden")
    user.create(title="Loose end", list_id=home["id"])
    user.create(title="Descale the kettle", list_id=home["id"], section_id=sections["Kitchen"])
    user.create(title="Mow the lawn", list_id=home["id"], section_id=sections["Garden"])
    page.goto(f"{app_process.url}/lists/{home['id']}")
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    expect(row(page, "Mow the lawn")).to_be_visible(timeout=WAIT)
    eventually(lambda: section_of(page, "Mow the lawn"), "Garden")
    online = page.locator("#tasks").inner_text()
    wait_js(page, "navigator.serviceWorker.controller !== null", timeout=WAIT / 1000)
    copy = "JSON.parse(localStorage.getItem('taskflow.offline') || '{}')"
    wait_js(page, f"(({copy}.sections || {{}})['{home['id']}'] || []).length === 2", timeout=WAIT / 1000)

    # A new start of the page that never opens the list keeps its sections in the offline copy.
    page.goto(f"{app_process.url}/inbox")
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    expect(page.locator("#lists button", has_text="Home")).to_be_visible(timeout=WAIT)
    settled(page)
    page.evaluate("saveOffline()")
    names = page.evaluate(f"({copy}.sections['{home['id']}'] || []).map((s) => s.name)")
    assert names == ["Kitchen", "Garden"]

    # Offline, reloaded: the list from the offline copy, grouped by section in order, as it was online.
    user.context.set_offline(True)
    page.reload()
    expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    page.locator("#lists button", has_text="Home").click()
    expect(row(page, "Mow the lawn")).to_be_visible(timeout=WAIT)
    assert page.locator("li.section-head h3").all_text_contents() == ["Kitchen", "Garden"]
    assert [section_of(page, t) for t in ("Loose end", "Descale the kettle", "Mow the lawn")] == [
        "",
        "Kitchen",
        "Garden",
    ]
    assert page.locator("#tasks").inner_text() == online

    # The list's, a saved filter's and a tag's own addresses open offline too (the service worker's shell).
    for address in (f"/lists/{home['id']}", "/tags/errands", f"/filters/{uuid.uuid4()}"):
        page.goto(app_process.url + address)
        expect(page.locator("#offline-banner")).to_be_visible(timeout=WAIT)
    page.goto(f"{app_process.url}/lists/{home['id']}")
    expect(page.locator("li.section-head h3")).to_have_text(["Kitchen", "Garden"], timeout=WAIT)
    user.context.set_offline(False)
    user.close()


def test_a_task_dragged_onto_a_section_header_goes_first_in_that_section(app_process, browser):
    user = User(browser, app_process)
    page = user.page
    home, sections = home_with_sections(user, "Kitchen", "Garden")
    loose = user.create(title="Loose end", list_id=home["id"])
    user.create(title="Descale the kettle", list_id=home["id"], section_id=sections["Kitchen"], position=5)
    user.create(title="Wipe the hob", list_id=home["id"], section_id=sections["Kitchen"], position=6)
    weed = user.create(title="Weed the beds", list_id=home["id"], section_id=sections["Garden"], position=1)
    page.goto(f"{app_process.url}/lists/{home['id']}")
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    expect(row(page, "Weed the beds")).to_be_visible(timeout=WAIT)
    eventually(lambda: section_of(page, "Weed the beds"), "Garden")
    kitchen = page.locator("li.section-head", has=page.locator("h3", has_text="Kitchen"))

    def kitchen_titles():
        return [
            t
            for t in page.locator("#tasks li.task").evaluate_all("rows => rows.map((r) => r.dataset.title)")
            if section_of(page, t) == "Kitchen"
        ]

    # From the list's top, and from another section (its position below every Kitchen task's): first in Kitchen.
    quiet(page)
    row(page, "Loose end").drag_to(kitchen)
    eventually(kitchen_titles, ["Loose end", "Descale the kettle", "Wipe the hob"])
    settled(page)
    quiet(page)
    row(page, "Weed the beds").drag_to(kitchen)
    eventually(kitchen_titles, ["Weed the beds", "Loose end", "Descale the kettle", "Wipe the hob"])
    expect(page.locator("li.section-head h3", has_text="Garden")).to_be_visible()
    settled(page)
    for task in (loose, weed):
        assert user.get(task["id"]).json()["section_id"] == sections["Kitchen"]

    # As the server has it: after a reload, the same order.
    page.reload()
    expect(row(page, "Wipe the hob")).to_be_visible(timeout=WAIT)
    eventually(kitchen_titles, ["Weed the beds", "Loose end", "Descale the kettle", "Wipe the hob"])
    user.close()
