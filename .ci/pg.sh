#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL cluster, then stop the cluster and delete it.
#
#   .ci/pg.sh COMMAND [ARGS...]
#
# The cluster lives in a temporary folder, listens on 127.0.0.1 on a free port, and is run by the
# `postgres` user when this script runs as root (PostgreSQL refuses to run as root). COMMAND sees
# TEST_DATABASE_URL, the cluster's `postgres` database as a SQLAlchemy URL (the tests create their
# own databases from it). The cluster is stopped and its folder removed whatever COMMAND's result
# (also on Ctrl+C); the script exits with COMMAND's status.
#
# PGBIN: the server's binaries (default Debian's PostgreSQL 15). PG_OPTS: extra server settings;
# the default trades durability for speed (fsync off), fine for data thrown away: a benchmark
# that compares with SQLite's durable writes passes PG_OPTS="-c fsync=on -c full_page_writes=on
# -c synchronous_commit=on".
set -euo pipefail
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PGBIN/initdb" ]; then
  echo "$0: no PostgreSQL server in $PGBIN (Debian: apt-get install postgresql)" >&2
  exit 2
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/pg-cluster.XXXXXX")
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi
cleanup() {
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -t 30 stop >/dev/null 2>&1 \
    || as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
  >"$dir/initdb.log" || { cat "$dir/initdb.log" >&2; exit 2; }
opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
opts="$opts -c max_connections=200 -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
     -o "$opts ${PG_OPTS:-}" start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 2
fi
export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port ($dir)" >&2
"$@"
