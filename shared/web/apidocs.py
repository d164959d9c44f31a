"""GET /openapi.json (generated from the routes' contracts) and GET /docs (Swagger UI, served locally).

Swagger UI 5 (which reads OpenAPI 3.1) is vendored in shared/web/swagger_ui/: the few files the page
needs from npm's swagger-ui-dist, pinned and checked by `make swagger-ui`, with their licences. The
page loads nothing from another origin, and its Content-Security-Policy says so.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, send_from_directory

from shared.domain.errors import NotFound
from shared.web.operations import build_spec, describe
from shared.web.schemas import Out

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

TITLE = "TaskFlow"
VERSION = "1.0.0"
DESCRIPTION = (
    "Event-driven task manager. Every `/api/{user_id}/…` route needs `Authorization: Bearer <JWT>` whose "
    "`sub` is `{user_id}`. Errors are RFC 9457 problem details (`application/problem+json`), with "
    "`errors` per field when validation fails."
)
#: The Swagger UI files /docs serves, licences included (the bundle's first line names its own).
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"}) | frozenset(
    {"swagger-ui-bundle.js.LICENSE.txt", "LICENSE", "NOTICE"}
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>TaskFlow API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise fetch a badge from swagger.io.
INIT_JS = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  persistAuthorization: false,
});
"""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class OpenApiDocument(Out):
    """An OpenAPI 3.1 document."""

    model_config = {"extra": "allow", "json_schema_extra": {"examples": [{"openapi": "3.1.0"}]}}
    openapi: str


#: Swagger UI's files (`make swagger-ui` writes them; see VERSION there).
SWAGGER_UI_DIR = pathlib.Path(__file__).parent / "swagger_ui"


def register(app: Flask) -> None:
    """Mount /openapi.json and /docs on an app."""

    @app.get("/openapi.json")
    def openapi_json() -> ResponseReturnValue:
        """Describe every route this app serves."""
        return jsonify(build_spec(app, title=TITLE, version=VERSION, description=DESCRIPTION))

    @app.get("/docs")
    def docs() -> ResponseReturnValue:
        """Serve the interactive API docs."""
        return Response(PAGE, mimetype="text/html", headers={"Content-Security-Policy": CSP})

    @app.get("/docs/<path:filename>")
    def docs_asset(filename: str) -> ResponseReturnValue:
        """Serve Swagger UI's files and its start-up script."""
        if filename == "init.js":
            return Response(INIT_JS, mimetype="text/javascript")
        if filename not in ASSETS:
            raise NotFound("No such file.")
        return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)

    describe(openapi_json, responses={200: OpenApiDocument}, auth="none", summary="This document", tags=["meta"])
    describe(
        docs,
        responses={200: None},
        response_media_type="text/html",
        auth="none",
        summary="Interactive API docs (Swagger UI)",
        tags=["meta"],
    )
