#!/usr/bin/env bash
# Make sure the MariaDB server on 127.0.0.1:3306 answers (start it if it is down) and the ragchat
# database exists. Fails loudly: a MySQL test run must never silently skip.
set -euo pipefail
ping() { mysqladmin --protocol=tcp -h127.0.0.1 -P3306 -uroot ping >/dev/null 2>&1; }
if ! ping; then
  echo "MariaDB is not answering; starting it."
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do ping && break; sleep 0.5; done
fi
ping || { echo "MariaDB on 127.0.0.1:3306 is unreachable." >&2; exit 1; }
mysql --protocol=tcp -h127.0.0.1 -P3306 -uroot -e \
  "CREATE DATABASE IF NOT EXISTS ragchat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
