"""The web app on a phone (390x844): dark mode, sign-in and settings pass axe-core, lists from the Menu drawer.

One server and one browser for the module; screenshots go to tests/artifacts/.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.support.paths import ARTIFACTS
from tests.support.webapp import VIEWS, axe_violations, open_app, quick_add, show_view, sign_up


def test_dark_mode_phone_sign_in_and_settings_pass_axe(app_process, browser):
    context = browser.new_context(viewport={"width": 390, "height": 844}, timezone_id="Asia/Tokyo", color_scheme="dark")
    page = context.new_page()
    page.goto(app_process.url + "/")
    assert axe_violations(page) == [], "sign-in"
    page.screenshot(path=str(ARTIFACTS / "view-signin-dark-phone.png"), full_page=True)
    sign_up(page)
    # on a phone the list comes first and quick add is one tap away, behind the floating +
    expect(page.locator("#quick-form")).to_be_hidden()
    page.get_by_role("button", name="Quick add a task").click()
    expect(page.locator("#quick")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#quick-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Quick add a task")).to_be_visible()
    quick_add(page, "Pay rent every month on the 1st at 9am !high remind 1 day before")
    quick_add(page, "overdue thing 2020-01-02 10:00 @late")
    page.keyboard.press("Escape")
    expect(page.locator("#tasks li.task")).to_have_count(2)
    top = page.evaluate("document.querySelector('#tasks li.task').getBoundingClientRect().top")
    assert top < 844 / 3, "the list is the first thing"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 18, 18)"
    for name, (width, height) in {"phone": (390, 844), "desktop": (1280, 800)}.items():
        page.set_viewport_size({"width": width, "height": height})
        expect(page.get_by_role("button", name="Quick add a task")).to_be_visible(visible=name == "phone")
        for view in VIEWS:
            show_view(page, view)  # on a phone, from the Menu
            if view == "search":
                page.locator("#search").fill("thing")
                expect(page.locator("#tasks mark")).to_have_text("thing")
            assert axe_violations(page) == [], (view, name)
            page.screenshot(path=str(ARTIFACTS / f"view-{view}-dark-{name}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (view, name)
    show_view(page, "inbox")
    page.locator("li.task[data-title='Pay rent']").click()
    expect(page.locator("#panel")).to_be_visible()
    assert axe_violations(page) == [], "panel"
    page.screenshot(path=str(ARTIFACTS / "view-panel-dark-desktop.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "view-panel-dark-phone.png"))
    page.keyboard.press("Escape")
    # settings: the zone detected on first sign-in is stored, and can be changed
    page.get_by_role("button", name="Settings").click()
    expect(page.locator("#s-tz")).to_have_value("Asia/Tokyo")
    assert axe_violations(page) == [], "settings"
    page.screenshot(path=str(ARTIFACTS / "view-settings-dark-phone.png"))
    page.locator("#s-tz").select_option("Europe/Paris")
    page.locator("#s-reminder").select_option("60")
    page.locator("#settings-form button[type=submit]").click()
    expect(page.locator("#settings")).to_be_hidden()
    prefs = page.evaluate(
        """() => {
          const s = JSON.parse(localStorage.getItem('taskflow.session'));
          const headers = {'X-Requested-With': 'fetch'};
          return fetch(`/api/${s.userId}/preferences`, {headers}).then(r => r.json());
        }"""
    )
    assert prefs["timezone"] == "Europe/Paris" and prefs["default_reminder_minutes"] == 60
    # 10:00 in Tokyo is shown as 02:00 once the user's zone is Paris: one zone everywhere
    show_view(page, "today")
    expect(page.locator("li.task .due.overdue")).to_have_text("2 Jan 2020 02:00")
    context.close()


def test_a_phone_makes_renames_and_archives_a_list_from_the_menu(app_process, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    context, page = open_app(browser, app_process, 390, 844)
    sign_up(page)
    for name in ("Home", "Work", "Garden"):  # enough lists that the strip scrolls
        page.evaluate(
            """name => { const s = JSON.parse(localStorage.getItem('taskflow.session'));
              return fetch(`/api/${s.userId}/lists`, {method: 'POST', body: JSON.stringify({name}),
                headers: {'X-Requested-With': 'fetch', 'Content-Type': 'application/json'}}); }""",
            name,
        )
    expect(page.locator("#lists button", has_text="Garden")).to_have_count(1)
    # the views and lists are behind Menu; the desktop's field is not in the drawer, "+ New list" is
    menu = page.get_by_role("button", name="Menu", exact=True)
    menu.click()
    expect(page.locator("#new-list")).to_be_hidden()
    opener = page.get_by_role("button", name="New list", exact=True)
    expect(opener).to_be_in_viewport()
    # one tap opens a labelled dialog with the name field focused; axe is happy with it in light and dark
    opener.click()
    dialog = page.get_by_role("dialog", name="New list")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page) == [], scheme
        page.screenshot(path=str(ARTIFACTS / f"view-list-dialog-{scheme}-phone.png"))
    page.emulate_media(color_scheme="light")
    # Esc closes it and gives the focus back to "+ New list"; the keyboard alone makes the list
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    page.screenshot(path=str(ARTIFACTS / "view-new-list-focused-phone.png"))
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    page.keyboard.type("Errands")
    page.get_by_label("Colour", exact=True).fill("#22aa55")
    page.get_by_label("Name", exact=True).press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#view-title")).to_have_text("Errands")
    expect(page.locator("#sidenav")).to_be_hidden()  # the drawer gave way to the new list
    errands = page.locator("#lists button", has_text="Errands")
    expect(errands).to_have_attribute("aria-current", "page")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391, "nothing scrolls sideways"

    # quick add from the Inbox: the #errands tag, not the view, puts the task in the list
    show_view(page, "inbox")
    page.get_by_role("button", name="Quick add a task").click()
    page.locator("#quick").fill("buy milk #errands")
    expect(page.locator("#chips .chip-list")).to_be_visible()
    page.locator("#quick").press("Enter")
    expect(page.locator("#quick")).to_have_value("")
    page.keyboard.press("Escape")
    expect(page.locator("li.task[data-title='buy milk']")).to_have_count(0)  # not in the Inbox
    menu.click()
    errands.click()
    row = page.locator("li.task[data-title='buy milk']")
    expect(row).to_be_visible()
    expect(row.locator(".list-badge")).to_have_count(0)  # the view says which list it is
    stored = page.evaluate(
        """async () => { const s = JSON.parse(localStorage.getItem('taskflow.session'));
          const get = (path) => fetch(`/api/${s.userId}/${path}`, {headers: {'X-Requested-With': 'fetch'}})
            .then(r => r.json());
          return {tasks: (await get('tasks')).items, lists: (await get('lists')).items}; }"""
    )
    made = next(lst for lst in stored["lists"] if lst["name"] == "Errands")
    assert made["color"] == "#22aa55"
    assert [(t["title"], t["list_id"]) for t in stored["tasks"]] == [("buy milk", made["id"])]

    # the shown list's tools are on the phone too: rename (the same dialog), colour, archive, restore
    tools = page.locator("#list-tools")
    expect(tools).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "view-list-phone.png"), full_page=True)
    tools.get_by_role("button", name="Rename").click()
    rename = page.get_by_role("dialog", name="Rename list")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Errands")
    page.get_by_label("Name", exact=True).fill("Groceries")
    rename.get_by_role("button", name="Save").click()
    expect(rename).to_be_hidden()
    expect(page.locator("#view-title")).to_have_text("Groceries")
    expect(page.locator("#lists button", has_text="Groceries")).to_have_count(1)
    tools.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#lists button", has_text="Groceries")).to_have_count(0)
    menu.click()
    page.locator("#archived-wrap summary").click()
    restore = page.get_by_role("button", name="Restore Groceries")
    expect(restore).to_be_in_viewport()  # the opened archive is brought into sight
    page.emulate_media(color_scheme="dark")
    assert axe_violations(page) == [], "archived lists in the menu"
    page.screenshot(path=str(ARTIFACTS / "view-archived-dark-phone.png"))
    restore.click()
    expect(page.locator("#view-title")).to_have_text("Groceries")
    expect(page.locator("#sidenav")).to_be_hidden()
    expect(page.locator("#lists button", has_text="Groceries")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391

    # a double tap on "Create list" makes one list
    menu.click()
    page.get_by_role("button", name="New list").click()
    page.get_by_label("Name", exact=True).fill("Once")
    page.locator("#ld-save").dblclick()
    expect(page.locator("#view-title")).to_have_text("Once")
    page.wait_for_timeout(500)  # a second request, if one went, has answered by now
    names = page.evaluate(
        """async () => { const s = JSON.parse(localStorage.getItem('taskflow.session'));
          const r = await fetch(`/api/${s.userId}/lists`, {headers: {'X-Requested-With': 'fetch'}});
          return (await r.json()).items.map(l => l.name); }"""
    )
    assert names.count("Once") == 1, names
    assert page.csp_refusals == []
    context.close()
