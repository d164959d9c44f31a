"""Unit tests of functions/tasks."""
