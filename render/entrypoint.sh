#!/bin/sh
# Container entrypoint: apply Alembic migrations, then serve (the combined app by default).
set -e
taskflow-migrate
exec gunicorn --config render/gunicorn.conf.py "${TASKFLOW_APP:-functions.combined:create_app()}"
