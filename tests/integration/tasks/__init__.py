"""Integration tests of functions/tasks."""
