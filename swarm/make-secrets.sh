#!/usr/bin/env bash
# Creates the Swarm secrets swarm/stack.yml expects, each only if it does not exist yet, with
# fresh random values (nothing is written to disk or printed). Run on a manager node:
#
#   swarm/make-secrets.sh
#
# Values you bring yourself, through the environment:
#   MEDMESH_CLIENT_SECRET   the confidential clients' secret, if all share one (a test issuer);
#                           otherwise each client gets a random one: set the same value on
#                           its client in Keycloak (see swarm/README.md)
#   MEDMESH_SMTP_URL        the mail server notify sends through (smtps://user:pass@host:465)
#   MEDMESH_GRAFANA_PASSWORD Grafana's admin password (random and unreadable otherwise)
#   MEDMESH_SECRET_PREFIX   a prefix for the secret names (default medmesh_)
set -euo pipefail

prefix="${MEDMESH_SECRET_PREFIX:-medmesh_}"
random() { head -c "${1:-24}" /dev/urandom | base64 | tr -d '/+=\n'; }
exists() { docker secret inspect "$prefix$1" >/dev/null 2>&1; }
create() { # name value
  if exists "$1"; then
    echo "kept     $prefix$1"
  else
    printf '%s' "$2" | docker secret create "$prefix$1" - >/dev/null
    echo "created  $prefix$1"
  fi
}
# A secret other secrets are made from is read back from nowhere: Swarm never reveals one.
# Those derived from the database and Redis passwords are therefore made together with them.
if exists postgres_password && ! exists accounts_database_url; then
  echo "${prefix}postgres_password exists but the database URLs do not: remove it or create the URLs by hand" >&2
  exit 1
fi
if ! exists postgres_password; then
  pg=$(random 24)
  create postgres_password "$pg"
  for service in accounts scheduling pharmacy records notify; do
    create "${service}_database_url" "postgres://medmesh:$pg@postgres:5432/$service"
  done
fi
if exists redis_password && ! exists redis_url; then
  echo "${prefix}redis_password exists but ${prefix}redis_url does not: remove it or create the URL by hand" >&2
  exit 1
fi
if ! exists redis_password; then
  if exists redis_url; then
    echo "${prefix}redis_url exists without ${prefix}redis_password: remove it (and the stack using it) first" >&2
    exit 1
  fi
  redis=$(random 24)
  create redis_password "$redis"
  create redis_url "redis://:$redis@redis:6379"
fi
for client in gateway accounts scheduling pharmacy records notify; do
  create "${client}_client_secret" "${MEDMESH_CLIENT_SECRET:-$(random 32)}"
done
# The keys personal data is sealed with: 32 random bytes each. Losing them loses the data
# sealed with them: back them up (docs/operations.md).
create records_key_k1 "$(head -c 32 /dev/urandom | base64)"
create notify_key_k1 "$(head -c 32 /dev/urandom | base64)"
if [ -n "${MEDMESH_SMTP_URL:-}" ]; then
  create smtp_url "$MEDMESH_SMTP_URL"
elif ! exists smtp_url; then
  echo "MEDMESH_SMTP_URL is not set: notify needs a mail server (smtps://user:pass@host:465)" >&2
  exit 1
fi
# Grafana's admin password: yours (MEDMESH_GRAFANA_PASSWORD), since Swarm never shows a secret.
if [ -n "${MEDMESH_GRAFANA_PASSWORD:-}" ]; then
  create grafana_admin_password "$MEDMESH_GRAFANA_PASSWORD"
elif ! exists grafana_admin_password; then
  create grafana_admin_password "$(random 18)"
  echo "Grafana's admin password is random and unreadable: set MEDMESH_GRAFANA_PASSWORD and recreate ${prefix}grafana_admin_password to sign in" >&2
fi
