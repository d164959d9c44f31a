"""Integration tests of shared/messaging."""
