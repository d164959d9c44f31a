"""Unit tests of functions/notifications."""
