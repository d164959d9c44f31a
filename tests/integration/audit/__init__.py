"""Integration tests of functions/audit."""
