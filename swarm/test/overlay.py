#!/usr/bin/env python3
"""Lays swarm/stack.test.yml over swarm/stack.yml and prints the stack to deploy.

For each service of the override, each key replaces the base's whole (a command, an
entrypoint, ports), except `deploy`, `environment` and `healthcheck`, merged key by key (a
healthcheck's `test` replaced whole), and `configs` and `secrets`, added to the base's. Top-level
networks, volumes, configs and secrets are merged by name. `${VAR:-default}` is left for
`docker stack deploy` to fill; relative config files are made absolute, so the result can be
written anywhere.

Usage: overlay.py stack.yml stack.test.yml > merged.yml
"""

import os
import sys

import yaml


# Keys merged key by key; a healthcheck's `test` is still replaced whole.
MERGED = ("deploy", "environment", "healthcheck")
# Lists of configs and secrets: the override's are added (replacing one of the same source).
APPENDED = ("configs", "secrets")


def source(item):
    return item["source"] if isinstance(item, dict) else item


def merge_keys(base, over):
    out = dict(base or {})
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_keys(out[key], value)
        else:
            out[key] = value
    return out


def main(base_path, over_path):
    base = yaml.safe_load(open(base_path))
    over = yaml.safe_load(open(over_path))
    for name, service in (over.get("services") or {}).items():
        target = base["services"].setdefault(name, {})
        for key, value in service.items():
            if key in MERGED and isinstance(target.get(key), dict):
                target[key] = merge_keys(target[key], value)
            elif key in APPENDED and isinstance(target.get(key), list):
                names = {source(item) for item in value}
                target[key] = [i for i in target[key] if source(i) not in names] + value
            else:
                target[key] = value
    for section in ("networks", "volumes", "configs", "secrets"):
        for name, value in (over.get(section) or {}).items():
            base.setdefault(section, {})
            base[section][name] = merge_keys(base[section].get(name) or {}, value)
    # A config's file is relative to the file that named it last.
    for name, entry in (base.get("configs") or {}).items():
        named_in = over_path if name in (over.get("configs") or {}) else base_path
        if "file" in entry and not os.path.isabs(entry["file"]):
            where = os.path.dirname(os.path.abspath(named_in))
            entry["file"] = os.path.normpath(os.path.join(where, entry["file"]))
    yaml.safe_dump(base, sys.stdout, sort_keys=False, default_flow_style=False)


if __name__ == "__main__":
    main(*sys.argv[1:3])
