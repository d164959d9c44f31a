"""Integration tests of shared/persistence."""
