"""The rules the routes call: tasks, series, reminders, lists, accounts and versions (If-Match)."""
