"""Regenerate the README's two screenshots, frontend/screenshots/desktop.png and phone.png.

    .venv/bin/python -m tests.support.readme_screenshots

Serves the app on a fresh SQLite file (no PostgreSQL needed), signs up sam@example.com in Europe/Berlin, adds
a realistic week (tests/support/look.py's WEEK) and photographs Upcoming at 1280x800 and at 390x844, light.
The test suite never runs this: the committed files change only when someone runs it on purpose.
"""

from __future__ import annotations

import os
import pathlib
import secrets
import subprocess
import sys
import tempfile

from playwright.sync_api import expect, sync_playwright

from tests.support.browser import launch
from tests.support.look import DESKTOP, PHONE, seed_week
from tests.support.paths import ROOT
from tests.support.process import ServerProcess
from tests.support.webapp import show_view, sign_up

OUT = ROOT / "frontend" / "screenshots"
LIMIT = 250_000  # bytes: a README image loads quickly


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="taskflow-shots-") as tmp:
        env = {"DATABASE_URL": f"sqlite:///{pathlib.Path(tmp) / 'taskflow.db'}", "JWT_SECRET": secrets.token_hex(32)}
        migrate = pathlib.Path(sys.executable).parent / "taskflow-migrate"
        subprocess.run([str(migrate)], cwd=ROOT, env={**os.environ, **env}, check=True)
        server = ServerProcess(**env).start()
        try:
            shoot(server.url)
        finally:
            server.stop()
    for name in ("desktop", "phone"):
        size = (OUT / f"{name}.png").stat().st_size
        assert size < LIMIT, f"{name}.png is {size} bytes"
        print(f"{OUT / name}.png: {size} bytes")


def shoot(url: str) -> None:
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]}, timezone_id="Europe/Berlin")
        page = context.new_page()
        page.emulate_media(color_scheme="light")
        page.goto(url + "/")
        sign_up(page, "sam@example.com")
        seed_week(page)
        show_view(page, "upcoming")
        expect(page.locator("#tasks li.group").first).to_be_visible()
        page.wait_for_timeout(500)  # the later occurrences of the series come in
        page.mouse.move(640, 90)
        page.screenshot(path=str(OUT / "desktop.png"))
        page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
        show_view(page, "upcoming")
        expect(page.locator("#tasks li.group").first).to_be_visible()
        page.wait_for_timeout(500)
        page.mouse.move(200, 70)  # on the view's title: no row under the pointer
        page.screenshot(path=str(OUT / "phone.png"))
        browser.close()


if __name__ == "__main__":
    main()
