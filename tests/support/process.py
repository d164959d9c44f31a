"""Run the app as a real server process (gunicorn, the deployed command) for end-to-end tests."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import threading

import requests

from tests.support.net import free_port, wait_until
from tests.support.paths import ROOT


class ServerProcess:
    """`gunicorn -c render/gunicorn.conf.py <app>` on a free loopback port (or `make run`, or the
    container's entrypoint: see the constructors below), in its own process group, output kept."""

    def __init__(
        self,
        app: str = "functions.combined:create_app()",
        port: int | None = None,
        *,
        command: list[str] | None = None,
        **env: str,
    ):
        self.app = app
        self.command = command or [sys.executable, "-m", "gunicorn", "--config", "render/gunicorn.conf.py", app]
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
            # Load generators sign many users up from one address: lift the per-IP sign-in throttle.
            "AUTH_RATE_LIMIT": "100000 per minute",
            **env,
        }
        self.proc: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self, ready_path: str = "/ready", timeout: float = 60) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=lambda: self.output.extend(self.proc.stdout), daemon=True)
        self._reader.start()
        try:
            wait_until(self._answers(ready_path), timeout=timeout, interval=0.1, message=f"{self.app} on {self.url}")
        except BaseException:
            self.stop()  # a server that never became ready must not outlive the test
            raise
        return self

    @classmethod
    def make_run(cls, **env: str) -> ServerProcess:
        """`make run` as a developer types it: its own defaults (one worker, SQLite unless DATABASE_URL)."""
        server = cls(command=["make", "--no-print-directory", "run"], **env)
        for inherited in ("MAKEFLAGS", "WEB_CONCURRENCY", "BIND_HOST"):
            if inherited not in env:
                server.env.pop(inherited, None)
        return server

    @classmethod
    def entrypoint(cls, **env: str) -> ServerProcess:
        """`render/entrypoint.sh` with the Dockerfile's environment and defaults (loopback, not 0.0.0.0)."""
        server = cls(command=[str(ROOT / "render" / "entrypoint.sh")], **env)
        for inherited in ("WEB_CONCURRENCY", "GUNICORN_WORKER_CLASS"):
            if inherited not in env:
                server.env.pop(inherited, None)
        venv_bin = pathlib.Path(sys.executable).parent
        server.env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", PATH=f"{venv_bin}:{os.environ['PATH']}")
        return server

    def _answers(self, path: str):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError("server exited:\n" + "".join(self.output[-40:]))
            try:
                return requests.get(self.url + path, timeout=1).status_code == 200
            except requests.RequestException:
                return False

        return check

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                # gunicorn's graceful_timeout (20 s) and then its own clean-up: a busy machine needs all of it
                self.proc.wait(35)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc is not None:
            self._reader.join(5)
            self.proc.stdout.close()
            self.proc = None
