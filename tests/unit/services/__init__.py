"""Unit tests of shared/services."""
