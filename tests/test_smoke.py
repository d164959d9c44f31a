"""The post-deployment smoke test (tests/smoke.py, run by deploy.yml) against real servers."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import threading

import sqlalchemy as sa

from functions.outbox import create_app as outbox_app
from shared.db import make_engine, migrate
from shared.models import Task, User
from shared.settings import Settings
from tests.conftest import JWT_SECRET
from tests.support.net import free_port

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "smoke.py"


def run_smoke(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the script the way deploy.yml does: its own process, the standard library only (-S: no site-packages)."""
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SMOKE), base_url, *extra], capture_output=True, text=True, timeout=180
    )


def test_the_smoke_test_passes_against_make_run(tmp_path):
    port = free_port()
    db = f"sqlite:///{tmp_path / 'smoke.db'}"
    env = {**os.environ, "PORT": str(port), "DATABASE_URL": db, "JWT_SECRET": JWT_SECRET, "GUNICORN_ACCESSLOG": ""}
    env.pop("MAKEFLAGS", None)
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    try:
        result = run_smoke(f"http://127.0.0.1:{port}", "--wait", "120")
        assert result.returncode == 0, result.stdout + result.stderr + "".join(output[-40:])
        assert result.stdout.splitlines()[-1] == "smoke: every step passed"
        for step in ("GET /health 200", "registered smoke-", "the task is listed", "recurring series"):
            assert step in result.stdout
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone when it failed to start
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        reader.join(10)
        server.stdout.close()
    engine = make_engine(db)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(User).where(User.email.like("smoke-%"))) == 1
        assert conn.scalar(sa.select(sa.func.count()).select_from(Task)) == 0, "it deletes what it created"
    engine.dispose()


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
