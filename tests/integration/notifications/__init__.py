"""Integration tests of functions/notifications."""
