#!/usr/bin/env python3
"""Checks one rendered Kustomize overlay (`kubectl kustomize k8s/overlays/<env>`) for what
the Kubernetes schemas cannot see: probes, resources, the security context, disruption
budgets, autoscalers, network policies (which paths they open, simulated), the MEDMESH_*
settings each pod receives (known keys only, each component its own), what each overlay reaches
in the clear (tls.allow_plaintext) and, in prod, mutual TLS between the components.

    check_k8s.py --overlay dev rendered.yaml

Called by scripts/check-k8s.sh. Prints each check it ran; exits 1 naming every failure.
"""

from __future__ import annotations

import argparse
import base64
import ipaddress
import re
import sys
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent

SERVICES = ["accounts", "scheduling", "pharmacy", "records", "notify"]
COMPONENTS = SERVICES + ["gateway"]
GRPC_PORT = {"accounts": 50051, "scheduling": 50052, "pharmacy": 50053, "records": 50054, "notify": 50055}
GATEWAY_PORT = 8080
ADMIN_PORT = 9100
AUTOSCALED = ["gateway", "scheduling", "pharmacy"]
IMAGE = "medmesh/medmesh"
# The processes finish in-flight requests within 10 s of SIGTERM (shutdown_grace_ms).
SHUTDOWN_GRACE_SECONDS = 10
# Every probe of a component asks its admin port, which speaks plain HTTP whether or not [tls]
# is on: startup and readiness /ready (its database answers and it is not draining), liveness
# /live. Never a `grpc:` probe: the kubelet's gRPC probes cannot speak TLS.
COMPONENT_PROBES = {"startupProbe": "/ready", "readinessProbe": "/ready", "livenessProbe": "/live"}

# Who calls whom over gRPC (k8s/README.md, "Network paths"). Exactly these are open.
MESH_PATHS = {
    ("gateway", "accounts"), ("gateway", "scheduling"), ("gateway", "pharmacy"),
    ("gateway", "records"), ("gateway", "notify"),
    ("scheduling", "accounts"), ("pharmacy", "accounts"), ("notify", "accounts"),
    ("records", "accounts"), ("records", "scheduling"), ("records", "pharmacy"),
}

# Where each MEDMESH_* section belongs: a part's own section only in its own pods.
PART_SECTIONS = {"gateway", "scheduling", "pharmacy", "records", "notify"}
# svc-kit's keys that every component may carry (the shared ConfigMap holds only these).
KIT_SECTIONS = {"mode", "data_dir", "shutdown_grace_ms", "log", "admin", "auth", "dev_issuer",
                "database", "grpc", "tls", "cache", "events", "services"}
# The defaults files that name every configuration key (docs/configuration.md).
DEFAULTS_FILES = [
    "svc-kit/src/defaults.toml",
    "gateway-graphql/src/defaults.toml",
    "svc-scheduling/src/defaults.toml",
    "svc-pharmacy/src/defaults.toml",
    "svc-records/src/defaults.toml",
    "svc-notify/src/defaults.toml",
]
# svc-kit reads MEDMESH_<KEY>_FILE as a file holding <KEY>'s value, except for the settings
# whose own name ends in _file, which hold a path (svc-kit/src/config.rs, PATH_KEYS):
# MEDMESH_TLS__CERT_FILE sets tls.cert_file.
SECRET_FILE_SUFFIX = "_FILE"
PATH_KEYS = {"tls.cert_file", "tls.key_file", "tls.ca_file",
             "events.kafka.ca_file", "events.kafka.cert_file", "events.kafka.key_file"}
# Names a configuration file, whose keys this check cannot see.
CONFIG_FILE_VARIABLE = "MEDMESH_CONFIG"
# What tls.allow_plaintext may name (svc-kit/src/tls.rs, Plaintext).
PLAINTEXT_PARTS = ["grpc", "issuer", "database", "cache", "kafka", "object_store"]
ALLOW_PLAINTEXT = "MEDMESH_TLS__ALLOW_PLAINTEXT"
SASL_MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]
# Secrets every component may read, from medmesh-secrets.
SHARED_SECRETS = ["MEDMESH_CACHE__REDIS__URL", "MEDMESH_EVENTS__KAFKA__SASL_PASSWORD"]
# The files of a component's certificate: the keys of a cert-manager Secret, by [tls] key.
TLS_FILES = {"cert_file": "tls.crt", "key_file": "tls.key", "ca_file": "ca.crt"}
CERTIFICATE_EXAMPLE = "k8s/overlays/prod/certificate.example.yaml"
# Keys that exist without a line of their own in those files: svc-kit's ServiceSettings and
# KafkaSettings (svc-kit/src/config.rs) and gateway.client_secret (docs/configuration.md, "Gateway").
EXTRA_KEYS = [re.compile(p) for p in (
    r"services\.(accounts|scheduling|pharmacy|records|notify)\.(endpoint|database_url|client_secret)",
    r"events\.kafka\.(cert_file|key_file|sasl_password)",
    r"gateway\.client_secret",
)]


# --- the rendered objects -----------------------------------------------------------------

@dataclass
class Pod:
    """A workload's pod template, as the policies and services see it."""
    owner: str
    namespace: str
    labels: dict
    spec: dict
    annotations: dict = field(default_factory=dict)
    replicas: int | None = None

    @property
    def component(self) -> str | None:
        if self.labels.get("app.kubernetes.io/name") == "medmesh":
            return self.labels.get("app.kubernetes.io/component")
        return None

    def containers(self, init: bool = True) -> list[dict]:
        found = list(self.spec.get("containers", []))
        if init:
            found += self.spec.get("initContainers", [])
        return found

    def port_numbers(self) -> dict:
        ports = {}
        for container in self.containers():
            for port in container.get("ports", []):
                ports[port["containerPort"]] = port["containerPort"]
                if "name" in port:
                    ports[port["name"]] = port["containerPort"]
        return ports


def kind_name(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def pod_template(obj: dict) -> dict | None:
    kind = obj["kind"]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return obj["spec"]["template"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]
    return None


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector against labels; an empty selector matches everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selector_is_empty(selector: dict | None) -> bool:
    return not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


# --- the report ---------------------------------------------------------------------------

class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, description: str, problems: list[str]) -> None:
        if problems:
            print(f"  FAIL {description}")
            for problem in problems:
                print(f"         - {problem}")
            self.failures += problems
        else:
            print(f"  ok   {description}")


# --- workloads: probes, resources, security -----------------------------------------------

