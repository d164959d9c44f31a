"""The image's entrypoint run as the container runs it (no Docker engine here): every command serves its routes."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest

from tests.support.paths import ROOT


def run_entrypoint(env_extra: dict, db_url: str, broker) -> tuple[subprocess.Popen, str, int]:
    """Run the image's entrypoint as the container would (no Docker engine here)."""
    from tests.support.net import free_port

    port = free_port()
    venv_bin = pathlib.Path(os.sys.executable).parent
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": db_url,
        "ENVIRONMENT": "production",
        "JWT_SECRET": "x" * 40,
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
        "BIND_HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        **env_extra,
    }
    proc = subprocess.Popen(
        [str(ROOT / "render" / "entrypoint.sh")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}", port


def wait_up(base: str, path: str = "/health") -> None:
    import requests

    from tests.support.net import wait_until

    def up():
        try:
            return requests.get(base + path, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(up, timeout=90, interval=0.2, message=f"{base}{path}")


@pytest.fixture
def own_broker():
    """A broker of the test's own: /ready waits for the consumer groups to form, and on the session broker
    the groups of consumers that earlier tests killed are still rebalancing (an order-dependent wait)."""
    from tests.support.broker import Tansu

    tansu = Tansu().start()
    yield tansu
    tansu.stop()


def test_the_container_entrypoint_serves_health_api_websocket_and_frontend(db_url, own_broker):
    import signal

    import requests
    import websocket

    dockerfile = (ROOT / "render" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["render/entrypoint.sh"]' in dockerfile
    proc, base, port = run_entrypoint({}, db_url, own_broker)
    try:
        wait_up(base, "/ready")
        assert "<title>TaskFlow</title>" in requests.get(base + "/", timeout=5).text
        assert requests.get(base + "/static/app.js", timeout=5).status_code == 200
        signup = requests.post(
            base + "/api/auth/register", json={"email": "ops@example.com", "password": "pw-ops-123"}, timeout=10
        ).json()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws/user/{signup['user_id']}/tasks?token={signup['token']}", timeout=10
        )
        created = requests.post(
            f"{base}/api/{signup['user_id']}/tasks",
            json={"title": "deployed"},
            headers={"Authorization": f"Bearer {signup['token']}"},
            timeout=10,
        )
        assert created.status_code == 201
        message = json.loads(ws.recv())
        while message["type"] == "ping":
            message = json.loads(ws.recv())
        assert message["type"] == "task.created" and message["data"]["title"] == "deployed"
        ws.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


@pytest.mark.parametrize(
    "module,route,method",
    [
        ("tasks", "/openapi.json", "GET"),
        ("outbox", "/outbox-cron", "OPTIONS"),
        ("recurrence", "/recurrence-cron", "OPTIONS"),
        ("reminders", "/reminder-cron", "OPTIONS"),
        ("audit", "/dapr/subscribe", "GET"),
        ("fanout", "/dapr/subscribe", "GET"),
        ("notifications", "/notification-cron", "OPTIONS"),
    ],
)
def test_each_function_command_serves_its_routes(db_url, broker, module, route, method):
    import signal

    import requests

    proc, base, _ = run_entrypoint(
        {"TASKFLOW_APP": f"functions.{module}:create_app()", "RUN_BACKGROUND_WORKERS": "false"}, db_url, broker
    )
    try:
        wait_up(base)
        assert requests.request(method, base + route, timeout=5).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_production_container_refuses_to_start_without_a_jwt_secret(db_url):
    env = {**os.environ, "DATABASE_URL": db_url, "ENVIRONMENT": "production"}
    env.pop("JWT_SECRET", None)
    venv_bin = pathlib.Path(os.sys.executable).parent
    result = subprocess.run([str(venv_bin / "taskflow-migrate")], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "JWT_SECRET must be set" in result.stderr
