#!/bin/sh
# Fill the router's ports in (ROUTER_PORT, TASKS_PORT, FANOUT_PORT), then run nginx in the foreground.
set -eu
sed -e "s/@ROUTER_PORT@/${ROUTER_PORT:-8080}/g" -e "s/@TASKS_PORT@/${TASKS_PORT:-8081}/g" \
  -e "s/@FANOUT_PORT@/${FANOUT_PORT:-8086}/g" /etc/taskflow-router/router.conf > /tmp/nginx.conf
exec nginx -c /tmp/nginx.conf -g 'daemon off;'
