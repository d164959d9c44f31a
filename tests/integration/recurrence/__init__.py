"""Integration tests of functions/recurrence."""
