"""All-day tasks in the web app: rows show a date with no time, Today holds them on their date in any
zone (overdue only from the next day), the panel sets a date alone, and a zone change moves none of them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import requests
from playwright.sync_api import expect

from tests.support.no_lost_work import WAIT, User, open_panel, patches, row, settled, view
from tests.support.paths import ARTIFACTS
from tests.support.webapp import axe_violations

BERLIN, NEW_YORK = zoneinfo.ZoneInfo("Europe/Berlin"), zoneinfo.ZoneInfo("America/New_York")


def test_all_day_rows_show_their_date_and_stay_put_in_today_across_a_zone_change(app_process, browser):
    user = User(browser, app_process, tz="Europe/Berlin")
    page = user.page
    prefs = requests.put(
        f"{user.api}/preferences", json={"timezone": "Europe/Berlin"}, headers=user.headers, timeout=10
    )
    assert prefs.status_code == 200, prefs.text
    page.reload()
    expect(page.locator("#live")).to_have_attribute("data-status", "live", timeout=WAIT)
    now = dt.datetime.now(dt.UTC)
    # Today in New York: today (or, late in the evening there, yesterday) in Berlin. Either way in Today.
    day = now.astimezone(NEW_YORK).date()
    berlin_words = "Today" if now.astimezone(BERLIN).date() == day else "Yesterday"
    milk = user.create(title="Buy milk", due_date=day.isoformat())
    assert milk["all_day"] is True and milk["due_date"] == day.isoformat()
    user.create(title="Pay rent", due_date=(day + dt.timedelta(days=1)).isoformat())
    # Later today in Berlin: in 30 minutes, or halfway to Berlin's midnight when that is sooner.
    berlin_midnight = dt.datetime.combine(now.astimezone(BERLIN).date() + dt.timedelta(days=1), dt.time(), BERLIN)
    soon = now + min(dt.timedelta(minutes=30), (berlin_midnight - now) / 2)
    timed = user.create(title="Standup", due_date=soon.isoformat(timespec="seconds"))
    view(page, "today")
    expect(row(page, "Buy milk").locator(".due")).to_have_text(berlin_words)
    expect(row(page, "Standup").locator(".due")).to_contain_text(":")  # a timed task keeps its time
    if berlin_words == "Today":
        expect(row(page, "Pay rent")).to_have_count(0)  # tomorrow's all-day task waits in Upcoming
        view(page, "upcoming")
        expect(row(page, "Pay rent").locator(".due")).to_have_text("Tomorrow")
    else:  # late in the evening in New York: its tomorrow is today in Berlin already
        expect(row(page, "Pay rent").locator(".due")).to_have_text("Today")

    # The panel shows a date alone with "All day" ticked; ticking it on a timed task saves a date alone.
    view(page, "today")
    open_panel(page, "Buy milk")
    expect(page.locator("#p-allday")).to_be_checked()
    expect(page.locator("#p-due")).to_have_attribute("type", "date")
    expect(page.locator("#p-due")).to_have_value(day.isoformat())
    assert axe_violations(page) == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "all-day-today-panel.png"))
    page.keyboard.press("Escape")
    open_panel(page, "Standup")
    expect(page.locator("#p-allday")).not_to_be_checked()
    page.locator("#p-allday").check()
    expect(page.locator("#p-due")).to_have_attribute("type", "date")
    page.locator("#p-due").fill(day.isoformat())
    page.locator("#panel-form button[type=submit]").click()
    settled(page)
    assert patches(page, timed["id"]) == [{"base_version": 1, "changes": {"due_date": day.isoformat()}}]
    stored = user.get(timed["id"]).json()
    assert (stored["due_date"], stored["all_day"]) == (day.isoformat(), True)
    expect(row(page, "Standup").locator(".due")).to_have_text(berlin_words)

    # The person moves to New York: every all-day row stays on its date.
    page.keyboard.press("Escape")
    page.locator("#settings-open").click()
    page.locator("#s-tz").select_option("America/New_York")
    expect(page.locator("#s-allday-time")).to_have_value("09:00")
    page.locator("#s-allday-time").fill("08:30")  # all-day reminders ring at 08:30 from now on
    assert axe_violations(page) == []
    page.locator("#settings-form button[type=submit]").click()
    expect(page.locator("#settings")).to_be_hidden()
    view(page, "today")
    expect(row(page, "Buy milk").locator(".due")).to_have_text("Today")
    expect(row(page, "Standup").locator(".due")).to_have_text("Today")
    expect(row(page, "Buy milk").locator(".due")).not_to_have_class("due overdue")
    view(page, "upcoming")
    expect(row(page, "Pay rent").locator(".due")).to_have_text("Tomorrow")
    page.screenshot(path=str(ARTIFACTS / "all-day-upcoming-new-york.png"))
    assert {t["title"]: t["due_date"] for t in user.tasks()}["Buy milk"] == day.isoformat()
    prefs = requests.get(f"{user.api}/preferences", headers=user.headers, timeout=10).json()
    assert (prefs["timezone"], prefs["all_day_reminder_time"]) == ("America/New_York", "08:30")
    user.close()


def test_an_all_day_task_of_yesterday_is_overdue_and_one_of_today_is_not(app_process, browser):
    user = User(browser, app_process, tz="Asia/Tokyo")
    page = user.page
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).date()
    user.create(title="Yesterday's chore", due_date=(today - dt.timedelta(days=1)).isoformat())
    user.create(title="Today's chore", due_date=today.isoformat())
    user.create(title="Stretch", due_date=today.isoformat(), timezone="Asia/Tokyo", recurrence_rule="FREQ=DAILY")
    view(page, "today")
    # An all-day series from today: today's task (its day, no 00:00), the series itself from tomorrow.
    expect(row(page, "Stretch").first.locator(".due")).to_have_text("Today", timeout=WAIT)
    expect(row(page, "Stretch").first.locator(".badge.recurring")).to_have_text("↻ every day")
    expect(row(page, "Yesterday's chore").locator(".due")).to_have_class("due overdue")
    expect(row(page, "Today's chore").locator(".due")).to_have_class("due")
    groups = page.locator("#tasks li.group h3")
    expect(groups).to_have_text(["Overdue", "Today"])
    assert axe_violations(page) == []
    user.close()
