#!/bin/sh
# `make stack` / `make stack-down`: the function topology of docker-compose.yaml beside this script.
#   stack.sh up     build the broker and router images when missing (on render/base.sh's base), create the
#                   database when missing, start every container, wait until every function is ready
#   stack.sh down   remove every container of the stack (the database stays)
# STACK_PROJECT names the compose project (default taskflow-stack); the STACK_* ports and URLs are read
# by docker-compose.yaml. Needs taskflow:local (`make image`) and a Docker engine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
project=${STACK_PROJECT:-taskflow-stack}
image=${TASKFLOW_IMAGE:-taskflow:local}

compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -p "$project" -f "$here/docker-compose.yaml" "$@"
  else
    command -v docker-compose >/dev/null || { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }
    docker-compose -p "$project" -f "$here/docker-compose.yaml" "$@"
  fi
}

build() {  # build IMAGE DOCKERFILE [BUILD-ARG…]: only when the image is missing (STACK_REBUILD=1 rebuilds)
  tag=$1 file=$2
  shift 2
  if [ -n "${STACK_REBUILD:-}" ] || ! docker image inspect "$tag" >/dev/null 2>&1; then
    docker build --network host --build-arg BASE="$("$root/render/base.sh")" "$@" -f "$here/$file" -t "$tag" "$here"
  fi
}

wait_ready() {  # every function's /ready and the router's /health answer 200, within STACK_WAIT seconds (300: on a busy machine the consumer groups take a while to form)
  python3 - "$@" <<'PY'
import os, sys, time, urllib.request
urls = sys.argv[1:]
deadline = time.monotonic() + float(os.environ.get("STACK_WAIT", "300"))
pending = list(urls)
while pending and time.monotonic() < deadline:
    for url in list(pending):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    pending.remove(url)
        except OSError:
            pass
    time.sleep(0.5)
if pending:
    sys.exit("not ready: " + " ".join(pending))
PY
}

case "${1:-up}" in
up)
  docker image inspect "$image" >/dev/null 2>&1 || { echo "stack.sh: $image is missing: make image" >&2; exit 1; }
  . "$root/render/pip-env.sh"
  build taskflow-broker:local broker.Dockerfile --build-arg PIP_INDEX_URL --build-arg PIP_EXTRA_INDEX_URL \
    --build-arg PIP_TRUSTED_HOST --build-arg PIP_CERT
  build taskflow-router:local router.Dockerfile
  database_url=${STACK_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/taskflow_stack}
  # The database, when missing, from the app image (psycopg is there): no client needed on the machine.
  docker run --rm --network host -e DATABASE_URL="$database_url" --entrypoint python "$image" -c '
import os, psycopg
url = os.environ["DATABASE_URL"].replace("+psycopg", "", 1).split("?")[0]
server, name = url.rsplit("/", 1)
with psycopg.connect(server + "/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(f"CREATE DATABASE \"{name}\"")
        print("created database", name)
'
  compose up -d --remove-orphans
  port() { eval "printf '%s' \"\${STACK_$1_PORT:-$2}\""; }
  wait_ready "http://127.0.0.1:$(port TASKS 8081)/ready" "http://127.0.0.1:$(port OUTBOX 8082)/ready" \
    "http://127.0.0.1:$(port RECURRENCE 8083)/ready" "http://127.0.0.1:$(port REMINDERS 8084)/ready" \
    "http://127.0.0.1:$(port AUDIT 8085)/ready" "http://127.0.0.1:$(port FANOUT 8086)/ready" \
    "http://127.0.0.1:$(port NOTIFICATIONS 8087)/ready" "http://127.0.0.1:${STACK_PORT:-8080}/health" ||
    { compose ps; compose logs --tail 30; exit 1; }
  echo "TaskFlow: http://127.0.0.1:${STACK_PORT:-8080}  (make stack-down removes it)"
  ;;
down)
  compose down --remove-orphans --timeout 20
  ;;
*)
  echo "usage: $0 up|down" >&2
  exit 2
  ;;
esac
