"""The image itself, built by `make image` and run as Render runs it: the blueprint's environment, a fresh
PostgreSQL database, migrations at start, the web page, the API, a socket, its HEALTHCHECK, a clean stop."""

from __future__ import annotations

import json
import secrets

import pytest
import requests
import sqlalchemy as sa
import websocket
import yaml

from tests.support.containers import Container
from tests.support.live import Client
from tests.support.net import free_port, wait_until
from tests.support.paths import ROOT
from tests.support.pg import create_database, drop_database
from tests.support.sockets import close_code

#: Render's grace between SIGTERM and SIGKILL on a deploy or a stop (30 s); gunicorn's own is 20 s.
RENDER_GRACE = 30


def blueprint_environment(database_url: str, port: int) -> dict[str, str]:
    """render/render.yaml's envVars as Render fills them: values, generated secrets, the database's URL;
    `sync: false` ones (Kafka, CORS) stay unset, as they do until someone sets them. Render sets PORT."""
    [web] = yaml.safe_load((ROOT / "render" / "render.yaml").read_text())["services"]
    env: dict[str, str] = {"PORT": str(port)}
    for var in web["envVars"]:
        if "value" in var:
            env[var["key"]] = str(var["value"])
        elif var.get("generateValue"):
            env[var["key"]] = secrets.token_urlsafe(32)
        elif "fromDatabase" in var:
            env[var["key"]] = database_url
    # Render gives the container a network of its own; here it shares the host's, so it listens on
    # loopback only (the one setting not from the blueprint).
    env["BIND_HOST"] = "127.0.0.1"
    return env


@pytest.fixture
def fresh_database():
    url = create_database("taskflow_image")
    yield url
    drop_database(url)


def next_event(ws) -> dict:
    while True:
        message = json.loads(ws.recv())
        if message["type"] != "ping":
            return message


def test_the_image_runs_as_render_runs_it(image, fresh_database):
    port = free_port()
    env = blueprint_environment(fresh_database, port)
    assert env["ENVIRONMENT"] == "production" and env["WEB_CONCURRENCY"] == "1" and len(env["JWT_SECRET"]) >= 32
    container = Container(image, env)
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert container.running(), "the container exited:\n" + container.logs()[-4000:]
            try:
                return requests.get(base + "/ready", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=120, interval=0.5, message="the container's /ready")

        # The entrypoint migrated the empty database to the newest revision before serving.
        engine = sa.create_engine(fresh_database.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        engine.dispose()
        newest = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("0*.py"))[-1]
        assert newest.startswith(revision.split("_")[0]), (revision, newest)

        assert requests.get(base + "/health", timeout=5).json()["status"] == "ok"
        page = requests.get(base + "/", timeout=5)
        assert page.status_code == 200 and "<title>TaskFlow</title>" in page.text
        assert requests.get(base + "/static/app.js", timeout=5).status_code == 200

        alice = Client(base).signup()
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/ws/user/{alice.user_id}/tasks?token={alice.token}", timeout=20
        )
        created = alice.create_task(title="from the image")
        message = next_event(ws)
        assert message["type"] == "task.created" and message["data"]["id"] == created["id"]
        listed = alice.request("GET", "/api/{me}/tasks").json()
        assert created["id"] in json.dumps(listed)

        # Not root: the Dockerfile's user, in the process that serves and in a shell beside it.
        assert container.exec("id", "-u").strip() not in ("", "0")
        assert container.exec("sh", "-c", "stat -c %u /proc/1").strip() not in ("", "0")

        # The image's own HEALTHCHECK (every 30 s after a 20 s start period) calls it healthy.
        wait_until(
            lambda: container.health() == "healthy", timeout=120, interval=1, message="HEALTHCHECK to report healthy"
        )

        # SIGTERM: the open socket is closed with 1001 (go elsewhere), and gunicorn exits by itself well
        # inside the grace period; the entrypoint execs gunicorn, so its exit code is the container's.
        import threading

        codes: list[int | None] = []
        reader = threading.Thread(target=lambda: codes.append(close_code(ws)))
        reader.start()
        exit_code, took = container.stop(RENDER_GRACE)
        reader.join(30)
        assert exit_code == 0, container.logs()[-3000:]
        assert took < RENDER_GRACE, f"stopped only by SIGKILL after {took:.0f}s"
        assert codes == [1001]
        logs = container.logs()
        assert "Handling signal: term" in logs and "Shutting down: Master" in logs
        assert "Traceback" not in logs, logs[-4000:]
    finally:
        container.remove()
