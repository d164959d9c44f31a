#!/bin/sh
# Container entrypoint. With arguments (a Knative Service's per-function `args`), run them as given:
# the migration Job migrates there. Without, migrate and serve the combined app (or TASKFLOW_APP).
set -e
if [ "$#" -gt 0 ]; then
  exec "$@"
fi
taskflow-migrate
exec gunicorn --config render/gunicorn.conf.py "${TASKFLOW_APP:-functions.combined:create_app()}"
