"""No public secret (issue 28, item 7): without JWT_SECRET, embedded mode makes a random secret once and keeps
it beside the SQLite file; the container refuses to start without one."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess

import jwt

from shared.settings import Settings, with_local_secret
from tests.support.paths import ROOT


def test_the_embedded_secret_is_made_once_kept_beside_the_database_and_reused(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'run.db'}")
    first = with_local_secret(settings).jwt_secret
    kept = tmp_path / "run.db.jwt-secret"
    assert first != Settings.jwt_secret and len(first) >= 32
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600, "readable by its owner only"
    assert with_local_secret(settings).jwt_secret == first, "the same after a restart"
    other = with_local_secret(Settings(database_url=f"sqlite:///{tmp_path / 'other.db'}")).jwt_secret
    assert other != first, "one per database"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".jwt-secret-")], "no temporary file left"


def test_a_set_secret_production_and_postgresql_are_left_alone_and_memory_gets_one_per_process():
    given = Settings(database_url="sqlite:///:memory:", jwt_secret="s" * 40)
    assert with_local_secret(given) is given
    production = Settings(database_url="sqlite:///x.db", environment="production")
    assert with_local_secret(production) is production, "production refuses to start instead (Settings.check)"
    postgres = Settings(database_url="postgresql://127.0.0.1/x")
    assert with_local_secret(postgres) is postgres
    memory = [with_local_secret(Settings(database_url=url)).jwt_secret for url in ("sqlite://", "sqlite:///:memory:")]
    assert Settings.jwt_secret not in memory and memory[0] != memory[1]


def test_make_run_without_a_secret_keeps_sessions_across_a_restart_and_refuses_the_public_default(tmp_path):
    import requests

    from tests.support.live import Client
    from tests.support.process import ServerProcess

    database = f"sqlite:///{tmp_path / 'run.db'}"

    def started() -> ServerProcess:
        server = ServerProcess.make_run(DATABASE_URL=database)
        server.env.pop("JWT_SECRET", None)
        return server.start()

    server = started()
    try:
        alice = Client(server.url).signup()
        forged = jwt.encode({"sub": alice.user_id, "exp": 4102444800}, Settings.jwt_secret, algorithm="HS256")
        answer = requests.get(
            f"{server.url}/api/{alice.user_id}/tasks", headers={"Authorization": f"Bearer {forged}"}, timeout=30
        )
        assert answer.status_code == 401, "a token signed with the public default is refused"
    finally:
        server.stop()
    assert stat.S_IMODE(os.stat(tmp_path / "run.db.jwt-secret").st_mode) == 0o600
    server = started()
    try:
        alice.base = server.url
        assert alice.request("GET", "/api/{me}/tasks").status_code == 200, "the session survived the restart"
    finally:
        server.stop()


def test_the_container_refuses_to_start_without_a_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JWT_SECRET"}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'c.db'}"
    done = subprocess.run(
        [str(ROOT / "render" / "entrypoint.sh")], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "JWT_SECRET is not set" in done.stderr
    assert not (tmp_path / "c.db").exists(), "nothing started, nothing migrated"


def test_dataclass_replace_keeps_every_other_setting(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}", ws_queue_size=7)
    assert dataclasses.replace(with_local_secret(settings), jwt_secret=settings.jwt_secret) == settings
