#!/usr/bin/env bash
# Offline checks of the monitoring configuration (swarm/prometheus, swarm/grafana):
#
#   - both Prometheus configurations are valid, and their rule path finds the rules;
#   - the alerting rules are valid, each names its severity and its runbook anchor;
#   - the rule unit tests pass, and every alert is made to fire by at least one of them;
#   - every dashboard is JSON that Grafana will provision against the `prometheus` datasource,
#     with a non-empty query on every panel.
#
# Needs promtool (Debian's `prometheus` package, installed with apt-get when missing, as root)
# and python3. Usage: scripts/check-monitoring.sh
set -euo pipefail
cd "$(dirname "$0")/.."

prom=swarm/prometheus
dashboards=swarm/grafana/dashboards

if ! command -v promtool >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "check-monitoring: promtool is missing; install Debian's prometheus package" >&2
    exit 1
  fi
  echo "== installing promtool (apt-get install prometheus)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends prometheus \
    || { apt-get update && apt-get install -y --no-install-recommends prometheus; }
fi

# The configurations name their rules relative to themselves (rules/*.yml), which is
# /etc/prometheus/rules/*.yml where the stack mounts them and swarm/prometheus/rules/*.yml here,
# so the files checked are the files deployed. A glob that matches nothing is not an error to
# Prometheus, so make sure promtool actually read the rules.
for config in "$prom/prometheus.yml" "$prom/dev.yml"; do
  echo "== promtool check config $config"
  output=$(promtool check config "$config" 2>&1) || { echo "$output"; exit 1; }
  echo "$output"
  if ! grep -q "Checking $prom/rules/.*\.yml" <<<"$output"; then
    echo "check-monitoring: $config loads no rule file" >&2
    exit 1
  fi
done

echo "== promtool check rules"
promtool check rules "$prom"/rules/*.yml

echo "== promtool test rules"
promtool test rules "$prom"/tests/*.yml

echo "== alerts: severity, runbook, a test that fires each"
python3 - "$prom" <<'EOF'
import glob, re, sys

prom = sys.argv[1]
problems = []
alerts = []
for path in sorted(glob.glob(f"{prom}/rules/*.yml")):
    text = open(path).read()
    # Each alerting rule runs from its "- alert:" line to the next rule.
    for block in re.split(r"\n\s*- (?=alert:|record:)", text)[1:]:
        m = re.match(r"alert:\s*(\S+)", block)
        if not m:
            continue
        name = m.group(1)
        alerts.append(name)
        if not re.search(r"\n\s*severity:\s*(page|ticket)\s*\n", block):
            problems.append(f"{name}: severity is not page or ticket")
        for key in ("summary", "description"):
            if not re.search(rf"\n\s*{key}:\s*\S", block):
                problems.append(f"{name}: no {key} annotation")
        anchor = f"docs/operations.md#alert-{name.lower()}"
        if not re.search(rf"\n\s*runbook:\s*{re.escape(anchor)}\s*(\n|$)", block):
            problems.append(f"{name}: runbook is not {anchor}")

fired = set()
for path in sorted(glob.glob(f"{prom}/tests/*.yml")):
    text = open(path).read()
    fired |= set(re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels", text))
for name in alerts:
    if name not in fired:
        problems.append(f"{name}: no test makes it fire")
if len(set(alerts)) != len(alerts):
    problems.append("an alert name is used twice")

for p in problems:
    print(f"check-monitoring: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"{len(alerts)} alerts, each with severity and runbook, each fired by a test")
EOF

echo "== dashboards"
for dashboard in "$dashboards"/*.json; do
  python3 -m json.tool "$dashboard" >/dev/null
done
python3 - "$dashboards"/*.json <<'EOF'
import json, sys

problems = []
uids = {}

def check_datasource(where, ds):
    if not isinstance(ds, dict) or ds.get("type") != "prometheus" or ds.get("uid") != "prometheus":
        problems.append(f"{where}: datasource is not {{type: prometheus, uid: prometheus}}: {ds!r}")

def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # panels inside a collapsed row

for path in sys.argv[1:]:
    board = json.load(open(path))
    uid = board.get("uid")
    if not uid:
        problems.append(f"{path}: no uid")
    elif uid in uids:
        problems.append(f"{path}: uid {uid} is also {uids[uid]}'s")
    uids[uid] = path
    if board.get("schemaVersion") != 39:
        problems.append(f"{path}: schemaVersion is {board.get('schemaVersion')}, not 39")
    ids = set()
    count = 0
    for panel in panels(board.get("panels", [])):
        where = f"{path}: panel {panel.get('title')!r}"
        if panel.get("id") in ids:
            problems.append(f"{where}: id {panel.get('id')} is used twice")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"{where}: no gridPos")
        if panel.get("type") == "row":
            continue
        count += 1
        check_datasource(where, panel.get("datasource"))
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        for target in targets:
            if not str(target.get("expr", "")).strip():
                problems.append(f"{where}: query {target.get('refId')} has no expr")
            check_datasource(f"{where} query {target.get('refId')}", target.get("datasource"))
    if count == 0:
        problems.append(f"{path}: no panels")
    print(f"{path}: {count} panels")

for p in problems:
    print(f"check-monitoring: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
EOF

grep -q '^ *uid: prometheus$' swarm/grafana/provisioning/datasources/prometheus.yml \
  || { echo "check-monitoring: the provisioned datasource's uid is not prometheus" >&2; exit 1; }

echo "monitoring checks passed"
