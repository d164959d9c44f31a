"""Reminder emails: a title stored with a line break (before titles were one line) still makes one Subject line."""

from __future__ import annotations

from shared.settings import Settings


def test_a_stored_title_with_a_line_break_still_gives_a_one_line_subject():
    from functions.notifications.channels import reminder_email

    event = {
        "event_id": "e1",
        "data": {"task_id": "t1", "task_title": "pay\r\nBcc: victim@example.com rent", "due_date": None},
    }
    message = reminder_email(Settings(smtp_from="TaskFlow <noreply@taskflow.test>"), "a@example.com", event, "UTC")
    assert message["Subject"] == "Reminder: pay Bcc: victim@example.com rent"
    assert message["Bcc"] is None


def test_an_all_day_task_is_due_on_its_date_in_the_email_whatever_the_zone():
    from functions.notifications.channels import reminder_email

    event = {
        "event_id": "e2",
        "data": {"task_id": "t2", "task_title": "Buy milk", "due_date": "2026-12-24", "all_day": True},
    }
    settings = Settings(smtp_from="TaskFlow <noreply@taskflow.test>")
    for tz in ("America/New_York", "Pacific/Auckland"):
        text = reminder_email(settings, "a@example.com", event, tz).get_body(("plain",)).get_content()
        assert "Due: Thu 24 Dec 2026 (all day)" in text, tz
