"""Integration tests of shared/runtime and the process as it runs."""
