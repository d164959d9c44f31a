"""/docs in a real browser: Swagger UI renders every operation of the spec and loads nothing from elsewhere."""

from __future__ import annotations

import functions.tasks
from shared.settings import Settings
from tests.conftest import JWT_SECRET


def operations(document) -> int:
    """How many operations the document describes (path and method pairs)."""
    return sum(len(item) for item in document["paths"].values())


def test_docs_render_every_operation_in_a_browser_without_leaving_the_origin(serve, browser):
    server = serve(
        functions.tasks.create_app(
            Settings(database_url="sqlite://", jwt_secret=JWT_SECRET, run_background_workers=False)
        )
    )
    documented = operations(server.app.test_client().get("/openapi.json").json)
    page = browser.new_page()
    try:
        requested = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        assert page.locator(".opblock").count() == documented
        assert page.locator(".errors-wrapper").count() == 0  # Swagger UI's own spec errors
        assert requested and all(url.startswith(server.url) for url in requested), requested
    finally:
        page.close()
