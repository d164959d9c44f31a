"""Fixtures only the end-to-end tier uses: the combined app under gunicorn and Debian's Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import JWT_SECRET

# Playwright's assertions wait 5 s by default: on a busy machine a page can take longer, never forever.
expect.set_options(timeout=30_000)


# One app process and one browser per module (each test signs up its own users).
@pytest.fixture(scope="module")
def app_process(pg_url):
    """The combined app under gunicorn, started as the README starts it."""
    from tests.support.process import ServerProcess

    proc = ServerProcess(DATABASE_URL=pg_url, JWT_SECRET=JWT_SECRET).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
