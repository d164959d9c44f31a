"""Unit tests of shared/concurrency."""
