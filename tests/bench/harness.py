"""What the benchmarks share: accounts through the API, and the load generator as its own process."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tempfile
import traceback
import uuid

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]


def register_users(base: str, count: int) -> list[list[str]]:
    """Sign up `count` accounts through the API; return [[user_id, token], …]."""
    users = []
    for _ in range(count):
        r = requests.post(
            f"{base}/api/auth/register",
            json={"email": f"{uuid.uuid4().hex}@bench.example", "password": "bench-password"},
            timeout=30,
        )
        users.append([r.json()["user_id"], r.json()["token"]])
    return users


def load_command(
    base: str, users_file: str, *, concurrency: int, duration: float, warmup: float = 3, rate: float = 0
) -> list[str]:
    """The command line of tests/bench/load.py (users from a JSON file of [user_id, token] pairs)."""
    return [
        sys.executable,
        str(ROOT / "tests/bench/load.py"),
        "--url",
        base,
        "--users",
        users_file,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(duration),
        "--warmup",
        str(warmup),
        "--rate",
        str(rate),
    ]


def run_load(
    base: str, users: list[list[str]], *, concurrency: int, duration: float, warmup: float = 3, rate: float = 0
) -> dict:
    """Run tests/bench/load.py in a separate process and return its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(users, f)
    out = subprocess.run(
        load_command(base, f.name, concurrency=concurrency, duration=duration, warmup=warmup, rate=rate),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def guarded(fn, *args) -> dict:
    """Run one measurement; an error is recorded and the run goes on (a benchmark never fails the build)."""
    try:
        return fn(*args)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}
