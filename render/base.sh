#!/bin/sh
# Print the base image to build render/Dockerfile (and knative/local/'s images) on, making sure it is here:
# $BASE when given; else the Dockerfile's default (python:3.11…-slim) when it is here or can be pulled;
# else the local stand-in built from Debian's packages (render/local-base.sh), built once and then reused.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${BASE:-}" ]; then
  echo "$BASE"
  exit 0
fi
official=$(sed -n 's/^ARG BASE=//p' render/Dockerfile)
stand_in=${LOCAL_BASE:-taskflow-base:bookworm}
if docker image inspect "$official" >/dev/null 2>&1; then
  echo "$official"
elif docker image inspect "$stand_in" >/dev/null 2>&1; then
  echo "$stand_in"
elif timeout "${PULL_TIMEOUT:-60}" docker pull -q "$official" >/dev/null 2>&1; then
  echo "$official"
else
  echo "render/base.sh: $official cannot be pulled; building $stand_in from Debian packages" >&2
  render/local-base.sh "$stand_in" >&2
  echo "$stand_in"
fi
