"""Unit tests of functions/fanout."""
