#!/usr/bin/env bash
# Sets the secret of every MedMesh confidential client in the `medmesh` realm to the one its
# component holds, and gives each service account its own role (k8s/keycloak/README.md). Run by
# the keycloak-client-secrets Job; safe to run again.
set -euo pipefail

kcadm() { /opt/keycloak/bin/kcadm.sh "$@" --config /tmp/kcadm.config; }

until kcadm config credentials --server "$KEYCLOAK_URL" --realm master \
  --user "$KC_BOOTSTRAP_ADMIN_USERNAME" --password "$KC_BOOTSTRAP_ADMIN_PASSWORD"; do
  echo "waiting for Keycloak at $KEYCLOAK_URL"
  sleep 5
done

set_secret() {
  local client=$1 secret=$2 id
  id=$(kcadm get clients -r medmesh -q "clientId=$client" --fields id --format csv --noquotes)
  if [ -z "$id" ]; then
    echo "client $client is not in realm medmesh" >&2
    exit 1
  fi
  kcadm update "clients/$id" -r medmesh -s "secret=$secret"
  echo "set the secret of $client"
}

set_secret medmesh-gateway "$MEDMESH_GATEWAY__CLIENT_SECRET"
for service in accounts scheduling pharmacy records notify; do
  variable="MEDMESH_SERVICES__${service^^}__CLIENT_SECRET"
  set_secret "svc-$service" "${!variable}"
done

# One role per calling service (a realm imported before they existed has only the shared
# `service` role, which no service honours any more): create it if missing, map it to the
# client's service account, and take the old shared role away.
own_role() {
  local client=$1 role=$2
  kcadm get "roles/$role" -r medmesh >/dev/null 2>&1 ||
    kcadm create roles -r medmesh -s "name=$role" -s "description=$client acting on its own"
  kcadm add-roles -r medmesh --uusername "service-account-$client" --rolename "$role"
  kcadm remove-roles -r medmesh --uusername "service-account-$client" --rolename service \
    >/dev/null 2>&1 || true
  echo "service-account-$client holds $role"
}

own_role medmesh-gateway svc-gateway
for service in accounts scheduling pharmacy records notify; do
  own_role "svc-$service" "svc-$service"
done
