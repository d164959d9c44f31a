"""The web app's page in a test: open it in a fresh context, sign up, quick add, run axe-core over it."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from tests.support.browser import wait_js
from tests.support.paths import TESTS

#: The views of the navigation, in their order.
VIEWS = ("inbox", "today", "upcoming", "completed", "search")
AXE = TESTS / "js" / "node_modules" / "axe-core" / "axe.min.js"


def open_app(browser, app_process, width=1280, height=800, tz="Europe/Paris"):
    """Open the page in a fresh browser context; (context, page), the page noting any CSP refusal."""
    context = browser.new_context(viewport={"width": width, "height": height}, timezone_id=tz)
    page = context.new_page()
    page.csp_refusals = []  # the page's Content-Security-Policy must never have to refuse its own code
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_refusals.append(m.text))
    page.goto(app_process.url + "/")
    return context, page


def signed_up(browser, app_process):
    """A new user signed up in a fresh tab: (context, page, session, API base for that user, auth headers)."""

    context, page = open_app(browser, app_process)
    sign_up(page)
    session = session_of(page)
    headers = {"Authorization": f"Bearer {session['token']}"}
    return context, page, session, f"{app_process.url}/api/{session['userId']}", headers


SESSION_COOKIE = "taskflow_session"


def session_of(page) -> dict:
    """The page's session: {userId, email} as the page keeps it, and `token`, the HttpOnly cookie's JWT
    (a test's API calls use it as a bearer token)."""
    import json

    session = json.loads(page.evaluate("localStorage.getItem('taskflow.session')"))
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return {**session, "token": cookies[SESSION_COOKIE]}


def second_tab(page, app_process, path="/"):
    """Another tab of the same browser (context): signed in by the session cookie, no sign-in; live."""
    other = page.context.new_page()
    other.goto(app_process.url + path)
    expect(other.locator("#live")).to_have_attribute("data-status", "live")
    return other


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        assert AXE.exists(), "make test installs axe-core (npm ci --prefix tests/js)"
        page.evaluate(AXE.read_text())  # from the test's side: the page's CSP allows no inline script
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{v['id']}: {v['help']}" for v in result if v["impact"] in ("serious", "critical")]


def show_view(page, view):
    """Open a view ("today", "list:<id>"…) from the navigation: on a phone through the Menu drawer."""
    if page.locator("#menu-open").is_visible():
        page.locator("#menu-open").click()
    page.locator(f".views button[data-view='{view}']").click()
    expect(page.locator(f".views button[data-view='{view}']")).to_have_attribute("aria-current", "page")


def quick_add(page, line):
    """Type `line` into quick add (the q key) and submit it."""
    # Only once the app has started: starting takes the focus from wherever it is (a q pressed right
    # after a reload, before the session answered, would open quick add and then lose it).
    wait_js(page, "!document.getElementById('app').hidden")
    page.keyboard.press("Escape")
    page.locator("body").press("q")
    expect(page.locator("#quick")).to_be_focused()
    page.locator("#quick").fill(line)
    expect(page.locator("#chips li").first).to_be_visible()
    page.locator("#quick").press("Enter")
    expect(page.locator("#quick")).to_have_value("")


def sign_up(page, email=None, password="correct horse battery"):
    """Create an account from the sign-in form and wait until the page is live; (email, password)."""
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#live")).to_have_attribute("data-status", "live")
    return email, password


def sign_in(page, email, password="correct horse battery"):
    """Sign in from the form and wait until the page is live."""
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#live")).to_have_attribute("data-status", "live")


def add_task(page, title):
    """Add a task from the full form."""
    page.get_by_label("New task", exact=True).fill(title)
    page.get_by_role("button", name="Add task").click()


def task_row(page, title):
    """The task's row in the list."""
    return page.locator(f"li.task[data-title='{title}']")
