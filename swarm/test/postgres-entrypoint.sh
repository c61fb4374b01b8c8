#!/usr/bin/env bash
# PostgreSQL from Debian's package, started as the official image would be for this stack:
# a cluster owned by POSTGRES_USER with the password from POSTGRES_PASSWORD_FILE (SCRAM over
# the network), and the scripts under /docker-entrypoint-initdb.d run once, on a new volume.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
data="${PGDATA:-/var/lib/postgresql/data}"
user="${POSTGRES_USER:-postgres}"
mkdir -p "$data" /run/postgresql
chown -R postgres:postgres "$data" /run/postgresql
chmod 0700 "$data"
as_pg() { runuser -u postgres -- "$@"; }
if [ ! -s "$data/PG_VERSION" ]; then
  pwfile=$(mktemp)
  cat "$POSTGRES_PASSWORD_FILE" >"$pwfile"
  chown postgres "$pwfile"
  as_pg "$bin/initdb" -D "$data" -U "$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$data/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$data/pg_hba.conf"
  as_pg "$bin/pg_ctl" -D "$data" -o "-c listen_addresses='' -c port=5432 -c unix_socket_directories=/run/postgresql" -w start >/dev/null
  as_pg "$bin/psql" -h /run/postgresql -p 5432 -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"${POSTGRES_DB:-$user}\"" >/dev/null
  for script in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$script" ] || continue
    as_pg "$bin/psql" -h /run/postgresql -p 5432 -v ON_ERROR_STOP=1 -U "$user" -d "${POSTGRES_DB:-$user}" -f "$script" >/dev/null
  done
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- "$bin/postgres" -D "$data" -c port=5432 -c unix_socket_directories=/run/postgresql
