"""End-to-end tests of functions/fanout."""
