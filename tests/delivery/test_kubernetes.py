"""deploy/kubernetes without a cluster: every overlay renders with `kubectl kustomize`, every
object validates against the Kubernetes API schemas of GKE's regular channel (strict) and
the custom resources against their vendored CRDs' schemas, checkov finds nothing that is not
skipped with a reason, the pod is locked down as docs/kubernetes.md says, the rules are the
render of deploy/monitoring/rules, and deploy/gke.sh's dry runs print what a real run runs.
The scrape itself, by a real Prometheus: tests/operations/test_kubernetes_scrape.py."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shlex
import subprocess
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from bankrisk.config import OTHER_VARIABLES, Settings
from bankrisk.serving.server import GRACEFUL_SHUTDOWN_S, LOG_FLUSH_S
from helpers.kubernetes import (
    KUBERNETES,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    REPO,
    Manifest,
    crd_schemas,
    find,
    kubectl,
    kustomize,
    of_kind,
    render,
)
from helpers.operations import rules

CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
GKE = REPO / "deploy" / "gke.sh"
DIGEST = "sha256:" + "ab" * 32
PROD_IMAGE = f"europe-west1-docker.pkg.dev/my-project/bankrisk/bankrisk@{DIGEST}"
DEV_IMAGE = "europe-west1-docker.pkg.dev/my-project/bankrisk/bankrisk:v2"
# Every checkov skip there is, and why (the manifests say it in an annotation too).
SKIPS = {
    ("dev", "CKV_K8S_35"): "settings, secrets included, come from environment variables only",
    ("prod", "CKV_K8S_35"): "settings, secrets included, come from environment variables only",
    ("dev", "CKV_K8S_43"): "dev runs images by tag; prod pins by digest",
}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


def deployments(objects: list[Manifest]) -> list[Manifest]:
    return [
        d for d in of_kind(objects, "Deployment") if d["metadata"]["labels"]["app"] == "bankrisk"
    ]


def container(deployment: Manifest) -> dict[str, Any]:
    (api,) = deployment["spec"]["template"]["spec"]["containers"]
    assert api["name"] == "api"
    return dict(api)


# --- rendering and schemas -------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_in_its_namespace(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    objects = rendered[overlay]
    namespace = find(objects, "Namespace", "bankrisk" if overlay == "prod" else "bankrisk-dev")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"], obj["kind"]
    kinds = sorted({o["kind"] for o in objects})
    monitoring = (
        ["PodMonitoring", "Rules"] if overlay == "prod" else ["PrometheusRule", "ServiceMonitor"]
    )
    assert kinds == sorted(
        ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Namespace", "NetworkPolicy",
         "PodDisruptionBudget", "Service", "ServiceAccount", *monitoring]
    )  # fmt: skip
    assert not of_kind(objects, "Secret"), "a Secret in the manifests: secrets come out of band"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_api(
    overlay: str, version: str, rendered: dict[str, list[Manifest]]
) -> None:
    errors = []
    for obj in rendered[overlay]:
        if "." in obj["apiVersion"].split("/")[0] and "k8s.io" not in obj["apiVersion"]:
            continue  # custom resources: their CRD's schema, below
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {error.message}")
    assert not errors


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_validate_against_their_crds(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    schemas = crd_schemas()
    custom = [o for o in rendered[overlay] if o["apiVersion"].startswith("monitoring.")]
    assert len(custom) == 2
    for obj in custom:
        schema = schemas[(obj["apiVersion"], obj["kind"])]
        # No metaschema check: the operator's CRD has a Go regex (`^(?i)...`) Python refuses.
        jsonschema.Draft7Validator(schema).validate(obj)


def test_the_validators_refuse_a_misspelt_field(rendered: dict[str, list[Manifest]]) -> None:
    """Both checks above would catch a typo: the API's schema and the (strict) CRD schema."""
    deployment = copy.deepcopy(find(rendered["prod"], "Deployment", "bankrisk"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = (
        "/"
    )
    with pytest.raises(kubernetes_validate.ValidationError, match="paht"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[1], strict=True)
    monitor = copy.deepcopy(find(rendered["prod"], "PodMonitoring", "bankrisk"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    schema = crd_schemas()[("monitoring.googleapis.com/v1", "PodMonitoring")]
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.Draft7Validator(schema).validate(monitor)


# --- security ------------------------------------------------------------------------------


def checkov(directory: Path) -> dict[str, Any]:
    if not CHECKOV.exists():  # `make unit` makes it: CI must not skip
        missing = f"{CHECKOV.relative_to(REPO)} is missing: `make {CHECKOV.relative_to(REPO)}`"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(directory), "--framework", "kubernetes",
         "--output", "json", "--skip-download", "--compact"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_checkov_finds_nothing_that_is_not_justified(tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        out = subprocess.run(
            [kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        (tmp_path / f"{overlay}.yaml").write_text(out)
    report = checkov(tmp_path)
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in results["failed_checks"]]
    assert not failed
    assert report["summary"]["passed"] > 100
    skipped = {
        (Path(c["file_path"]).stem, c["check_id"]): c["check_result"].get("suppress_comment", "")
        for c in results["skipped_checks"]
    }
    assert set(skipped) == set(SKIPS)
    for key, comment in skipped.items():
        assert len(comment) > 20, f"{key}: a skip without a reason"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_is_locked_down(overlay: str, rendered: dict[str, list[Manifest]]) -> None:
    for deployment in deployments(rendered[overlay]):
        pod = deployment["spec"]["template"]["spec"]
        api = container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (Dockerfile)
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert pod["serviceAccountName"] == "bankrisk"
        assert api["securityContext"] == {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        }
        # The only writable place is /tmp: the data folder (SQLite log, spool) is under it.
        assert api["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        (volume,) = pod["volumes"]
        assert "emptyDir" in volume
        settings = find(rendered[overlay], "ConfigMap", api["envFrom"][0]["configMapRef"]["name"])
        assert settings["data"]["BANKRISK_DATA_DIR"].startswith("/tmp/")
        spool_mb = int(settings["data"]["BANKRISK_PREDICTION_LOG_SPOOL_MB"])
        assert _mebibytes(volume["emptyDir"]["sizeLimit"]) > spool_mb
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(api["resources"][kind])


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_the_shutdown_fit_the_service(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    for deployment in deployments(rendered[overlay]):
        pod = deployment["spec"]["template"]["spec"]
        api = container(deployment)
        assert api["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert api["startupProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        pause = api["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pod["terminationGracePeriodSeconds"] > pause + GRACEFUL_SHUTDOWN_S + LOG_FLUSH_S
        # Service links would inject BANKRISK_PORT=tcp://...: see the test below.
        assert pod["enableServiceLinks"] is False


def test_service_links_would_break_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What Kubernetes injects for a Service named bankrisk when service links are on: a
    `BANKRISK_PORT` that is no port (fatal without PORT) and unknown `BANKRISK_` variables."""
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv("BANKRISK_PORT", "tcp://10.0.0.1:80")
    with pytest.raises(ValueError, match="valid integer"):
        Settings()
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("BANKRISK_SERVICE_HOST", "10.0.0.1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Settings()
    assert any("BANKRISK_SERVICE_HOST" in str(w.message) for w in caught)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_are_known_and_secrets_are_references(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    variables = {"PORT", *OTHER_VARIABLES}
    for name, info in Settings.model_fields.items():
        variables.add(f"BANKRISK_{name.upper()}")
        variables.update(str(a).upper() for a in getattr(info.validation_alias, "choices", []))
    for config_map in of_kind(rendered[overlay], "ConfigMap"):
        unknown = set(config_map["data"]) - variables
        assert not unknown, f"not bankrisk settings (misspelt?): {unknown}"
        assert not any("KEY" in k or "SALT" in k for k in config_map["data"])
    for deployment in deployments(rendered[overlay]):
        env = {e["name"]: e for e in container(deployment)["env"]}
        assert set(env) <= variables
        for entry in env.values():
            assert "value" not in entry, f"a literal value in env: {entry}"
        keys = env["BANKRISK_API_KEYS"]["valueFrom"]["secretKeyRef"]
        assert keys == {"name": "bankrisk-api-keys", "key": "api-keys"}
        log = env["BANKRISK_PREDICTION_LOG"]["valueFrom"]["secretKeyRef"]
        assert log.get("optional", False) is (overlay == "dev")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_canary_is_the_stable_pod_with_another_track(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    objects = rendered[overlay]
    stable, canary = (
        find(objects, "Deployment", "bankrisk"),
        find(objects, "Deployment", "bankrisk-canary"),
    )
    assert "replicas" not in stable["spec"], "the HPA sets the stable replicas"
    assert canary["spec"]["replicas"] == 0, "the canary is off until deploy/gke.sh canary"
    assert stable["spec"]["template"]["spec"] == canary["spec"]["template"]["spec"]
    labels = stable["spec"]["template"]["metadata"]["labels"]
    assert labels == {"app": "bankrisk", "track": "stable"}
    assert canary["spec"]["template"]["metadata"]["labels"] == {
        "app": "bankrisk",
        "track": "canary",
    }
    service = find(objects, "Service", "bankrisk")
    assert service["spec"]["selector"] == {"app": "bankrisk"}, "one Service for both tracks"
    hpa = find(objects, "HorizontalPodAutoscaler", "bankrisk")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "bankrisk"
    assert find(objects, "PodDisruptionBudget", "bankrisk")["spec"]["selector"] == {
        "matchLabels": {"app": "bankrisk"}
    }
    images = {container(d)["image"] for d in (stable, canary)}
    assert len(images) == 1
    if overlay == "prod":
        assert re.search(r"@sha256:[0-9a-f]{64}$", images.pop())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_open_only_the_serving_port_and_dns(
    overlay: str, rendered: dict[str, list[Manifest]]
) -> None:
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    base = find(rendered[overlay], "NetworkPolicy", "bankrisk")
    assert base["spec"]["policyTypes"] == ["Ingress", "Egress"], "default deny both ways"
    ingress_ports, egress_ports = set(), set()
    for policy in policies:
        assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "bankrisk"}}
        for rule in policy["spec"].get("ingress", []):
            assert rule["from"], "an ingress rule from anywhere"
            ingress_ports |= {(p["port"], p["protocol"]) for p in rule["ports"]}
        for rule in policy["spec"].get("egress", []):
            assert rule["to"], "an egress rule to anywhere"
            egress_ports |= {(p["port"], p["protocol"]) for p in rule["ports"]}
    assert ingress_ports == {("http", "TCP")}
    expected = {(53, "UDP"), (53, "TCP")} | ({(5432, "TCP")} if overlay == "prod" else set())
    assert egress_ports == expected
    scraper = {"prod": "gmp-system", "dev": "monitoring"}[overlay]
    assert any(scraper in json.dumps(p["spec"].get("ingress", [])) for p in policies)


# --- monitoring: one source of rules, monitors that select the pods --------------------------


def _render_rules_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render_rules", KUBERNETES / "render_rules.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_rules_are_a_fresh_render() -> None:
    for path, text in _render_rules_module().rendered().items():
        assert path.read_text() == text, (
            f"{path.relative_to(REPO)} differs from deploy/monitoring/rules: re-render it with "
            "`.venv/bin/python deploy/kubernetes/render_rules.py`"
        )


def test_the_render_check_fails_on_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _render_rules_module()
    stale = tmp_path / "rules.yaml"
    stale.write_text("# an old render\n")
    monkeypatch.setattr(module, "rendered", lambda: {stale: "# the new render\n"})
    assert module.main(["--check"]) == 1
    assert stale.read_text() == "# an old render\n"


@pytest.mark.parametrize(("overlay", "kind"), [("prod", "Rules"), ("dev", "PrometheusRule")])
def test_the_rules_are_the_monitoring_rules(
    overlay: str, kind: str, rendered: dict[str, list[Manifest]]
) -> None:
    (resource,) = of_kind(rendered[overlay], kind)
    loaded = [rule for group in resource["spec"]["groups"] for rule in group["rules"]]
    assert loaded == [*rules("record"), *rules("alert")]
    assert {group["interval"] for group in resource["spec"]["groups"]} == {"30s"}


def test_the_monitors_select_the_pods_and_name_the_job_the_rules_use(
    rendered: dict[str, list[Manifest]],
) -> None:
    """job="bankrisk" is what every rule and the dashboard select: GMP takes it from the
    PodMonitoring's name, the operator from the Service's."""
    assert any('job="bankrisk"' in rule["expr"] for rule in rules("alert"))
    prod, dev = rendered["prod"], rendered["dev"]
    pod_labels = find(prod, "Deployment", "bankrisk")["spec"]["template"]["metadata"]["labels"]
    monitor = find(prod, "PodMonitoring", "bankrisk")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    service = find(dev, "Service", "bankrisk")
    service_monitor = find(dev, "ServiceMonitor", "bankrisk")
    assert (
        service_monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"]["labels"].items()
    )
    assert "jobLabel" not in service_monitor["spec"]
    assert service_monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


# --- deploy/gke.sh ---------------------------------------------------------------------------


def gke(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The script with fake gcloud and kubectl on PATH that record any call in tmp_path/calls
    (kubectl's local `kustomize` goes to the real one: it renders, it reaches no cluster)."""
    fakes = tmp_path / "bin"
    fakes.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    (fakes / "gcloud").write_text(f'#!/bin/sh\necho gcloud "$@" >> {calls}\n')
    (fakes / "kubectl").write_text(
        f'#!/bin/sh\nif [ "$1" = kustomize ]; then exec {kubectl()} "$@"; fi\n'
        f'echo kubectl "$@" >> {calls}\n'
    )
    for fake in fakes.iterdir():
        fake.chmod(0o755)
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    return subprocess.run(
        ["bash", str(GKE), *args], env=env, capture_output=True, text=True, timeout=60
    )


def printed(result: subprocess.CompletedProcess[str]) -> list[list[str]]:
    return [shlex.split(line) for line in result.stdout.splitlines()]


CREDENTIALS = ["gcloud", "container", "clusters", "get-credentials", "bankrisk",
               "--project", "my-project", "--location", "europe-west1"]  # fmt: skip


def secret_pipe(name: str, key: str, namespace: str) -> list[str]:
    return [
        "gcloud", "secrets", "versions", "access", "latest", f"--secret={name}",
        "--project=my-project", "|", "kubectl", "create", "secret", "generic", name,
        "--namespace", namespace, f"--from-file={key}=/dev/stdin", "--dry-run=client",
        "--output=yaml", "|", "kubectl", "apply", "--namespace", namespace, "--filename=-",
    ]  # fmt: skip


def test_dry_run_apply_prints_every_command(tmp_path: Path) -> None:
    result = gke("--dry-run", "--project", "my-project", "apply", PROD_IMAGE, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "calls").exists(), "the dry run called gcloud or kubectl"
    release = tmp_path / "bankrisk-gke-prod"
    assert printed(result) == [
        CREDENTIALS,
        ["kubectl", "apply", f"--filename={KUBERNETES}/overlays/prod/namespace.yaml"],
        secret_pipe("bankrisk-api-keys", "api-keys", "bankrisk"),
        secret_pipe("bankrisk-prediction-log", "url", "bankrisk"),
        ["kubectl", "apply", f"--kustomize={release}"],
        ["kubectl", "rollout", "status", "deployment/bankrisk", "--namespace", "bankrisk",
         "--timeout=5m"],
    ]  # fmt: skip
    # What it applies: the prod overlay with this image in both tracks and the project's
    # Workload Identity account; otherwise the same objects.
    objects = kustomize(release)
    assert {container(d)["image"] for d in deployments(objects)} == {PROD_IMAGE}
    account = find(objects, "ServiceAccount", "bankrisk")["metadata"]["annotations"]
    assert (
        account["iam.gke.io/gcp-service-account"]
        == "bankrisk-gke@my-project.iam.gserviceaccount.com"
    )
    assert len(objects) == len(render("prod"))


def test_dry_run_dev_syncs_only_the_api_keys(tmp_path: Path) -> None:
    result = gke(
        "--dry-run", "--project", "my-project", "--overlay", "dev", "--location", "europe-west1-b",
        "--cluster", "risk-dev", "apply", DEV_IMAGE, tmp_path=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    commands = printed(result)
    assert commands[0][-1] == "europe-west1-b" and "risk-dev" in commands[0]
    assert commands[2] == secret_pipe("bankrisk-api-keys", "api-keys", "bankrisk-dev")
    assert not any("bankrisk-prediction-log" in c for c in commands)
    objects = kustomize(tmp_path / "bankrisk-gke-dev")
    assert {container(d)["image"] for d in deployments(objects)} == {DEV_IMAGE}


@pytest.mark.parametrize(("percent", "pods"), [("10", 1), ("25", 1), ("50", 3)])
def test_dry_run_canary_sizes_the_canary_to_its_share(
    percent: str, pods: int, tmp_path: Path
) -> None:
    """prod's stable track has 3 pods at least (its HPA minimum, what a dry run assumes)."""
    image = PROD_IMAGE.replace("ab", "cd")
    result = gke(
        "--dry-run", "--project", "my-project", "canary", image, percent, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "calls").exists()
    ns = ["--namespace", "bankrisk"]
    assert printed(result) == [
        CREDENTIALS,
        ["kubectl", "set", "image", "deployment/bankrisk-canary", f"api={image}", *ns],
        ["kubectl", "scale", "deployment/bankrisk-canary", f"--replicas={pods}", *ns],
        ["kubectl", "rollout", "status", "deployment/bankrisk-canary", *ns, "--timeout=5m"],
    ]
    assert f"{pods} pod(s) beside 3 stable ones" in result.stderr


def test_dry_run_promote_rollback_and_status(tmp_path: Path) -> None:
    base = ["--dry-run", "--project", "my-project"]
    promote = gke(*base, "promote", PROD_IMAGE, tmp_path=tmp_path)
    assert promote.returncode == 0, promote.stderr
    assert printed(promote)[-2] == ["kubectl", "apply", f"--kustomize={tmp_path}/bankrisk-gke-prod"]
    rollback = gke(*base, "rollback", tmp_path=tmp_path)
    assert printed(rollback) == [
        CREDENTIALS,
        [
            "kubectl",
            "scale",
            "deployment/bankrisk-canary",
            "--replicas=0",
            "--namespace",
            "bankrisk",
        ],
    ]
    status = gke(*base, "status", tmp_path=tmp_path)
    assert printed(status)[1][:3] == ["kubectl", "get", "deployments,horizontalpodautoscalers,pods"]
    assert not (tmp_path / "calls").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", DEV_IMAGE], "prod runs images by digest only"),
        (["--overlay", "qa", "status"], "unknown overlay 'qa'"),
        (["apply", "not an image"], "invalid image"),
        (["apply", "europe-west1-docker.pkg.dev/p/r/bankrisk"], "invalid image"),
        (["canary", PROD_IMAGE, "60"], "PERCENT must be an integer from 1 to 50"),
        (["canary", PROD_IMAGE, "0"], "PERCENT must be an integer from 1 to 50"),
        (["canary", PROD_IMAGE], "usage: canary IMAGE PERCENT"),
        (["--location", "Europe", "status"], "invalid location"),
        (["--cluster", "Bad_Name", "status"], "invalid cluster name"),
        (["--frobnicate", "status"], "unknown option --frobnicate"),
        (["deploy", PROD_IMAGE], "unknown command 'deploy'"),
        (["rollback", "extra"], "usage: rollback"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = gke("--dry-run", "--project", "my-project", *args, tmp_path=tmp_path)
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith("gke.sh: ") and message in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not result.stdout
    assert not (tmp_path / "calls").exists()


def test_no_project_is_refused(tmp_path: Path) -> None:
    result = gke("--dry-run", "status", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "no project" in result.stderr


def test_help_is_the_header(tmp_path: Path) -> None:
    result = gke("--help", tmp_path=tmp_path)
    assert result.returncode == 0
    assert "canary IMAGE PERCENT" in result.stdout and "--overlay NAME" in result.stdout


def test_the_vendored_crds_say_where_they_come_from() -> None:
    for path in sorted((KUBERNETES / "crds").glob("*.yaml")):
        head = path.read_text()[:400]
        assert "Apache-2.0" in head and "release v" in head, path.name
        assert yaml.safe_load_all(path.read_text())