def check_probes(pods: list[Pod], kinds: dict) -> list[str]:
    problems = []
    for pod in pods:
        if kinds[pod.owner] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        ports = pod.port_numbers()
        for container in pod.containers(init=False):
            where = f"{pod.owner} container {container['name']}"
            wanted = list(COMPONENT_PROBES) if pod.component else ["livenessProbe", "readinessProbe"]
            for probe_name in wanted:
                probe = container.get(probe_name)
                if not probe:
                    problems.append(f"{where} has no {probe_name}")
                    continue
                for handler in ("httpGet", "tcpSocket", "grpc"):
                    port = (probe.get(handler) or {}).get("port")
                    if port is not None and port not in ports:
                        problems.append(f"{where} {probe_name} probes port {port!r}, which the pod does not declare")
                if not pod.component:
                    continue
                path = COMPONENT_PROBES[probe_name]
                get = probe.get("httpGet") or {}
                if "grpc" in probe:
                    problems.append(f"{where} {probe_name} is a grpc probe: the kubelet's gRPC probes cannot "
                                    f"speak TLS, so with [tls] on it never passes; use httpGet {path} on admin")
                elif (get.get("path") != path or ports.get(get.get("port")) != ADMIN_PORT
                      or get.get("scheme", "HTTP") != "HTTP"):
                    problems.append(f"{where} {probe_name} is not GET {path} on {ADMIN_PORT} (plain HTTP)")
    return problems


def check_resources(pods: list[Pod]) -> list[str]:
    problems = []
    for pod in pods:
        for container in pod.containers():
            resources = container.get("resources") or {}
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(bound) or {}):
                        problems.append(f"{pod.owner} container {container['name']} has no {bound}.{resource}")
    return problems


def check_security(pods: list[Pod]) -> list[str]:
    problems = []
    for pod in pods:
        pod_context = pod.spec.get("securityContext") or {}
        for container in pod.containers():
            context = container.get("securityContext") or {}
            where = f"{pod.owner} container {container['name']}"

            def effective(key: str):
                return context.get(key, pod_context.get(key))

            if effective("runAsNonRoot") is not True:
                problems.append(f"{where} does not set runAsNonRoot: true")
            if effective("runAsUser") == 0:
                problems.append(f"{where} runs as uid 0")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where} does not set allowPrivilegeEscalation: false")
            if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{where} does not drop ALL capabilities")
            if ((effective("seccompProfile") or {}).get("type")) != "RuntimeDefault":
                problems.append(f"{where} has no RuntimeDefault seccomp profile")
            if context.get("privileged"):
                problems.append(f"{where} is privileged")
            if pod.component and context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where} does not set readOnlyRootFilesystem: true")
        if pod.spec.get("hostNetwork") or pod.spec.get("hostPID") or pod.spec.get("hostIPC"):
            problems.append(f"{pod.owner} shares a host namespace")
    return problems


