"""The Swagger UI files /docs serves are the pinned swagger-ui-dist release, whole, with its licences."""

import hashlib
import re

from shared.web.apidocs import ASSETS, SWAGGER_UI_DIR
from tests.support.paths import ROOT


def test_vendored_files_are_the_pinned_release_unchanged_and_every_served_one_is_there():
    makefile = (ROOT / "Makefile").read_text()
    version = re.search(r"^SWAGGER_UI_VERSION := (\S+)$", makefile, re.M)[1]
    integrity = re.search(r"^SWAGGER_UI_INTEGRITY := (\S+)$", makefile, re.M)[1]
    assert (SWAGGER_UI_DIR / "VERSION").read_text().split() == ["swagger-ui-dist", version, integrity]
    assert version.startswith("5."), "Swagger UI 5 reads OpenAPI 3.1"
    sums = dict(reversed(line.split("  ")) for line in (SWAGGER_UI_DIR / "SHA256SUMS").read_text().splitlines() if line)
    assert ASSETS <= sums.keys(), "every file /docs serves came from the package"
    for name, digest in sums.items():
        assert hashlib.sha256((SWAGGER_UI_DIR / name).read_bytes()).hexdigest() == digest, f"{name} was edited"
    assert "Apache License" in (SWAGGER_UI_DIR / "LICENSE").read_text()
    bundle_head = (SWAGGER_UI_DIR / "swagger-ui-bundle.js").read_text()[:200]
    assert "swagger-ui-bundle.js.LICENSE.txt" in bundle_head and "swagger-ui-bundle.js.LICENSE.txt" in ASSETS
