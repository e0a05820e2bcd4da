#!/usr/bin/env bash
# Production serving (`make serve`): migrate, then run gunicorn and the ingestion workers as one service
# (ragchat/supervisor.py: started together, stopped together by SIGTERM or Ctrl-C; a command that dies after
# its first seconds is restarted, one that fails at start stops everything so systemd or a container runtime
# sees the failure). The environment (DATABASE_URL, SECRET_KEY, ALLOWED_HOSTS, ...) is the README's
# "Production" section; INGEST_WORKERS (default 1) is how many documents are read at once.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

$BIN/python manage.py migrate --noinput
$BIN/python manage.py createcachetable  # the rate-limit counters' table (unused when REDIS_URL is set)

exec $BIN/python -m ragchat.supervisor \
  "$BIN/gunicorn -c python:ragchat.gunicorn_conf ragchat.wsgi" \
  "$BIN/python manage.py worker --processes ${INGEST_WORKERS:-1}"