def check_medmesh_pods(pods: list[Pod], kinds: dict, objects: list[dict]) -> list[str]:
    """What every MedMesh component's pod must have beyond the generic rules."""
    problems = []
    hpa_targets = {o["spec"]["scaleTargetRef"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    seen = set()
    for pod in pods:
        component = pod.component
        if not component:
            continue
        seen.add(component)
        if component not in COMPONENTS:
            problems.append(f"{pod.owner} names an unknown component {component!r}")
            continue
        if kinds[pod.owner] != "Deployment":
            problems.append(f"{pod.owner} should be a Deployment")
        containers = pod.containers(init=False)
        if len(containers) != 1:
            problems.append(f"{pod.owner} should run exactly one container")
            continue
        container = containers[0]
        image = container.get("image", "")
        repository, _, tag = image.rpartition(":") if ":" in image else (image, "", "")
        if repository != IMAGE or not tag or tag == "latest":
            problems.append(f"{pod.owner} runs image {image!r}, not {IMAGE}:<version>")
        if container.get("args") != ["serve", component]:
            problems.append(f"{pod.owner} args are {container.get('args')}, not ['serve', '{component}']")
        annotations = pod.annotations
        expected = {"prometheus.io/scrape": "true", "prometheus.io/port": str(ADMIN_PORT), "prometheus.io/path": "/metrics"}
        for key, value in expected.items():
            if annotations.get(key) != value:
                problems.append(f"{pod.owner} pod annotation {key} is {annotations.get(key)!r}, not {value!r}")
        grace = pod.spec.get("terminationGracePeriodSeconds", 30)
        pre_stop = ((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
        if not (SHUTDOWN_GRACE_SECONDS + pre_stop < grace <= SHUTDOWN_GRACE_SECONDS + pre_stop + 15):
            problems.append(f"{pod.owner} terminationGracePeriodSeconds {grace} does not leave a little over "
                            f"{SHUTDOWN_GRACE_SECONDS} s after a {pre_stop} s preStop")
        volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
        tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
        if not tmp or "emptyDir" not in volumes.get(tmp[0]["name"], {}):
            problems.append(f"{pod.owner} has no emptyDir at /tmp")
        replicated = pod.owner.split("/")[1] in hpa_targets or (pod.replicas or 1) > 1
        affinity = (pod.spec.get("affinity") or {}).get("podAntiAffinity")
        if replicated and not (pod.spec.get("topologySpreadConstraints") or affinity):
            problems.append(f"{pod.owner} is replicated but has no topologySpreadConstraints or podAntiAffinity")
        for constraint in pod.spec.get("topologySpreadConstraints") or []:
            if not selector_matches(constraint.get("labelSelector"), pod.labels):
                problems.append(f"{pod.owner} topologySpreadConstraint does not select its own pods")
    for missing in sorted(set(COMPONENTS) - seen):
        problems.append(f"no Deployment runs component {missing}")
    return problems


# --- disruption budgets and autoscalers ---------------------------------------------------

def check_pdbs(pods: list[Pod], kinds: dict, objects: list[dict]) -> list[str]:
    problems = []
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for pod in pods:
        if kinds[pod.owner] != "Deployment":
            continue
        matching = [p for p in pdbs if p["metadata"].get("namespace") == pod.namespace
                    and selector_matches(p["spec"].get("selector"), pod.labels)]
        if not matching:
            problems.append(f"{pod.owner} has no PodDisruptionBudget selecting its pods")
        for pdb in matching:
            if pdb["spec"].get("minAvailable") in (1, "100%") and (pod.replicas or 1) <= 1:
                problems.append(f"{kind_name(pdb)} blocks every eviction of single-replica {pod.owner}")
    for pdb in pdbs:
        if not any(selector_matches(pdb["spec"].get("selector"), p.labels) for p in pods):
            problems.append(f"{kind_name(pdb)} selects no pods")
    return problems


def check_hpas(objects: list[dict], overlay: str) -> list[str]:
    problems = []
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    targets = {}
    for hpa in hpas:
        ref = hpa["spec"]["scaleTargetRef"]
        targets[ref["name"]] = hpa
        if ref["kind"] != "Deployment" or ref["name"] not in deployments:
            problems.append(f"{kind_name(hpa)} scales {ref['kind']}/{ref['name']}, which is not in the render")
        low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
        if not 1 <= low <= high:
            problems.append(f"{kind_name(hpa)} has minReplicas {low} and maxReplicas {high}")
        if overlay == "prod" and low < 2:
            problems.append(f"{kind_name(hpa)} lets production run a single replica")
    for name in AUTOSCALED:
        if name not in targets:
            problems.append(f"Deployment/{name} has no HorizontalPodAutoscaler")
        elif "replicas" in deployments.get(name, {}).get("spec", {}):
            problems.append(f"Deployment/{name} sets spec.replicas although its HPA scales it (each apply would reset it)")
    if overlay == "prod":
        for name, deployment in deployments.items():
            if name not in targets and deployment["spec"].get("replicas", 1) < 2:
                problems.append(f"Deployment/{name} runs a single replica in production")
    return problems


# --- services -----------------------------------------------------------------------------

def check_services(pods: list[Pod], objects: list[dict]) -> list[str]:
    problems = []
    for service in (o for o in objects if o["kind"] == "Service"):
        spec = service["spec"]
        if spec.get("type") == "ExternalName":
            continue
        selected = [p for p in pods if p.namespace == service["metadata"].get("namespace")
                    and spec.get("selector") and selector_matches({"matchLabels": spec["selector"]}, p.labels)]
        if not selected:
            problems.append(f"{kind_name(service)} selects no workload's pods")
            continue
        for port in spec.get("ports", []):
            target = port.get("targetPort", port["port"])
            if not any(target in p.port_numbers() for p in selected):
                problems.append(f"{kind_name(service)} port {port.get('name', port['port'])} targets {target!r}, "
                                f"which its pods do not declare")
    return problems


# --- network policies ---------------------------------------------------------------------

@dataclass
class Endpoint:
    """One side of a connection: a pod (namespace and labels), or an address outside."""
    namespace: str | None = None
    namespace_labels: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    ports: dict = field(default_factory=dict)
    ip: str | None = None


def endpoint_of(pod: Pod) -> Endpoint:
    return Endpoint(pod.namespace, {"kubernetes.io/metadata.name": pod.namespace}, pod.labels, pod.port_numbers())


def peer_matches(peer: dict, policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.ip is None:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        return (address in ipaddress.ip_network(block["cidr"])
                and not any(address in ipaddress.ip_network(e) for e in block.get("except", [])))
    if other.ip is not None:
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), other.labels)


def port_matches(rule_ports: list | None, port: int, protocol: str, target: Endpoint) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = target.ports.get(wanted)
        if wanted is not None and wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def policy_types(policy: dict) -> set:
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def selects(policy: dict, pod: Endpoint) -> bool:
    return (pod.ip is None and policy["metadata"].get("namespace") == pod.namespace
            and selector_matches(policy["spec"].get("podSelector"), pod.labels))


def direction_allows(policies: list[dict], direction: str, subject: Endpoint, peer: Endpoint,
                     port: int, protocol: str, target: Endpoint) -> bool:
    """Whether the policies let `subject` send (Egress) to, or receive (Ingress) from, `peer`."""
    if subject.ip is not None:
        return True  # outside the cluster: not ours to police
    relevant = [p for p in policies if selects(p, subject) and direction in policy_types(p)]
    if not relevant:
        return True  # not isolated in this direction
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in relevant:
        namespace = policy["metadata"].get("namespace")
        for rule in policy["spec"].get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(p, namespace, peer) for p in peers)) \
                    and port_matches(rule.get("ports"), port, protocol, target):
                return True
    return False


def allowed(policies: list[dict], source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    return (direction_allows(policies, "Egress", source, destination, port, protocol, destination)
            and direction_allows(policies, "Ingress", destination, source, port, protocol, destination))


def check_network_policies(pods: list[Pod], objects: list[dict]) -> list[str]:
    problems = []
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for direction in ("Ingress", "Egress"):
        deny = [p for p in policies if selector_is_empty(p["spec"].get("podSelector"))
                and direction in policy_types(p)
                and not p["spec"].get(direction.lower())]
        if not deny:
            problems.append(f"no default-deny NetworkPolicy for {direction} (empty podSelector, no rules)")
    for pod in pods:
        explicit = [p for p in policies if p["metadata"].get("namespace") == pod.namespace
                    and not selector_is_empty(p["spec"].get("podSelector"))
                    and selector_matches(p["spec"]["podSelector"], pod.labels)]
        if not explicit:
            problems.append(f"{pod.owner}'s pods are selected by no NetworkPolicy of their own")
        dns = Endpoint("kube-system", {"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
        for protocol in ("UDP", "TCP"):
            if not allowed(policies, endpoint_of(pod), dns, 53, protocol):
                problems.append(f"{pod.owner} cannot resolve names (DNS {protocol}/53 to kube-system)")
    return problems


def check_mesh_paths(pods: list[Pod], objects: list[dict]) -> list[str]:
    """Exactly the documented paths between components, and Prometheus and the ingress
    controller in."""
    problems = []
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    by_component = {p.component: endpoint_of(p) for p in pods if p.component}
    if not set(COMPONENTS) <= set(by_component):
        return ["not every component has a pod to check paths for"]
    ports = sorted(set(GRPC_PORT.values()) | {GATEWAY_PORT, ADMIN_PORT})
    for source in COMPONENTS:
        for destination in COMPONENTS:
            for port in ports:
                expected = (source, destination) in MESH_PATHS and port == GRPC_PORT.get(destination)
                if allowed(policies, by_component[source], by_component[destination], port) != expected:
                    verb = "cannot reach" if expected else "may reach"
                    problems.append(f"{source} {verb} {destination} on {port}")
    namespace = next(iter(by_component.values())).namespace
    monitoring = Endpoint("monitoring", {"kubernetes.io/metadata.name": "monitoring"}, {"app": "anything"})
    prometheus = Endpoint("observability", {"kubernetes.io/metadata.name": "observability"},
                          {"app.kubernetes.io/name": "prometheus"})
    stranger = Endpoint("elsewhere", {"kubernetes.io/metadata.name": "elsewhere"}, {"app": "curious"})
    neighbour = Endpoint(namespace, {"kubernetes.io/metadata.name": namespace}, {"app": "curious"})
    ingress = Endpoint("ingress-nginx", {"kubernetes.io/metadata.name": "ingress-nginx"},
                       {"app.kubernetes.io/name": "ingress-nginx"})
    for component, endpoint in by_component.items():
        for scraper, name in ((monitoring, "the monitoring namespace"), (prometheus, "a prometheus pod")):
            if not allowed(policies, scraper, endpoint, ADMIN_PORT):
                problems.append(f"{name} cannot scrape {component} on {ADMIN_PORT}")
        for outsider, name in ((stranger, "a pod of another namespace"), (neighbour, "an unlabelled pod")):
            for port in ports:
                if allowed(policies, outsider, endpoint, port):
                    problems.append(f"{name} may reach {component} on {port}")
    if not allowed(policies, ingress, by_component["gateway"], GATEWAY_PORT):
        problems.append(f"the ingress controller cannot reach the gateway on {GATEWAY_PORT}")
    for component in SERVICES:
        if allowed(policies, ingress, by_component[component], GRPC_PORT[component]):
            problems.append(f"the ingress controller may reach {component}'s gRPC (partners are not let in by default)")
    return problems


def check_dependency_paths(pods: list[Pod], objects: list[dict]) -> list[str]:
    """Components to their data stores and identity provider: in-cluster pods where the
    render runs them, otherwise addresses outside (ipBlock) on the stores' ports."""
    problems = []
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    by_name = {p.labels.get("app.kubernetes.io/name"): p for p in pods}
    components = {p.component: p for p in pods if p.component}
    wanted = {  # store: (port, who needs it)
        "postgres": (5432, SERVICES),
        "redis": (6379, COMPONENTS),
        "kafka": (9092, COMPONENTS),
        "keycloak": (8080, COMPONENTS),
    }
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    external_ports = {"postgres": [5432], "redis": [6379], "kafka": broker_ports(components.values(), configmaps),
                      "keycloak": [443]}
    for store, (port, needers) in wanted.items():
        for component, pod in components.items():
            source = endpoint_of(pod)
            if store in by_name:
                destination = endpoint_of(by_name[store])
                if allowed(policies, source, destination, port) != (component in needers):
                    verb = "cannot reach" if component in needers else "may reach"
                    problems.append(f"{component} {verb} in-cluster {store} on {port}")
                continue
            for external in external_ports[store]:
                opened = egress_to_ip_block(policies, source, external)
                if component in needers and not opened:
                    problems.append(f"{component} has no egress to {store} (an ipBlock on {external})")
                elif opened and component not in needers and store != "keycloak":
                    problems.append(f"{component} needs no but has egress to {store} (an ipBlock on {external})")
    for store in (s for s in wanted if s in by_name):
        destination = endpoint_of(by_name[store])
        outsider = Endpoint(destination.namespace, {"kubernetes.io/metadata.name": destination.namespace}, {"app": "curious"})
        if allowed(policies, outsider, destination, wanted[store][0]):
            problems.append(f"an unlabelled pod may reach {store}")
    scheduling = components.get("scheduling")
    documents = documents_backend(scheduling) if scheduling else None
    if documents == "s3" and not egress_to_ip_block(policies, endpoint_of(scheduling), 443):
        problems.append("scheduling has no egress to its S3 endpoint (an ipBlock on 443)")
    if "notify" in components:
        for port in (465, 587, 443):
            if not egress_to_ip_block(policies, endpoint_of(components["notify"]), port):
                problems.append(f"notify has no egress to its providers on {port}")
    return problems


def broker_ports(pods, configmaps: dict) -> list[int]:
    """The ports of the Kafka brokers the components are given (9092 when none is)."""
    ports = set()
    for pod in pods:
        brokers, _, _ = pod_settings(pod, configmaps)
        for broker in (brokers.get("MEDMESH_EVENTS__KAFKA__BROKERS") or "").split(","):
            if ":" in broker:
                ports.add(int(broker.rsplit(":", 1)[1]))
    return sorted(ports) or [9092]


def egress_to_ip_block(policies: list[dict], source: Endpoint, port: int) -> bool:
    for policy in policies:
        if not (selects(policy, source) and "Egress" in policy_types(policy)):
            continue
        for rule in policy["spec"].get("egress") or []:
            if any("ipBlock" in peer for peer in rule.get("to") or []) \
                    and port_matches(rule.get("ports"), port, "TCP", Endpoint()):
                return True
    return False


def documents_backend(pod: Pod) -> str | None:
    for variable in pod.containers(init=False)[0].get("env", []):
        if variable["name"] == "MEDMESH_SCHEDULING__DOCUMENTS__BACKEND":
            return variable.get("value")
    return None


# --- configuration ------------------------------------------------------------------------

def known_keys() -> tuple[set, set]:
    """Every configuration key the defaults files name (set or commented out), and the
    prefixes under which any key is accepted (maps such as records.keys)."""
    keys, maps = set(), set()

    def walk(prefix: str, table: dict) -> None:
        for key, value in table.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                if not value:
                    maps.add(path)
                walk(path, value)
            else:
                keys.add(path)

    for name in DEFAULTS_FILES:
        text = (REPO / name).read_text()
        walk("", tomllib.loads(text))
        section = ""
        for line in text.splitlines():
            header = re.match(r"^\[([a-z0-9_.]+)\]", line)
            if header:
                section = header.group(1)
            commented = re.match(r"^#\s*([a-z0-9_]+)\s*=", line)
            if commented:
                keys.add(f"{section}.{commented.group(1)}" if section else commented.group(1))
    return keys, maps


def key_of(variable: str) -> str:
    return ".".join(variable[len("MEDMESH_"):].lower().split("__"))


def is_known(key: str, keys: set, maps: set) -> bool:
    return (key in keys or any(p.fullmatch(key) for p in EXTRA_KEYS)
            or any(key.startswith(m + ".") and key.count(".") == m.count(".") + 1 for m in maps))


def key_problems(owner: str, component: str, key: str, origin: str, keys: set, maps: set) -> list[str]:
    """A setting `key` given by `origin` (a variable, or a file's key) to `component`'s pod."""
    problems = []
    if not is_known(key, keys, maps):
        problems.append(f"{owner}: {origin} is not a configuration key (the process would exit 64)")
    parts = key.split(".")
    if parts[0] in PART_SECTIONS and parts[0] != component:
        problems.append(f"{owner}: {origin} belongs to {parts[0]}, not {component}")
    if parts[0] == "services" and len(parts) == 3 and parts[2] != "endpoint" and parts[1] != component:
        problems.append(f"{owner}: {origin} is {parts[1]}'s own setting, not {component}'s")
    return problems


def variable_problems(owner: str, component: str, variable: str, keys: set, maps: set) -> list[str]:
    """What svc-kit makes of one MEDMESH_* variable: MEDMESH_<KEY>_FILE names a file holding
    <KEY>'s value, unless <KEY>_FILE is one of the PATH_KEYS."""
    if variable == CONFIG_FILE_VARIABLE:
        return [f"{owner}: {variable} names a configuration file, whose keys this check cannot see: "
                f"give settings as MEDMESH_* variables"]
    if variable.endswith(SECRET_FILE_SUFFIX) and key_of(variable) not in PATH_KEYS:
        key = key_of(variable[:-len(SECRET_FILE_SUFFIX)])
        return key_problems(owner, component, key, variable, keys, maps)
    return key_problems(owner, component, key_of(variable), variable, keys, maps)


def mounted_volume(pod: Pod, path: str) -> tuple[dict, dict, str] | None:
    """(volume, mount, file name within it) of the volume `path` lies in, if one is mounted there."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    for mount in pod.containers(init=False)[0].get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(directory) and "subPath" not in mount and mount["name"] in volumes:
            return volumes[mount["name"]], mount, path[len(directory):]
    return None


def pod_settings(pod: Pod, configmaps: dict) -> tuple[dict, dict, list[str]]:
    """(variable -> value or None for a secret, variable -> (secret, key), problems)."""
    container = pod.containers(init=False)[0]
    values, secrets, problems = {}, {}, []
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            name = source["configMapRef"]["name"]
            if name not in configmaps:
                problems.append(f"{pod.owner} reads ConfigMap {name}, which is not in the render")
                continue
            values.update(configmaps[name].get("data", {}))
        elif "secretRef" in source:
            problems.append(f"{pod.owner} takes a whole Secret as environment; name each key with secretKeyRef")
    for variable in container.get("env", []):
        reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
        if reference:
            values[variable["name"]] = None
            secrets[variable["name"]] = (reference["name"], reference["key"])
        else:
            values[variable["name"]] = variable.get("value")
    return values, secrets, problems


def check_settings(pods: list[Pod], objects: list[dict], overlay: str) -> list[str]:
    problems = []
    keys, maps = known_keys()
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    rendered_secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    shared = set()
    for pod in pods:
        component = pod.component
        if not component or component not in COMPONENTS:
            continue
        container = pod.containers(init=False)[0]
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                shared.add(source["configMapRef"]["name"])
        values, secrets, found = pod_settings(pod, configmaps)
        problems += found
        for variable in values:
            if variable.startswith("MEDMESH_"):
                problems += variable_problems(pod.owner, component, variable, keys, maps)
        problems += required_settings(pod, component, values, secrets)
        for variable, (secret, secret_key) in secrets.items():
            if secret in rendered_secrets:
                data = {**rendered_secrets[secret].get("data", {}), **rendered_secrets[secret].get("stringData", {})}
                if secret_key not in data:
                    problems.append(f"{pod.owner}: {variable} reads key {secret_key} that Secret {secret} lacks")
            elif secret != "medmesh-secrets":
                problems.append(f"{pod.owner}: {variable} reads Secret {secret}, neither rendered nor medmesh-secrets")
    for name in shared:
        for variable in configmaps.get(name, {}).get("data", {}):
            if key_of(variable).split(".")[0] not in KIT_SECTIONS:
                problems.append(f"shared ConfigMap {name} carries {variable}: a part's own setting goes in its Deployment")
            if re.fullmatch(r"MEDMESH_SERVICES__[A-Z]+__(HOST|PORT|DATABASE_URL|CLIENT_SECRET)", variable):
                problems.append(f"shared ConfigMap {name} carries {variable}: only that service's pod may")
            if variable in SHARED_SECRETS:
                problems.append(f"shared ConfigMap {name} carries {variable}, a secret: it belongs in medmesh-secrets")
    if overlay == "prod":
        for pod in pods:
            if pod.component:
                values, _, _ = pod_settings(pod, configmaps)
                if values.get("MEDMESH_MODE") != "production":
                    problems.append(f"{pod.owner} does not run in production mode")
    return problems


def required_settings(pod: Pod, component: str, values: dict, secrets: dict) -> list[str]:
    """What the component refuses to start without (docs/configuration.md)."""
    upper = component.upper()
    required = ["MEDMESH_MODE", "MEDMESH_AUTH__ISSUER", "MEDMESH_ADMIN__HOST", "MEDMESH_ADMIN__PORT",
                "MEDMESH_CACHE__BACKEND", "MEDMESH_CACHE__REDIS__URL", "MEDMESH_EVENTS__BACKEND",
                "MEDMESH_EVENTS__KAFKA__BROKERS"]
    required += [f"MEDMESH_SERVICES__{s.upper()}__ENDPOINT" for s in SERVICES]
    must_be_secret = list(SHARED_SECRETS)
    sasl = "MEDMESH_EVENTS__KAFKA__SASL_"
    if values.get(sasl + "MECHANISM"):
        required += [sasl + "USERNAME", sasl + "PASSWORD"]
    if component == "gateway":
        required += ["MEDMESH_GATEWAY__HOST", "MEDMESH_GATEWAY__PORT", "MEDMESH_GATEWAY__CLIENT_SECRET"]
        must_be_secret += ["MEDMESH_GATEWAY__CLIENT_SECRET"]
    else:
        own = [f"MEDMESH_SERVICES__{upper}__{k}" for k in ("DATABASE_URL", "CLIENT_SECRET")]
        required += [f"MEDMESH_SERVICES__{upper}__HOST", f"MEDMESH_SERVICES__{upper}__PORT"] + own
        must_be_secret += own
    if component in ("records", "notify"):
        active = values.get(f"MEDMESH_{upper}__ACTIVE_KEY")
        required.append(f"MEDMESH_{upper}__ACTIVE_KEY")
        if active:
            required.append(f"MEDMESH_{upper}__KEYS__{active.upper()}")
            must_be_secret.append(f"MEDMESH_{upper}__KEYS__{active.upper()}")
    if component == "notify":
        required += ["MEDMESH_NOTIFY__SMTP__URL", "MEDMESH_NOTIFY__APP_URL"]
        must_be_secret.append("MEDMESH_NOTIFY__SMTP__URL")
    if component == "scheduling":
        backend = values.get("MEDMESH_SCHEDULING__DOCUMENTS__BACKEND")
        prefix = "MEDMESH_SCHEDULING__DOCUMENTS__"
        if backend == "s3":
            required += [prefix + "S3__" + k for k in ("ENDPOINT", "BUCKET", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY")]
            must_be_secret += [prefix + "S3__ACCESS_KEY_ID", prefix + "S3__SECRET_ACCESS_KEY"]
        elif backend == "filesystem":
            directory = values.get(prefix + "DIRECTORY")
            mounts = [m["mountPath"] for m in pod.containers(init=False)[0].get("volumeMounts", [])]
            if directory not in mounts:
                return [f"{pod.owner} keeps documents in {directory!r}, which no volume is mounted at "
                        f"(the root file system is read-only)"]
        else:
            return [f"{pod.owner} sets no documents backend (filesystem with a volume, or s3)"]
    problems = [f"{pod.owner} lacks {v}" for v in required if v not in values]
    mechanism = values.get(sasl + "MECHANISM")
    if mechanism and mechanism not in SASL_MECHANISMS:
        problems.append(f"{pod.owner}: {sasl}MECHANISM is {mechanism!r}, none of {', '.join(SASL_MECHANISMS)}")
    if not mechanism and (sasl + "USERNAME" in values or sasl + "PASSWORD" in values):
        problems.append(f"{pod.owner} has a Kafka username or password but no {sasl}MECHANISM "
                        f"(the process would exit 64)")
    problems += [f"{pod.owner}: {v} is a secret and must come from a secretKeyRef" for v in must_be_secret
                 if v in values and v not in secrets]
    if component == "gateway":
        port = values.get("MEDMESH_GATEWAY__PORT")
    else:
        port = values.get(f"MEDMESH_SERVICES__{upper}__PORT")
    expected = GATEWAY_PORT if component == "gateway" else GRPC_PORT[component]
    if port is not None and str(port) != str(expected):
        problems.append(f"{pod.owner} listens on {port}, not {expected}")
    if str(values.get("MEDMESH_ADMIN__PORT")) != str(ADMIN_PORT):
        problems.append(f"{pod.owner} admin port is {values.get('MEDMESH_ADMIN__PORT')}, not {ADMIN_PORT}")
    return problems


# --- TLS between the components ----------------------------------------------------------

def check_tls(pods: list[Pod], objects: list[dict], overlay: str) -> list[str]:
    """Every service's endpoint names the Service in front of its gRPC port. In prod the
    components speak mutual TLS: https:// endpoints, client_auth required, and MEDMESH_TLS__*
    naming a certificate each component mounts read-only from a Secret of its own, which the
    example certificates issue with the names its callers check."""
    problems = []
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    by_component = {p.component: p for p in pods if p.component in COMPONENTS}
    hosts = {}  # service -> the host its endpoint names
    certificates = {}  # Secret -> the components whose certificate it holds
    for component, pod in by_component.items():
        values, _, _ = pod_settings(pod, configmaps)
        for service in SERVICES:
            variable = f"MEDMESH_SERVICES__{service.upper()}__ENDPOINT"
            if values.get(variable) and service in by_component:
                hosts[service] = urllib.parse.urlsplit(values[variable]).hostname
                problems += endpoint_problems(variable, values[variable], services, by_component[service], overlay)
        if overlay != "prod":
            continue
        tls = {key_of(v)[len("tls."):]: value for v, value in values.items() if v.startswith("MEDMESH_TLS__")}
        if not any(tls.get(key) for key in TLS_FILES):
            problems.append(f"{pod.owner} speaks no TLS (no MEDMESH_TLS__CERT_FILE, _KEY_FILE, _CA_FILE): "
                            f"production speaks mutual TLS between the components")
            continue
        if tls.get("client_auth") != "required":
            problems.append(f"{pod.owner}: tls.client_auth is {tls.get('client_auth', 'none')!r}, not \"required\"")
        secrets = set()
        for key, file_name in TLS_FILES.items():
            found = mounted_volume(pod, tls.get(key) or "")
            secret = (found[0].get("secret") or {}) if found else {}
            if not secret.get("secretName"):
                problems.append(f"{pod.owner}: tls.{key} is {tls.get(key) or 'unset'}, not a file of a mounted Secret")
                continue
            _, mount, name = found
            secrets.add(secret["secretName"])
            items = {item["path"]: item["key"] for item in secret.get("items", [])}
            if (items.get(name) if items else name) != file_name:
                problems.append(f"{pod.owner}: tls.{key} reads {name} of Secret {secret['secretName']}, not "
                                f"{file_name} (the key cert-manager writes)")
            if not mount.get("readOnly"):
                problems.append(f"{pod.owner}: Secret {secret['secretName']} is not mounted readOnly")
            mode = secret.get("defaultMode", 0o644)
            if mode & 0o007:
                problems.append(f"{pod.owner}: Secret {secret['secretName']} is mounted readable by every user "
                                f"(defaultMode {mode:#o}); 0440 with the pod's fsGroup")
            if not (pod.spec.get("securityContext") or {}).get("fsGroup"):
                problems.append(f"{pod.owner}: no fsGroup, so the non-root process cannot read Secret "
                                f"{secret['secretName']}'s files (they belong to root)")
        if len(secrets) > 1:
            problems.append(f"{pod.owner}: tls files come from Secrets {sorted(secrets)}, not one certificate's")
        for secret in secrets:
            certificates.setdefault(secret, []).append(component)
    for secret, owners in certificates.items():
        if len(owners) > 1:
            problems.append(f"Secret {secret} is the certificate of {', '.join(sorted(owners))}: each component "
                            f"needs its own, so that a pod's key passes for that component only")
    if overlay == "prod":
        problems += certificate_example_problems(certificates, hosts)
    return list(dict.fromkeys(problems))


def endpoint_problems(variable: str, endpoint: str, services: dict, target: Pod, overlay: str) -> list[str]:
    url = urllib.parse.urlsplit(endpoint)
    service = services.get(url.hostname or "")
    if overlay == "prod" and url.scheme != "https":
        return [f"{variable} is {endpoint}: production speaks TLS between the components (https://)"]
    if service is None:
        return [f"{variable} is {endpoint}: the render has no Service {url.hostname!r}"]
    if not (service["spec"].get("selector")
            and selector_matches({"matchLabels": service["spec"]["selector"]}, target.labels)):
        return [f"{variable} is {endpoint}: Service {url.hostname} does not select {target.owner}'s pods"]
    ports = [p for p in service["spec"].get("ports", []) if p["port"] == url.port]
    if not ports or target.port_numbers().get(ports[0].get("targetPort", url.port)) != GRPC_PORT[target.component]:
        return [f"{variable} is {endpoint}: Service {url.hostname} does not forward port {url.port} to "
                f"the gRPC port of {target.component} ({GRPC_PORT[target.component]})"]
    return []


def certificate_example_problems(certificates: dict, hosts: dict) -> list[str]:
    """The example (CERTIFICATE_EXAMPLE) issues every Secret the pods mount as their certificate:
    a service's names the host its endpoint names (its callers check it), and every one
    svc-<component> or <component>, without which the component's own token is refused from it
    (svc-kit/src/auth/peer.rs)."""
    path = REPO / CERTIFICATE_EXAMPLE
    if not path.exists():
        return [f"{CERTIFICATE_EXAMPLE} does not exist: it shows how the pods' certificates are issued"]
    issued = {c["spec"]["secretName"]: c for c in yaml.safe_load_all(path.read_text())
              if c and c.get("kind") == "Certificate"}
    problems = []
    for secret, owners in certificates.items():
        certificate = issued.get(secret)
        if certificate is None:
            problems.append(f"{CERTIFICATE_EXAMPLE} issues no Certificate into Secret {secret}")
            continue
        names, usages = set(certificate["spec"].get("dnsNames", [])), set(certificate["spec"].get("usages", []))
        for component in owners:
            lacking = ({hosts[component]} if hosts.get(component) else set()) - names
            if not names & {f"svc-{component}", component}:
                lacking.add(f"svc-{component}")
            lacking |= {"client auth"} - usages
            lacking |= ({"server auth"} if component in SERVICES else set()) - usages
            if lacking:
                problems.append(f"{CERTIFICATE_EXAMPLE}: Certificate {certificate['metadata']['name']} lacks "
                                f"{sorted(lacking)} for {component}")
    return problems


# --- what goes in the clear ---------------------------------------------------------------

def check_plaintext(pods: list[Pod], objects: list[dict], overlay: str) -> list[str]:
    """tls.allow_plaintext, where set, is a list of known parts (svc-kit refuses `true`) naming
    exactly what the overlay's components reach in the clear on another host; in production
    mode every such part must be named (or the process exits 64); prod names none."""
    problems = []
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    rendered_secrets = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    reached, named = set(), {}
    for pod in (p for p in pods if p.component in COMPONENTS):
        values, references, _ = pod_settings(pod, configmaps)
        values.update({v: secret_value(rendered_secrets, *reference) for v, reference in references.items()})
        clear = in_the_clear(values)
        reached |= clear.keys()
        parts = set()
        if ALLOW_PLAINTEXT in values:
            parts, found = plaintext_parts(str(values[ALLOW_PLAINTEXT] or ""))
            if found:
                problems += [f"{pod.owner}: {problem}" for problem in found]
                continue
            if overlay == "prod" and parts:
                problems.append(f"{pod.owner}: {ALLOW_PLAINTEXT} names {sorted(parts)}: production speaks TLS "
                                f"to everything and names none")
                continue
            named[pod.owner] = parts
        if ALLOW_PLAINTEXT in values or values.get("MEDMESH_MODE", "dev") == "production":
            for part in sorted(clear.keys() - parts):
                problems.append(f"{pod.owner} reaches {clear[part]}, in the clear: production mode refuses it "
                                f"(exit 64) unless {ALLOW_PLAINTEXT} names {part!r}")
    for owner, parts in named.items():
        for part in sorted(parts - reached):
            problems.append(f"{owner}: {ALLOW_PLAINTEXT} names {part!r}, which no component reaches in the clear")
    return problems


def plaintext_parts(value: str) -> tuple[set, list[str]]:
    """tls.allow_plaintext as svc-kit reads it from a variable: `[grpc,kafka]` or one part;
    `true` is refused."""
    text = value.strip()
    if text == "true":
        return set(), [f"{ALLOW_PLAINTEXT} is true, which svc-kit refuses (exit 64): name each part that may "
                       f"go in the clear, e.g. [kafka] (any of {', '.join(PLAINTEXT_PARTS)})"]
    if text == "false":
        return set(), []
    names = text[1:-1].split(",") if text.startswith("[") and text.endswith("]") else [text]
    names = [name.strip().strip("'\"") for name in names if name.strip()]
    unknown = [name for name in names if name not in PLAINTEXT_PARTS]
    if unknown:
        return set(), [f"{ALLOW_PLAINTEXT} names {unknown}, none of {', '.join(PLAINTEXT_PARTS)} (exit 64)"]
    return set(names), []


def in_the_clear(values: dict) -> dict:
    """What a pod with these settings reaches in the clear on another host, by the part of
    tls.allow_plaintext that waives it (svc-kit/src/config.rs, refuse_plaintext). A value from a
    Secret the render lacks (None) is not known, so not counted."""
    clear = {}
    issuer = values.get("MEDMESH_AUTH__ISSUER")
    if issuer and is_http_to_another_host(issuer):
        clear["issuer"] = f"the identity provider at {issuer}"
    for variable, value in sorted(values.items()):
        if not value:
            continue
        if re.fullmatch(r"MEDMESH_SERVICES__[A-Z]+__ENDPOINT", variable) and is_http_to_another_host(value):
            clear.setdefault("grpc", f"a service at {value}")
        if re.fullmatch(r"MEDMESH_SERVICES__[A-Z]+__DATABASE_URL", variable) and is_database_plaintext(value):
            clear.setdefault("database", f"PostgreSQL without sslmode=verify-full ({variable})")
    redis = values.get("MEDMESH_CACHE__REDIS__URL")
    if redis and redis.lower().startswith("redis://") and not is_loopback(authority_host(redis[len("redis://"):])):
        clear["cache"] = "Redis at a redis:// URL"
    brokers = values.get("MEDMESH_EVENTS__KAFKA__BROKERS") or ""
    if (values.get("MEDMESH_EVENTS__BACKEND") == "kafka"
            and str(values.get("MEDMESH_EVENTS__KAFKA__TLS", "false")).lower() != "true"
            and any(not is_loopback(authority_host(b.strip())) for b in brokers.split(",") if b.strip())):
        clear["kafka"] = f"Kafka at {brokers} without MEDMESH_EVENTS__KAFKA__TLS=true"
    s3 = values.get("MEDMESH_SCHEDULING__DOCUMENTS__S3__ENDPOINT")
    if values.get("MEDMESH_SCHEDULING__DOCUMENTS__BACKEND") == "s3" and s3 and is_http_to_another_host(s3):
        clear["object_store"] = f"the object store at {s3}"
    return clear


def is_http_to_another_host(url: str) -> bool:
    return url.lower().startswith("http://") and not is_loopback(authority_host(url[len("http://"):]))


def is_database_plaintext(url: str) -> bool:
    """A PostgreSQL URL reaching another host without sslmode=verify-full or verify-ca."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme.lower() not in ("postgres", "postgresql"):
        return False
    query = urllib.parse.parse_qsl(parsed.query)
    modes = [v for k, v in query if k.lower() in ("sslmode", "ssl-mode")]
    if modes and modes[-1].lower() in ("verify-full", "verify-ca"):
        return False
    elsewhere = any(k.lower() == "host" and not is_loopback(v) and not v.startswith("/") for k, v in query)
    return elsewhere or not is_loopback(authority_host(url.split("://", 1)[1]))


def authority_host(rest: str) -> str:
    """The host of `authority[/path...]`, without user information or port."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        return authority[1:].split("]")[0]
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secret_value(rendered_secrets: dict, name: str, key: str) -> str | None:
    """A key of a Secret in the render (dev's generated ones); None for one the operator creates."""
    secret = rendered_secrets.get(name) or {}
    if key in (secret.get("stringData") or {}):
        return secret["stringData"][key]
    if key in (secret.get("data") or {}):
        return base64.b64decode(secret["data"][key]).decode()
    return None


# --- secrets and namespaces ---------------------------------------------------------------

def check_secrets(objects: list[dict], pods: list[Pod], overlay: str) -> list[str]:
    problems = []
    if overlay == "prod":
        for secret in (o for o in objects if o["kind"] == "Secret"):
            if secret.get("data") or secret.get("stringData"):
                problems.append(f"{kind_name(secret)} carries data: production secrets are not committed")
        text = yaml.safe_dump_all(objects)
        if "dev-only" in text:
            problems.append("a dev-only value is in the production render")
        documented = set(re.findall(r"`(MEDMESH_[A-Z0-9_]+)`", (REPO / "k8s/README.md").read_text()))
        for pod in pods:
            for container in pod.containers():
                for variable in container.get("env", []):
                    reference = (variable.get("valueFrom") or {}).get("secretKeyRef")
                    if reference and reference["key"] not in documented:
                        problems.append(f"{pod.owner} reads {reference['name']}/{reference['key']}, "
                                        f"which k8s/README.md does not list among the Secret's keys")
    return problems


def check_namespaces(objects: list[dict]) -> list[str]:
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    names = {o["metadata"].get("namespace") for o in namespaced}
    declared = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"}
    problems = []
    if len(names) != 1 or None in names:
        problems.append(f"objects are spread over namespaces {sorted(map(str, names))}; an overlay sets one")
    elif declared and declared != names:
        problems.append(f"the render declares namespace {sorted(declared)} but puts objects in {sorted(names)}")
    return problems


# --- main ---------------------------------------------------------------------------------

def load(path: str) -> list[dict]:
    with open(path) as rendered:
        return [o for o in yaml.safe_load_all(rendered) if o]


def pods_of(objects: list[dict]) -> tuple[list[Pod], dict]:
    pods, kinds = [], {}
    for obj in objects:
        template = pod_template(obj)
        if template is None:
            continue
        owner = kind_name(obj)
        kinds[owner] = obj["kind"]
        metadata = template.get("metadata") or {}
        pods.append(Pod(owner, obj["metadata"].get("namespace"), metadata.get("labels") or {},
                        template["spec"], metadata.get("annotations") or {}, obj["spec"].get("replicas")))
    return pods, kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlay", required=True, help="the overlay's name (prod gets production's rules)")
    parser.add_argument("rendered", help="the output of kubectl kustomize")
    args = parser.parse_args()

    objects = load(args.rendered)
    pods, kinds = pods_of(objects)
    report = Report()
    workloads = f"{len(pods)} workloads"
    report.check(f"one namespace for all {len(objects)} objects", check_namespaces(objects))
    report.check(f"liveness and readiness probes on the containers of every Deployment/StatefulSet; "
                 f"each component's startup and readiness GET /ready, liveness GET /live on {ADMIN_PORT}, "
                 f"no grpc probe", check_probes(pods, kinds))
    report.check(f"cpu and memory requests and limits on every container of {workloads}", check_resources(pods))
    report.check(f"non-root, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp "
                 f"on every container of {workloads}", check_security(pods))
    report.check("each of the six components: image, args, read-only root, /tmp, scrape annotations, "
                 "grace period, spread", check_medmesh_pods(pods, kinds, objects))
    report.check("a PodDisruptionBudget selecting every Deployment", check_pdbs(pods, kinds, objects))
    report.check(f"a HorizontalPodAutoscaler for {', '.join(AUTOSCALED)}", check_hpas(objects, args.overlay))
    report.check("every Service selects pods that declare its target ports", check_services(pods, objects))
    report.check(f"default-deny for Ingress and Egress; every one of {workloads} selected by a policy "
                 "of its own; DNS open", check_network_policies(pods, objects))
    report.check(f"exactly the {len(MESH_PATHS)} gRPC paths between components; Prometheus on "
                 f"{ADMIN_PORT}; the ingress controller to the gateway only", check_mesh_paths(pods, objects))
    report.check("paths to the data stores, the identity provider, S3 and notify's providers",
                 check_dependency_paths(pods, objects))
    report.check("MEDMESH_* settings: known keys, each component only its own, secrets from the Secret",
                 check_settings(pods, objects, args.overlay))
    tls_rules = "; mutual TLS, each component's own certificate from a Secret" if args.overlay == "prod" else ""
    report.check(f"service endpoints name the Services in front of their gRPC ports{tls_rules}",
                 check_tls(pods, objects, args.overlay))
    waivers = "names none" if args.overlay == "prod" else "where set, names exactly what goes in the clear"
    report.check(f"{ALLOW_PLAINTEXT}: known parts, not true; {waivers}; production mode reaches nothing "
                 f"else in the clear", check_plaintext(pods, objects, args.overlay))
    if args.overlay == "prod":
        report.check("no Secret with data, no dev-only value; every secret key documented in k8s/README.md",
                     check_secrets(objects, pods, args.overlay))
    if report.failures:
        print(f"{args.overlay}: {len(report.failures)} problem(s)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
