#!/usr/bin/env bash
# Checks the Kubernetes deployment (k8s/) without a cluster. For every overlay under
# k8s/overlays:
#
#   1. renders it with `kubectl kustomize` (kubectl 1.27+ bundles kustomize v5; offline);
#   2. validates every object against the Kubernetes OpenAPI schemas of the oldest and newest
#      supported versions, strictly (unknown fields fail), with kubernetes-validate;
#   3. runs scripts/check_k8s.py over the objects: probes, resources, security context,
#      disruption budgets, autoscalers, network policies (the paths they open, simulated) and
#      the MEDMESH_* settings each pod gets.
#
#   scripts/check-k8s.sh              every overlay
#   scripts/check-k8s.sh dev          only k8s/overlays/dev
#
# kubernetes-validate is installed (pinned) into a venv under
# ${MEDMESH_CACHE:-$HOME/.cache/medmesh}/k8s-venv the first time; it needs PyPI then, and
# nothing after. KUBECTL names another kubectl.
set -euo pipefail
cd "$(dirname "$0")/.."

# kubernetes-validate ships schemas for Kubernetes 1.22 to 1.32; we check the oldest version we
# support (the preStop `sleep` action is on by default from 1.30) and the newest it knows.
KUBERNETES_VALIDATE_VERSION=1.32.0
KUBERNETES_VERSIONS=(1.30.0 1.32.0)
# Its dependencies, pinned too, so a run today and a run next year check the same way.
PINNED=(
  "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  attrs==26.1.0
  importlib_resources==7.1.0
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  packaging==26.4
  PyYAML==6.0.4
  referencing==0.37.0
  rpds-py==2026.9.1
  typing_extensions==4.16.0
)

say() { printf '==> %s\n' "$*"; }
fail() { printf 'check-k8s: %s\n' "$*" >&2; exit 1; }

kubectl=${KUBECTL:-kubectl}
command -v "$kubectl" >/dev/null || fail "kubectl is not installed (it renders the overlays: kubectl kustomize)"

venv="${MEDMESH_CACHE:-$HOME/.cache/medmesh}/k8s-venv"
if [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null || true)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  say "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PINNED[@]}" \
    || fail "could not install kubernetes-validate into $venv"
fi
for version in "${KUBERNETES_VERSIONS[@]}"; do
  [ -d "$("$venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema/v$version-local-strict" ] \
    || fail "kubernetes-validate $KUBERNETES_VALIDATE_VERSION has no strict schemas for Kubernetes $version"
done

overlays=("$@")
if [ ${#overlays[@]} -eq 0 ]; then
  for dir in k8s/overlays/*/; do overlays+=("$(basename "$dir")"); done
fi
[ ${#overlays[@]} -gt 0 ] || fail "no overlays under k8s/overlays"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=()
for overlay in "${overlays[@]}"; do
  dir="k8s/overlays/$overlay"
  [ -f "$dir/kustomization.yaml" ] || fail "$dir/kustomization.yaml does not exist"
  rendered="$work/$overlay.yaml"

  say "$overlay: kubectl kustomize $dir"
  if ! "$kubectl" kustomize "$dir" >"$rendered" 2>"$work/kustomize.err"; then
    cat "$work/kustomize.err" >&2
    failed+=("$overlay: kustomize could not render it")
    continue
  fi
  grep -h '^kind:' "$rendered" | sort | uniq -c | sed 's/^ */    /'

  say "$overlay: kubernetes-validate --strict against Kubernetes ${KUBERNETES_VERSIONS[*]}"
  validate_args=(--strict --quiet)
  for version in "${KUBERNETES_VERSIONS[@]}"; do validate_args+=(-k "$version"); done
  status=0
  "$venv/bin/kubernetes-validate" "${validate_args[@]}" "$rendered" >"$work/validate.out" 2>&1 || status=$?
  # It only warns about a kind it has no schema for; that is a failure here.
  if [ "$status" -ne 0 ] || grep -q . "$work/validate.out"; then
    sed "s|$work/||" "$work/validate.out"
    failed+=("$overlay: schema validation")
  else
    objects=$(grep -c '^kind:' "$rendered")
    echo "  ok   $objects objects valid (strict) against every version"
  fi

  say "$overlay: scripts/check_k8s.py"
  "$venv/bin/python" scripts/check_k8s.py --overlay "$overlay" "$rendered" || failed+=("$overlay: deployment rules")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'check-k8s: FAILED\n' >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
say "k8s: ${overlays[*]} passed"
