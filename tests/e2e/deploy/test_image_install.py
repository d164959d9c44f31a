"""The image's install replayed without Docker: a fresh venv, the hashed runtime lock alone, the app at /app."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading

import requests

from tests.conftest import JWT_SECRET
from tests.support.net import free_port, wait_until
from tests.support.paths import ROOT, SMOKE


def test_the_image_install_runs_the_app_from_the_runtime_lock_alone(tmp_path):
    """Replay render/Dockerfile without Docker: a fresh venv, the hashed runtime lock, the app at /app."""
    dockerfile = (ROOT / "render" / "Dockerfile").read_text()
    for line in (
        "COPY .ci/requirements/runtime.txt ./runtime.txt",
        "RUN pip install --require-hashes -r runtime.txt",
        "RUN pip install --no-deps -e .",
        "COPY migrations ./migrations",
        "COPY frontend ./frontend",
    ):
        assert line in dockerfile
    app, venv = tmp_path / "app", tmp_path / "venv"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("shared", "functions", "migrations", "frontend"):
        shutil.copytree(ROOT / folder, app / folder, ignore=ignore)
    for file in ("pyproject.toml", "README.md", "render/gunicorn.conf.py", "render/entrypoint.sh"):
        (app / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / file, app / file)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    runtime_lock = ROOT / ".ci" / "requirements" / "runtime.txt"
    subprocess.run([*pip, "--require-hashes", "-r", str(runtime_lock)], check=True, timeout=900)
    subprocess.run([*pip, "--no-deps", "-e", str(app)], check=True, timeout=300)

    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "ENVIRONMENT": "production",
        "JWT_SECRET": JWT_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'image.db'}",
    }
    server = subprocess.Popen(
        ["render/entrypoint.sh"],
        cwd=app,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(server.stdout), daemon=True)
    reader.start()
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, "the entrypoint exited:\n" + "".join(output[-40:])
            try:
                return requests.get(f"{base}/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=90, interval=0.2, message="the replayed image to answer /health")
        assert "<title>TaskFlow</title>" in requests.get(f"{base}/", timeout=5).text, "finds frontend/"
        smoke = subprocess.run(
            [sys.executable, "-I", "-S", str(SMOKE), base],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr + "".join(output[-40:])
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone when it failed to start
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        reader.join(10)
        server.stdout.close()
