"""End-to-end tests of shared/web and the web page."""
