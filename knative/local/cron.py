"""The stack's cron triggers: what the PingSources (knative/overlays/eventing) or Dapr's cron bindings
(dapr/bindings-cron.yaml) do in a cluster, for the containers of knative/local/docker-compose.yaml.

Each line of CRON_JOBS is `<binding> <function's base URL> <schedule>`, the schedule in Dapr's words
(`@every 5s`, `@every 10m`, `@hourly`, `@daily`). Every tick POSTs `{}` to `<URL>/<binding>` with the
app token in `dapr-api-token`, as Dapr does; a job's ticks never overlap, and a tick that fails (the
function down, a 503) is logged and the next one retries, as in a cluster. Standard library only: it
runs in the app image (`python cron.py`), stops at once on SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

EVERY = re.compile(r"^@every\s+(\d+)([smh])$")
UNITS = {"s": 1, "m": 60, "h": 3600}
stopping = threading.Event()


def seconds_to_next(schedule: str, now: dt.datetime) -> float:
    """Seconds from `now` (UTC) to the schedule's next tick."""
    every = EVERY.match(schedule)
    if every:
        return float(int(every.group(1)) * UNITS[every.group(2)])
    if schedule in ("@hourly", "@daily"):
        step = dt.timedelta(hours=1) if schedule == "@hourly" else dt.timedelta(days=1)
        start = now.replace(minute=0, second=0, microsecond=0)
        if schedule == "@daily":
            start = start.replace(hour=0)
        return (start + step - now).total_seconds()
    raise ValueError(f"unsupported schedule {schedule!r} (use @every Ns|Nm|Nh, @hourly or @daily)")


def parse_jobs(text: str) -> list[tuple[str, str, str]]:
    jobs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            binding, url, schedule = line.split(None, 2)
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{binding}: {url!r} is not an http(s) URL")
            seconds_to_next(schedule, dt.datetime.now(dt.UTC))  # refuse a bad schedule at start
            jobs.append((binding, url.rstrip("/"), schedule))
    return jobs


def log(**fields: object) -> None:
    print(json.dumps({"logger": "taskflow.cron", **fields}), flush=True)


def tick(binding: str, url: str, token: str) -> None:
    request = urllib.request.Request(  # noqa: S310  # an http(s) URL: parse_jobs refuses any other scheme
        f"{url}/{binding}",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", "dapr-api-token": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=55) as response:  # noqa: S310  # http(s) only, as above
            log(binding=binding, status=response.status)
    except urllib.error.HTTPError as exc:
        log(binding=binding, status=exc.code, error=exc.read(300).decode(errors="replace"))
    except OSError as exc:  # refused, reset, timed out: the function is down; the next tick retries
        log(binding=binding, status=None, error=str(exc))


def run(binding: str, url: str, schedule: str, token: str) -> None:
    while not stopping.wait(seconds_to_next(schedule, dt.datetime.now(dt.UTC))):
        tick(binding, url, token)


def main() -> int:
    token = os.environ.get("APP_API_TOKEN", "")
    jobs = parse_jobs(os.environ.get("CRON_JOBS", ""))
    if not token or not jobs:
        print("cron.py needs APP_API_TOKEN and CRON_JOBS", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    for job in jobs:
        threading.Thread(target=run, args=(*job, token), name=job[0], daemon=True).start()
        log(binding=job[0], url=job[1], schedule=job[2], started=True)
    while not stopping.is_set():
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
