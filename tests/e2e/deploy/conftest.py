"""Fixtures of the container tests: the image, built once per run by `make image` (the engine started first)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def image() -> str:
    from tests.support.containers import build_image

    return build_image()
