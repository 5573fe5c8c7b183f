"""Helpers of the Kubernetes tests: the rendered overlays (`kubectl kustomize`), the vendored
CRDs' schemas, and the translation of a PodMonitoring or ServiceMonitor into the Prometheus
scrape job its operator would generate, with a static target standing in for a pod."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = ("dev", "prod")
CRDS = KUBERNETES / "crds"
# GKE's regular channel: 1.35 is its default version (1.34 to 1.36 offered), December 2026.
KUBERNETES_VERSIONS = ("1.34.0", "1.35.0", "1.36.0")
Manifest = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip("kubectl is not installed (it is in the machine image: /usr/bin/kubectl)")
    return found


def kustomize(directory: Path) -> list[Manifest]:
    """The objects `kubectl kustomize DIRECTORY` renders."""
    result = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render(overlay: str) -> list[Manifest]:
    return kustomize(KUBERNETES / "overlays" / overlay)


def find(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the vendored CRDs."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served", True):
                    api = f"{group}/{version['name']}"
                    schemas[(api, kind)] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its
    properties: the API server prunes unknown fields of a structural schema silently, and a
    misspelt field would be lost without a word; here it is an error."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


# --- monitors -> Prometheus scrape jobs ------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """What Kubernetes service discovery would say of one pod of the Deployment (and of the
    Service in front of it), for a target that is really `address` (a local server)."""

    name: str
    namespace: str
    labels: dict[str, str]
    container: str
    port_name: str
    address: str
    service: str = ""
    service_labels: dict[str, str] = field(default_factory=dict)

    def meta(self) -> dict[str, str]:
        """The target's `__meta_kubernetes_*` labels (role pod, or role endpoints with a
        service)."""
        meta = {
            "__meta_kubernetes_namespace": self.namespace,
            "__meta_kubernetes_pod_name": self.name,
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_ready": "true",
            "__meta_kubernetes_pod_container_name": self.container,
            "__meta_kubernetes_pod_container_port_name": self.port_name,
            "__meta_kubernetes_pod_controller_kind": "ReplicaSet",
            "__meta_kubernetes_pod_controller_name": f"{self.name.rsplit('-', 1)[0]}",
            "__meta_kubernetes_pod_node_name": "gke-node-1",
            "__meta_kubernetes_pod_labelpresent_pod_template_hash": "true",
        }
        for key, value in self.labels.items():
            meta[f"__meta_kubernetes_pod_label_{sanitize(key)}"] = value
            meta[f"__meta_kubernetes_pod_labelpresent_{sanitize(key)}"] = "true"
        if self.service:
            meta["__meta_kubernetes_service_name"] = self.service
            meta["__meta_kubernetes_endpoint_port_name"] = self.port_name
            meta["__meta_kubernetes_endpoint_address_target_kind"] = "Pod"
            meta["__meta_kubernetes_endpoint_address_target_name"] = self.name
            meta["__meta_kubernetes_endpoint_ready"] = "true"
            for key, value in self.service_labels.items():
                meta[f"__meta_kubernetes_service_label_{sanitize(key)}"] = value
                meta[f"__meta_kubernetes_service_labelpresent_{sanitize(key)}"] = "true"
        return meta


def sanitize(label: str) -> str:
    """A Kubernetes label key as Prometheus' service discovery writes it in a label name."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in label)


def replace(source: list[str], target: str, **extra: str) -> dict[str, Any]:
    return {"source_labels": source, "target_label": target, "action": "replace", **extra}


