#!/bin/sh
# Make sure a Docker engine answers (`make image`, `make stack`, the container tests): Debian's docker.io
# when there is no engine, and dockerd started in the background when none runs (no systemd here).
set -eu
docker info >/dev/null 2>&1 && exit 0
if ! command -v dockerd >/dev/null; then
  apt-get update -qq && apt-get install -y -qq docker.io >/dev/null
fi
if ! pgrep -x dockerd >/dev/null; then
  nohup dockerd >"${DOCKERD_LOG:-/var/log/dockerd.log}" 2>&1 &
fi
tries=0
until docker info >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "render/engine.sh: dockerd does not answer (see ${DOCKERD_LOG:-/var/log/dockerd.log})" >&2; exit 1; }
  sleep 1
done
