#!/usr/bin/env bash
# The Swarm stack test: swarm/stack.yml deployed for real on a single-node Swarm.
#
#   scripts/stack-test.sh            (as root, or with sudo; 10-15 minutes the first time)
#
# Installs Docker (Debian's docker.io) and debootstrap if missing, starts dockerd and a
# single-node Swarm if none runs, builds the images here (no registry is needed: a Debian
# root file system made with debootstrap and `docker import`ed carries PostgreSQL, Redis and
# Prometheus from Debian's packages, tansu from cargo, and MedMesh's binary), deploys
# swarm/stack.yml with swarm/stack.test.yml laid over it (which says what it swaps and why;
# swarm/test/overlay.py), waits
# until every service is healthy, then:
#   - books appointments through the gateway while one of the two scheduling replicas'
#     containers is killed; every booking lands exactly once (a retry carries the same
#     request id) and Swarm brings the replica back;
#   - checks from a container on the front network that PostgreSQL, Redis and Kafka cannot be
#     reached from it, while the gateway can;
#   - checks that Prometheus scrapes every MedMesh process;
# and removes the stack, its secrets and volumes. Anything it started, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/medmesh/target}"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cache="${MEDMESH_CACHE:-$HOME/.cache/medmesh}/stack"
stack="${MEDMESH_STACK_NAME:-medmeshtest}"
image="medmesh/medmesh:stack-test"
infra="medmesh-stack/infra:test"
base="medmesh-stack/base:bookworm"
mkdir -p "$cache"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
docker() { if [ "$(id -u)" = 0 ]; then command docker "$@"; else sudo docker "$@"; fi; }