def pod_monitoring_job(
    monitor: Manifest, pod: Pod, *, project_id: str, location: str, cluster: str, interval: str
) -> dict[str, Any]:
    """The scrape job GMP's operator makes of a PodMonitoring (prometheus-engine v0.17.2,
    pkg/operator/apis/monitoring/v1/pod_config.go) for one endpoint given by port name, its
    pod discovery replaced by `pod` as a static target."""
    spec = monitor["spec"]
    (endpoint,) = spec["endpoints"]
    name = monitor["metadata"]["name"]
    relabel: list[dict[str, Any]] = [
        {"target_label": "project_id", "replacement": project_id, "action": "replace"},
        {"target_label": "location", "replacement": location, "action": "replace"},
        {"target_label": "cluster", "replacement": cluster, "action": "replace"},
        {
            "source_labels": ["__meta_kubernetes_namespace"],
            "regex": monitor["metadata"]["namespace"],
            "action": "keep",
        },
    ]
    for key, value in sorted(spec["selector"].get("matchLabels", {}).items()):
        relabel.append(
            {
                "source_labels": [f"__meta_kubernetes_pod_label_{sanitize(key)}"],
                "regex": value,
                "action": "keep",
            }
        )
    metadata = spec.get("targetLabels", {}).get(
        "metadata", ["container", "pod", "top_level_controller_name", "top_level_controller_type"]
    )
    if "pod" in metadata:
        relabel.append(replace(["__meta_kubernetes_pod_name"], "pod"))
    if "container" in metadata:
        relabel.append(replace(["__meta_kubernetes_pod_container_name"], "container"))
    if "node" in metadata:
        relabel.append(replace(["__meta_kubernetes_pod_node_name"], "node"))
    relabel += [
        replace(["__meta_kubernetes_namespace"], "namespace"),
        {"target_label": "job", "replacement": name, "action": "replace"},
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)",
         "action": "drop"},
        replace(["__meta_kubernetes_pod_name"], "__tmp_instance"),
        {"source_labels": ["__meta_kubernetes_pod_container_port_name"],
         "regex": endpoint["port"], "action": "keep"},
        replace(["__tmp_instance", "__meta_kubernetes_pod_container_port_name"], "instance",
                regex="(.+);(.+)", replacement="$1:$2"),
    ]  # fmt: skip
    for mapping in spec.get("targetLabels", {}).get("fromPod", []):
        source = f"__meta_kubernetes_pod_label_{sanitize(mapping['from'])}"
        relabel.append(replace([source], mapping.get("to", mapping["from"])))
    return {
        "job_name": f"PodMonitoring/{monitor['metadata']['namespace']}/{name}/{endpoint['port']}",
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [{"targets": [pod.address], "labels": pod.meta()}],
        "relabel_configs": relabel,
        "metric_relabel_configs": [snake(r) for r in endpoint.get("metricRelabeling", [])],
    }


def service_monitor_job(monitor: Manifest, pod: Pod, *, interval: str) -> dict[str, Any]:
    """The scrape job prometheus-operator makes of a ServiceMonitor endpoint (v0.93,
    pkg/prometheus/promcfg.go, abridged to what these monitors use: service label selector,
    port name, the standard target labels, job from the Service's name, then the monitor's
    own relabelings), its endpoints discovery replaced by `pod` as a static target."""
    spec = monitor["spec"]
    (endpoint,) = spec["endpoints"]
    name, namespace = monitor["metadata"]["name"], monitor["metadata"]["namespace"]
    relabel: list[dict[str, Any]] = [replace(["job"], "__tmp_prometheus_job_name")]
    for key, value in sorted(spec["selector"].get("matchLabels", {}).items()):
        relabel.append(
            {
                "source_labels": [
                    f"__meta_kubernetes_service_label_{sanitize(key)}",
                    f"__meta_kubernetes_service_labelpresent_{sanitize(key)}",
                ],
                "regex": f"({value});true",
                "action": "keep",
            }
        )
    job_source = "__meta_kubernetes_service_name"
    if spec.get("jobLabel"):
        job_source = f"__meta_kubernetes_service_label_{sanitize(spec['jobLabel'])}"
    relabel += [
        {"source_labels": ["__meta_kubernetes_endpoint_port_name"], "regex": endpoint["port"],
         "action": "keep"},
        replace(["__meta_kubernetes_endpoint_address_target_kind",
                 "__meta_kubernetes_endpoint_address_target_name"], "pod",
                separator=";", regex="Pod;(.*)", replacement="${1}"),
        replace(["__meta_kubernetes_namespace"], "namespace"),
        replace(["__meta_kubernetes_service_name"], "service"),
        replace(["__meta_kubernetes_pod_name"], "pod"),
        replace(["__meta_kubernetes_pod_container_name"], "container"),
        {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "(Failed|Succeeded)",
         "action": "drop"},
        replace([job_source], "job", regex="(.+)", replacement="${1}"),
        {"target_label": "endpoint", "replacement": endpoint["port"], "action": "replace"},
    ]  # fmt: skip
    relabel += [snake(r) for r in endpoint.get("relabelings", [])]
    return {
        "job_name": f"serviceMonitor/{namespace}/{name}/0",
        "scrape_interval": interval,
        "scrape_timeout": interval,
        "metrics_path": endpoint.get("path", "/metrics"),
        "static_configs": [{"targets": [pod.address], "labels": pod.meta()}],
        "relabel_configs": relabel,
        "metric_relabel_configs": [snake(r) for r in endpoint.get("metricRelabelings", [])],
    }


SNAKE = {
    "sourceLabels": "source_labels",
    "targetLabel": "target_label",
    "separator": "separator",
    "regex": "regex",
    "modulus": "modulus",
    "replacement": "replacement",
    "action": "action",
}


def snake(rule: dict[str, Any]) -> dict[str, Any]:
    """A CRD's relabeling rule (camelCase) as Prometheus configuration (snake_case)."""
    unknown = set(rule) - set(SNAKE)
    assert not unknown, f"relabeling fields this translator does not know: {unknown}"
    return {SNAKE[key]: value for key, value in rule.items()}
