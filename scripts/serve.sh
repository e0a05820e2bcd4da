#!/usr/bin/env bash
# Production serving (`make serve`): migrate, then run the web server and its companion processes together.
# The environment (DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS, ...) is the README's "Production" section.
# Each `start` line below is one long-running process; when one of them ends, the others are stopped,
# so a supervisor (systemd, a container runtime) sees the failure and restarts the whole set.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

$BIN/python manage.py migrate --noinput
$BIN/python manage.py createcachetable  # the rate-limit counters' table (unused when REDIS_URL is set)

pids=()
start() { "$@" & pids+=("$!"); }
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap 'stop; exit 0' INT TERM

start $BIN/gunicorn -c python:ragchat.gunicorn_conf ragchat.wsgi

wait -n
status=$?
stop
exit "$status"
