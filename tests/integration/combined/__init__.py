"""Integration tests of functions/combined."""