cleanup_cmds=()
cleanup() {
  local i
  for ((i = ${#cleanup_cmds[@]} - 1; i >= 0; i--)); do eval "${cleanup_cmds[$i]}" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# --- Docker and a Swarm ------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  say "installing docker.io and debootstrap"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io debootstrap >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd"
  as_root sh -c 'dockerd >/tmp/medmesh-stack-dockerd.log 2>&1 & echo $! >/tmp/medmesh-stack-dockerd.pid'
  [ "${MEDMESH_STACK_KEEP:-}" = 1 ] || cleanup_cmds+=("as_root kill \$(cat /tmp/medmesh-stack-dockerd.pid)")
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || fail "dockerd did not start (see /tmp/medmesh-stack-dockerd.log)"
fi
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  say "docker swarm init (single node)"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  [ "${MEDMESH_STACK_KEEP:-}" = 1 ] || cleanup_cmds+=("docker swarm leave --force")
fi
node=$(docker info --format '{{.Swarm.NodeID}}')
docker node update --label-add medmesh.postgres=true "$node" >/dev/null

# --- images ------------------------------------------------------------------------------
if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ ! -s "$cache/rootfs.tar" ]; then
    say "debootstrap: a Debian bookworm root file system with PostgreSQL, Redis and Prometheus"
    rm -rf "$cache/rootfs"
    as_root debootstrap --variant=minbase \
      --include=ca-certificates,postgresql-15,redis-server,prometheus \
      bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 ||
      fail "debootstrap (see $cache/debootstrap.log)"
    as_root tar -C "$cache/rootfs" -cf "$cache/rootfs.tar" .
    as_root rm -rf "$cache/rootfs"
  fi
  say "docker import $base"
  docker import "$cache/rootfs.tar" "$base" >/dev/null
fi
if ! command -v tansu >/dev/null 2>&1; then
  say "tansu: installing (about 11 minutes on two cores, once)"
  cargo install --locked tansu --version 0.6.0 --features dynostore
fi
if ! command -v pkg-config >/dev/null 2>&1 || ! pkg-config --exists openssl; then
  say "installing libssl-dev (librdkafka's TLS)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libssl-dev pkg-config >/dev/null
fi
say "cargo build -p medmesh (with the development issuer, which stands in for Keycloak)"
cargo build -q -p medmesh --locked
context=$(mktemp -d)
cleanup_cmds+=("rm -rf $context")
cp "$CARGO_TARGET_DIR/debug/medmesh" "$context/medmesh"
cp "$(command -v tansu)" "$context/tansu"
say "docker build $image (Dockerfile, target prebuilt)"
docker build -q -f Dockerfile --target prebuilt --build-arg RUNTIME_IMAGE="$base" \
  --build-arg BINARY=medmesh -t "$image" "$context" >/dev/null
say "docker build $infra"
printf 'FROM %s\nCOPY tansu /usr/local/bin/tansu\n' "$base" |
  docker build -q -f - -t "$infra" "$context" >/dev/null

# --- secrets and the stack ---------------------------------------------------------------
remove_stack() {
  docker stack rm "$stack" >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do
    [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
      [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ] && break
    sleep 2
  done
  docker volume ls -q --filter "label=com.docker.stack.namespace=$stack" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  docker secret ls --format '{{.Name}}' | grep "^${stack}_" | xargs -r docker secret rm >/dev/null 2>&1 || true
}
remove_stack
say "secrets (swarm/make-secrets.sh, prefix ${stack}_)"
# The development issuer knows every client by the secret `dev-secret`. Mail goes to a relay on
# notify's loopback that is not there: deliveries retry; this test is about the stack.
MEDMESH_SECRET_PREFIX="${stack}_" MEDMESH_CLIENT_SECRET=dev-secret \
  MEDMESH_SMTP_URL="smtp://127.0.0.1:25" swarm/make-secrets.sh >/dev/null
# MEDMESH_STACK_KEEP=1 leaves the stack running afterwards, to look at.
[ "${MEDMESH_STACK_KEEP:-}" = 1 ] || cleanup_cmds+=("remove_stack")
say "docker stack deploy $stack (swarm/stack.yml with swarm/stack.test.yml laid over it)"
python3 swarm/test/overlay.py swarm/stack.yml swarm/stack.test.yml >"$context/stack.yml"
MEDMESH_IMAGE="$image" MEDMESH_INFRA_IMAGE="$infra" MEDMESH_SECRET_PREFIX="${stack}_" \
  docker stack deploy --prune -c "$context/stack.yml" "$stack" >/dev/null

services=(gateway accounts scheduling pharmacy records notify postgres redis kafka keycloak prometheus)
healthy() { # service: every desired task running and healthy
  local svc="${stack}_$1" want have
  want=$(docker service inspect "$svc" --format '{{.Spec.Mode.Replicated.Replicas}}')
  have=$(docker ps --filter "label=com.docker.swarm.service.name=$svc" --filter health=healthy -q | wc -l)
  [ "$have" -ge "$want" ]
}
say "waiting for every service to be healthy"
start=$(date +%s)
for svc in "${services[@]}"; do
  until healthy "$svc"; do
    if [ $(($(date +%s) - start)) -gt 600 ]; then
      docker service ps --no-trunc "${stack}_$svc" >&2 || true
      docker service logs --tail 40 "${stack}_$svc" >&2 || true
      fail "$svc is not healthy after 10 minutes"
    fi
    sleep 3
  done
  echo "    $svc healthy ($(($(date +%s) - start)) s)"
done
say "waiting for the demo data"
until [ "$(docker service ps "${stack}_demo" --format '{{.CurrentState}}' | grep -c '^Complete')" -ge 1 ]; do
  if [ $(($(date +%s) - start)) -gt 900 ]; then
    docker service logs --tail 40 "${stack}_demo" >&2 || true
    fail "the demo data was not seeded"
  fi
  sleep 3
done

# --- a booking run while a scheduling replica dies ---------------------------------------
say "booking through the gateway while one scheduling replica is killed"
before=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_scheduling" | sort | tr '\n' ' ')
victim_file="$context/victim"
# The replica that has served the most calls is the one the gateway's connection is on.
python3 swarm/test/booking.py --gateway http://127.0.0.1:8080/graphql \
  --issuer http://127.0.0.1:8081/realms/medmesh --bookings 40 --kill-after 10 --pause 0.05 \
  --kill "swarm/test/kill-serving-replica.sh $stack scheduling >$victim_file" || fail "the booking run"
victim=$(cat "$victim_file")
for _ in $(seq 1 60); do
  healthy scheduling && break
  sleep 2
done
healthy scheduling || fail "Swarm did not bring the killed scheduling replica back"
after=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_scheduling" | sort | tr '\n' ' ')
[ "$before" != "$after" ] || fail "the scheduling containers did not change"
echo "    scheduling back at 2 healthy replicas (a new container replaced $victim)"

# --- the front network reaches no data store ---------------------------------------------
say "from the front network: the gateway answers, the data stores do not (by name or address)"
# A TCP connection alone proves little here (this machine's network may accept connections to
# any outside address), so each store is asked in its own protocol: PostgreSQL answers an
# SSLRequest with one byte, Redis a PING with +PONG or -NOAUTH.
speaks='speaks() { # host port protocol
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  case "$3" in
    postgres) printf "\x00\x00\x00\x08\x04\xd2\x16\x2f" >&3; answer=$(timeout 3 head -c 1 <&3 | tr -d "\0") ;;
    redis) printf "PING\r\n" >&3; answer=$(timeout 3 head -c 5 <&3) ;;
  esac
  exec 3<&-
  case "$3:$answer" in postgres:N|postgres:S|redis:+PONG|redis:-NOAU) return 0 ;; *) return 1 ;; esac
}'
stores=""
for svc in postgres:5432 redis:6379; do
  c=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_${svc%:*}" | head -1)
  ip=$(docker inspect "$c" --format "{{(index .NetworkSettings.Networks \"${stack}_back\").IPAddress}}")
  [ -n "$ip" ] || fail "no back-network address for ${svc%:*}"
  stores+=" ${svc%:*}:${svc#*:}:${svc%:*} $ip:${svc#*:}:${svc%:*}"
