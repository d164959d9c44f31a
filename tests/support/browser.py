"""Debian's Chromium driven by Playwright, for the web app's tests."""

from __future__ import annotations

import pathlib

from tests.support.net import wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    assert pathlib.Path(CHROMIUM).exists(), "make test installs Debian's chromium"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def wait_js(page, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression from the test's side: wait_for_function polls inside the page with
    eval, which the page's Content-Security-Policy refuses."""
    wait_until(lambda: page.evaluate(expression), timeout=timeout, interval=0.1, message=expression[:80])
