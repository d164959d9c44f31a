"""Integration tests of shared/concurrency."""