done
docker run --rm --network "${stack}_front" -e STORES="$stores" -e SPEAKS="$speaks" "$infra" bash -c '
  eval "$SPEAKS"
  timeout 3 bash -c "exec 3<>/dev/tcp/gateway/8080" 2>/dev/null || { echo "the gateway is not reachable from front"; exit 1; }
  for target in $STORES; do
    IFS=: read -r host port protocol <<<"$target"
    if speaks "$host" "$port" "$protocol"; then echo "$protocol at $host:$port answers on front"; exit 1; fi
    echo "    $protocol at $host:$port: no answer from front"
  done
  for name in kafka:9092 accounts:50051 scheduling:50052 prometheus:9090; do
    if getent hosts "${name%:*}" >/dev/null; then echo "${name%:*} resolves on front"; exit 1; fi
    echo "    ${name%:*}: no such name on front"
  done' || fail "network isolation"
# The same stores answer from the back network (the gateway is on both): the silence above is
# the network's doing, not the probe's.
gateway=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_gateway" | head -1)
docker exec -e STORES="$stores" -e SPEAKS="$speaks" "$gateway" bash -c '
  eval "$SPEAKS"
  for target in $STORES; do
    IFS=: read -r host port protocol <<<"$target"
    speaks "$host" "$port" "$protocol" || { echo "$protocol at $host:$port does not answer on back"; exit 1; }
  done' || fail "the data stores do not answer on the back network either"
echo "    ...and each of them answers from the back network"

# --- Prometheus scrapes every process ----------------------------------------------------
say "Prometheus: every MedMesh process is scraped"
prom=$(docker ps -q --filter "label=com.docker.swarm.service.name=${stack}_prometheus" | head -1)
expected=0
for svc in gateway accounts scheduling pharmacy records notify; do
  expected=$((expected + $(docker service inspect "${stack}_$svc" --format '{{.Spec.Mode.Replicated.Replicas}}')))
done
for _ in $(seq 1 40); do
  up=$(docker exec "$prom" promtool query instant http://127.0.0.1:9090 \
    'count(up{job=~"gateway|accounts|scheduling|pharmacy|records|notify"} == 1)' 2>/dev/null |
    sed -n 's/.*=> \([0-9]*\) @.*/\1/p')
  [ "${up:-0}" -ge "$expected" ] && break
  sleep 3
done
[ "${up:-0}" -ge "$expected" ] || {
  docker exec "$prom" promtool query instant http://127.0.0.1:9090 'up' >&2 || true
  fail "Prometheus sees ${up:-0} of $expected MedMesh processes up"
}
echo "    $up MedMesh processes up"

say "stack test passed"
