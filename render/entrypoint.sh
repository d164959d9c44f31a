#!/bin/sh
# Container entrypoint. With arguments (a Knative Service's per-function `args`), run them as given:
# the migration Job migrates there. Without, migrate and serve the combined app (or TASKFLOW_APP).
set -e
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
if [ -z "${JWT_SECRET:-}" ]; then
  # Never sign tokens with a public default in a container (Render's blueprint generates one).
  echo "JWT_SECRET is not set: refusing to start. Set it to a random string of 32 characters or more." >&2
  exit 64
fi
taskflow-migrate
exec gunicorn --config render/gunicorn.conf.py "${TASKFLOW_APP:-functions.combined:create_app()}"
