"""Integration tests of functions/tasks/calendar."""
