"""Integration tests of shared/web and the web page."""
