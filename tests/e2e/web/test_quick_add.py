"""Quick add in the browser (issue 24): pasted lines become one task each after one confirmation, the due date
shows once as a chip, and a date that does not exist is asked, with no guessed day shown meanwhile."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from playwright.sync_api import expect

from tests.support.paths import ARTIFACTS
from tests.support.webapp import axe_violations, open_app, sign_up, task_row

PASTE = """
(text) => {
  const data = new DataTransfer();
  data.setData("text/plain", text);
  const input = document.getElementById("quick");
  input.focus();
  input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
}
"""


def open_quick_add(page) -> None:
    page.keyboard.press("Escape")
    page.locator("body").press("q")
    expect(page.locator("#quick")).to_be_focused()
    page.locator("#quick").fill("")  # (on main the focus may already sit in the field, where q is typed)


def test_pasted_lines_become_one_task_each_after_one_confirmation(app_process, browser):
    context, page = open_app(browser, app_process)
    try:
        sign_up(page)
        open_quick_add(page)
        lines = ["Buy bread", "Call the plumber", "Water the ferns", "report due 32/12"]
        page.evaluate(PASTE, "\n".join(lines) + "\n")
        # One question, never a line of 500 characters in the field
        expect(page.locator("#questions li.paste-confirm")).to_contain_text("Add 4 tasks, one per line?")
        expect(page.locator("#quick")).to_have_value("")
        expect(page.locator("#questions button")).to_have_count(2)  # Add 4 tasks, Cancel
        assert axe_violations(page) == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "quick-add-paste-confirm.png"))
        page.get_by_role("button", name="Add 4 tasks").click()
        expect(page.locator("#questions")).to_contain_text("Added 4 of 4 tasks.", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "quick-add-paste-added.png"))
        # The unclear line was added with what was certain (its title), and the person is told which it was
        expect(page.locator("#questions .paste-asked")).to_contain_text("“report due 32/12”: There is no date")
        for title in ("Buy bread", "Call the plumber", "Water the ferns", "report"):
            expect(task_row(page, title)).to_have_count(1)
        expect(page.locator("li.task")).to_have_count(4)
    finally:
        context.close()


def test_the_date_chip_shows_once_and_not_while_a_question_is_pending(app_process, browser):
    context, page = open_app(browser, app_process)
    try:
        sign_up(page)
        open_quick_add(page)
        page.locator("#quick").fill("Laundry sat 10am")
        today = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Paris")).date()
        saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7 or 7)
        ahead = (saturday - today).days  # a Friday's Saturday is "Tomorrow", as every date label says
        day = "Tomorrow" if ahead == 1 else "Saturday" if ahead <= 6 else f"{saturday.day} {saturday:%b}"
        chip = page.locator("#chips li", has_text=re.compile(r"^(date|time): due"))
        expect(chip).to_have_count(1)
        expect(chip).to_contain_text(f"due {day} 10:00")
        expect(page.locator("#chips li.chip-title")).to_have_text(re.compile(r"Laundry$"))
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "quick-add-date-chip.png"))

        page.locator("#quick").fill("report due 32/12")
        expect(page.locator("#questions li")).to_contain_text("There is no date “32/12”")
        expect(page.locator("#chips li.chip-title")).to_have_text(re.compile(r"report$"))
        expect(page.locator("#chips li.chip-date, #chips li.chip-time")).to_have_count(0)
        expect(page.locator("#chips")).not_to_contain_text("due ")
        page.screenshot(path=str(ARTIFACTS / "quick-add-impossible-date.png"))
        # Enter does not add it with a guessed day: the question stays until the day is said
        page.locator("#quick").press("Enter")
        expect(page.locator("#quick")).to_have_value("report due 32/12")
        expect(page.locator("li.task")).to_have_count(0)
    finally:
        context.close()


def test_the_panels_due_date_takes_words(app_process, browser):
    context, page = open_app(browser, app_process)
    try:
        sign_up(page)
        open_quick_add(page)
        page.locator("#quick").fill("Renew passport")
        expect(page.locator("#chips li.chip-title")).to_be_visible()
        page.locator("#quick").press("Enter")
        task_row(page, "Renew passport").locator("button.title").click()
        expect(page.locator("#panel")).to_be_visible()
        tomorrow = dt.datetime.now(zoneinfo.ZoneInfo("Europe/Paris")).date() + dt.timedelta(days=1)
        page.locator("#p-due-words").fill("tomorow 5pm")
        page.locator("#p-due-words").press("Enter")
        expect(page.locator("#p-due")).to_have_value(f"{tomorrow.isoformat()}T17:00")
        expect(page.locator("#p-due-read")).to_contain_text("Due Tomorrow 17:00")
        expect(page.locator("#p-allday")).not_to_be_checked()
        page.locator("#p-due-words").fill("tomorrow")
        page.locator("#p-due-words").press("Enter")
        expect(page.locator("#p-allday")).to_be_checked()
        expect(page.locator("#p-due")).to_have_attribute("type", "date")
        expect(page.locator("#p-due")).to_have_value(tomorrow.isoformat())
        expect(page.locator("#p-due-read")).to_contain_text("all day")
        page.locator("#p-due-words").fill("32/12")
        page.locator("#p-due-words").press("Enter")
        expect(page.locator("#p-due-read")).to_contain_text("There is no date")
        expect(page.locator("#p-due")).to_have_value(tomorrow.isoformat())  # unchanged, not guessed
        assert axe_violations(page) == []
    finally:
        context.close()
