"""The post-deployment smoke test (tests/smoke.py, run by deploy.yml) against real servers."""

from __future__ import annotations

import subprocess
import sys

from functions.outbox import create_app as outbox_app
from shared.persistence.db import migrate
from shared.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support.net import free_port
from tests.support.paths import SMOKE
from tests.support.process import ServerProcess


def run_smoke(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the script the way deploy.yml does: its own process, the standard library only (-S: no site-packages)."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SMOKE), base_url, *extra], capture_output=True, text=True, timeout=180
    )


def test_the_smoke_test_passes_against_make_run(tmp_path):
    server = ServerProcess.make_run(DATABASE_URL=f"sqlite:///{tmp_path / 'smoke.db'}", JWT_SECRET=JWT_SECRET)
    try:
        server.start(ready_path="/health", timeout=120)
        result = run_smoke(server.url, "--wait", "120")
        assert result.returncode == 0, result.stdout + result.stderr + "".join(server.output[-40:])
        assert result.stdout.splitlines()[-1] == "smoke: every step passed"
        for step in ("GET /health 200", "registered smoke-", "the task is listed", "recurring series"):
            assert step in result.stdout
    finally:
        server.stop()


def test_the_smoke_test_fails_when_nothing_answers():
    result = run_smoke(f"http://127.0.0.1:{free_port()}", "--wait", "0")
    assert result.returncode == 1
    assert "/health did not answer 200" in result.stderr


def test_the_smoke_test_fails_when_the_api_is_missing(tmp_path, serve):
    """A deployment that is healthy but serves the wrong app (here the outbox function) fails the run."""
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    migrate(url)
    server = serve(outbox_app(Settings(database_url=url, jwt_secret=JWT_SECRET, run_background_workers=False)))
    result = run_smoke(server.url)
    assert result.returncode == 1
    assert "POST /api/auth/register: expected 201, got 404" in result.stderr
    assert "ok    GET /health 200" in result.stdout
