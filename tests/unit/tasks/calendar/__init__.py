"""Unit tests of functions/tasks/calendar."""
