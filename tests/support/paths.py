"""Where things are: the repository root and the folders the tests read or write, whatever the test's depth."""

from __future__ import annotations

import pathlib

#: The repository root (the folder holding pyproject.toml).
ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
#: Test data files (tests/data/...).
DATA = TESTS / "data"
#: Screenshots the browser tests keep (CI uploads the folder).
ARTIFACTS = TESTS / "artifacts"
#: The post-deployment smoke test deploy.yml runs.
SMOKE = TESTS / "smoke.py"
