#!/bin/sh
# Run once by the postgres image on an empty data directory: one role and one database per
# MedMesh service, each role owning its database (so it can migrate it, and create the
# trusted btree_gist extension scheduling needs). Passwords come from the postgres-dev Secret.
set -eu
for db in accounts scheduling pharmacy records notify; do
  password_variable="$(echo "$db" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$password_variable")"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=db="$db" --set=password="$password" <<'SQL'
CREATE ROLE :"db" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"db";
SQL
done
