"""Unit tests of functions/tasks/quickadd."""
