"""Docker for the container tests: the engine, `make image` once per run, one container, the compose stack.

Everything goes through the `docker` command line and the Makefile, as a person would type it; every
container uses the host's network and listens on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Mapping

from tests.support.net import free_port, wait_until
from tests.support.paths import ROOT

IMAGE = "taskflow:local"


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS…`; on failure with `check`, fail with its output."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def make(*targets: str, env: Mapping[str, str] | None = None, timeout: float = 1800) -> str:
    """Run `make TARGETS…` in the repository; return its output, or fail with it."""
    result = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise AssertionError(f"make {' '.join(targets)} exited {result.returncode}:\n{output[-6000:]}")
    return output


def build_image() -> str:
    """`make image` (starts the engine when it is not running; cached layers make a repeat take seconds)."""
    make("image")
    return IMAGE


class Container:
    """One `docker run -d --network host` container, removed by `remove()`."""

    def __init__(self, image: str, env: Mapping[str, str], *args: str, name: str | None = None):
        self.name = name or f"taskflow-test-{uuid.uuid4().hex[:10]}"
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        docker("run", "-d", "--network", "host", "--name", self.name, *flags, image, *args)

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.name).stdout)[0]

    def health(self) -> str | None:
        """The HEALTHCHECK's verdict: starting, healthy, unhealthy (None without one)."""
        health = self.inspect()["State"].get("Health")
        return health and health["Status"]

    def running(self) -> bool:
        return bool(self.inspect()["State"]["Running"])

    def exec(self, *command: str) -> str:
        return docker("exec", self.name, *command).stdout

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def stop(self, grace: int) -> tuple[int, float]:
        """`docker stop -t GRACE` (SIGTERM, then SIGKILL after GRACE seconds): (exit code, seconds taken)."""
        started = time.monotonic()
        docker("stop", "-t", str(grace), self.name, timeout=grace + 60)
        return int(self.inspect()["State"]["ExitCode"]), time.monotonic() - started

    def remove(self) -> None:
        docker("rm", "-f", "-v", self.name, check=False)


#: The services of knative/local/docker-compose.yaml that listen, and the variable naming each one's port.
STACK_PORTS = {
    "router": "STACK_PORT",
    "broker": "STACK_BROKER_PORT",
    "tasks": "STACK_TASKS_PORT",
    "outbox": "STACK_OUTBOX_PORT",
    "recurrence": "STACK_RECURRENCE_PORT",
    "reminders": "STACK_REMINDERS_PORT",
    "audit": "STACK_AUDIT_PORT",
    "fanout": "STACK_FANOUT_PORT",
    "notifications": "STACK_NOTIFICATIONS_PORT",
}
COMPOSE_FILE = ROOT / "knative" / "local" / "docker-compose.yaml"


def compose_command() -> list[str]:
    """`docker compose` when the plugin is there, else Debian's docker-compose (as knative/local/stack.sh picks)."""
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return ["docker", "compose"] if plugin.returncode == 0 else ["docker-compose"]


class Stack:
    """`make stack` under a project name and ports of its own (a developer's stack on the defaults is untouched)."""

    def __init__(self, database_url: str):
        self.project = f"taskflow-stack-test-{uuid.uuid4().hex[:8]}"
        self.ports = {service: free_port() for service in STACK_PORTS}
        self.env = {
            "STACK_PROJECT": self.project,
            "STACK_DATABASE_URL": database_url,
            **{STACK_PORTS[service]: str(port) for service, port in self.ports.items()},
        }

    def url(self, service: str = "router") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['broker']}"

    def up(self) -> Stack:
        make("stack", env=self.env, timeout=1800)
        return self

    def down(self) -> None:
        make("stack-down", env=self.env, timeout=300)

    def compose(self, *args: str, timeout: float = 120) -> str:
        """`docker-compose -p <project> -f knative/local/docker-compose.yaml ARGS…` with the stack's variables."""
        result = subprocess.run(
            [*compose_command(), "-p", self.project, "-f", str(COMPOSE_FILE), *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def containers(self, *, all_states: bool = False) -> list[str]:
        """The ids of the project's containers (running only, unless `all_states`)."""
        flags = ["-a"] if all_states else []
        out = docker("ps", "-q", *flags, "--filter", f"label=com.docker.compose.project={self.project}").stdout
        return out.split()

    def logs(self, service: str, tail: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(tail), service)

    def wait_ready(self, service: str, timeout: float = 120) -> None:
        """The function's /ready answers 200 (database reachable, its consumers in their groups)."""
        import requests

        def ready() -> bool:
            try:
                return requests.get(self.url(service) + "/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=timeout, interval=0.5, message=f"{service} ready")
