"""Integration tests of functions/reminders."""
