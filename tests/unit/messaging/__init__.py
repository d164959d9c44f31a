"""Unit tests of shared/messaging."""
