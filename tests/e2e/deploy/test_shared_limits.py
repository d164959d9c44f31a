"""Rate limits per deployment: two instances (started as the container starts them, two workers each) on
one database count in one Redis, so an account gets 5 failed sign-ins a minute in all, not 5 per process
(issue 28, item 5)."""

from __future__ import annotations

import uuid

import redis
import requests

from tests.conftest import JWT_SECRET
from tests.support.live import Client
from tests.support.process import ServerProcess

REDIS = "redis://127.0.0.1:6379/14"


def test_limits_hold_across_two_instances_and_their_workers_with_redis(db_url):
    redis.Redis.from_url(REDIS).flushdb()  # this test's own database of the machine's Redis
    env = {
        "DATABASE_URL": db_url,
        "JWT_SECRET": JWT_SECRET,
        "WEB_CONCURRENCY": "2",
        "RATE_LIMIT_STORAGE_URI": REDIS,
        "AUTH_ACCOUNT_LIMIT": "5 per minute",
        "AUTH_RATE_LIMIT": "12 per minute",
    }
    instances = [ServerProcess(**env).start() for _ in range(2)]
    try:
        alice = Client(instances[0].url).signup()  # 1 auth call from this address
        wrong = {"email": alice.email, "password": "not the password"}
        # Failed sign-ins for one account, spread over both instances (and, by connection, their workers).
        answers = [
            requests.post(f"{instances[i % 2].url}/api/auth/login", json=wrong, timeout=30).status_code
            for i in range(8)
        ]
        assert answers == [401] * 5 + [429] * 3, answers
        # Every auth call from one address: 12 a minute across the deployment (1 + 8 made above).
        other = {"email": f"{uuid.uuid4().hex[:12]}@example.com", "password": "nobody's"}
        more = [
            requests.post(f"{instances[i % 2].url}/api/auth/login", json=other, timeout=30).status_code
            for i in range(5)
        ]
        assert more == [401] * 3 + [429] * 2, more
        refused = requests.post(f"{instances[1].url}/api/auth/login", json=other, timeout=30)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    finally:
        for server in instances:
            server.stop()


def test_memory_stays_the_default_for_make_run():
    from shared.settings import Settings

    assert Settings.from_env({}).rate_limit_storage_uri == "memory://"
    assert Settings.from_env({"RATE_LIMIT_STORAGE_URI": REDIS}).rate_limit_storage_uri == REDIS
