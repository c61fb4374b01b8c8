#!/usr/bin/env bash
# The Swarm stack's offline checks (the small version of scripts/stack-test.sh, which deploys
# it): swarm/stack.yml, alone and with the stack test's override laid over it, is a stack
# `docker stack config` accepts (the docker CLI only; no engine), and it keeps its promises:
#   - scheduling and pharmacy run at least 2 replicas; every MedMesh service updates
#     start-first and rolls back on failure; every service has a healthcheck (or opts out);
#   - only the gateway, Keycloak and Grafana are on the front network or publish a port;
#     PostgreSQL, Redis and Kafka are on the back network only;
#   - both overlays are encrypted; every secret is external (never in the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 swarm/test/overlay.py swarm/stack.yml swarm/stack.test.yml >"$tmp/test-stack.yml"
if command -v docker >/dev/null 2>&1 && docker stack config --help >/dev/null 2>&1; then
  for file in swarm/stack.yml "$tmp/test-stack.yml"; do
    MEDMESH_SECRET_PREFIX=medmesh_ docker stack config -c "$file" >/dev/null
    echo "ok   docker stack config accepts $(basename "$file")"
  done
else
  echo "note docker stack config is not available here; the stack's schema is checked by scripts/stack-test.sh"
fi

python3 - swarm/stack.yml "$tmp/test-stack.yml" <<'PY'
import sys
import yaml

FRONT = {"gateway", "keycloak", "grafana"}
STORES = {"postgres", "redis", "kafka"}
MEDMESH = {"gateway", "accounts", "scheduling", "pharmacy", "records", "notify"}
problems = []

def check(path, test):
    stack = yaml.safe_load(open(path))
    services = stack["services"]
    for name in MEDMESH:
        deploy = services[name].get("deploy", {})
        update = deploy.get("update_config", {})
        if update.get("order") != "start-first" or update.get("failure_action") != "rollback":
            problems.append(f"{path}: {name} does not update start-first with rollback")
    for name in ("scheduling", "pharmacy"):
        if int(services[name]["deploy"]["replicas"]) < 2:
            problems.append(f"{path}: {name} runs fewer than 2 replicas")
    for name, service in services.items():
        check_ = service.get("healthcheck")
        if not check_ or not (check_.get("test") or check_.get("disable")):
            problems.append(f"{path}: {name} has no healthcheck")
        networks = set(service.get("networks") or [])
        if "front" in networks and name not in FRONT:
            problems.append(f"{path}: {name} is on the front network")
        if service.get("ports") and name not in FRONT:
            problems.append(f"{path}: {name} publishes a port")
        if name in STORES and networks != {"back"}:
            problems.append(f"{path}: {name} is on {sorted(networks)}, not only back")
    for name, network in stack["networks"].items():
        if str((network.get("driver_opts") or {}).get("encrypted")).lower() != "true":
            problems.append(f"{path}: network {name} is not encrypted")
    if not test:
        for name, secret in stack["secrets"].items():
            if not secret.get("external"):
                problems.append(f"{path}: secret {name} is not external")

check(sys.argv[1], test=False)
check(sys.argv[2], test=True)
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
print("ok   replicas, rolling updates, healthchecks, networks, encryption and secrets as promised")
PY
echo "swarm checks passed"
