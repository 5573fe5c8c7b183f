"""Cloud Monitoring as code: the log-based metric `prediction_latency_seconds` checked against the
lines a real `bankrisk serve` writes, the alert policy against the Prometheus alerts' thresholds,
the Cloud Run sidecar files against deploy/service.yaml, and the script that applies them."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bankrisk.serving.observability import _LATENCY_BUCKETS
from helpers.api import to_customer
from helpers.cloud_logging import extract, log_entry, matches
from helpers.factories import make_raw
from helpers.operations import (
    MONITORING,
    REPO,
    RUNBOOK_URL,
    SCORING_ROUTES,
    alert,
    load_yaml,
    runbook_anchors,
    thresholds,
)
from helpers.processes import BANKRISK, server

METRIC = load_yaml(MONITORING / "cloud" / "prediction_latency_seconds.yaml")
POLICY = load_yaml(MONITORING / "cloud" / "alert-policy.yaml")
SCRIPT = MONITORING / "apply-cloud-monitoring.sh"
PROJECT, SERVICE = "my-project", "bankrisk"


def _requests() -> list[tuple[str, str, Any]]:
    """(method, path, body) sent to the server; the scoring ones must all be in the metric."""
    raw, _ = make_raw(3, seed=9)
    one, two, three = (to_customer(row, f"LOG-{i}") for i, row in enumerate(raw))
    return [
        ("POST", "/v1/predict", one),
        ("POST", "/predict", two),
        ("POST", "/v1/predict/batch", {"records": [one, two, three]}),
        ("POST", "/v1/predict", {**one, "PAY_0": 42}),  # 422
        ("POST", "/v1/predict/batch", {"records": []}),  # 422
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/v1/model", None),
    ]


@pytest.fixture(scope="module")
def log_lines(small_bundle_dir: Path) -> Iterator[list[dict[str, Any]]]:
    """The JSON lines a real `bankrisk serve` wrote on stdout for `_requests()`."""
    with server(small_bundle_dir, capture=True, GOOGLE_CLOUD_PROJECT=PROJECT) as running:
        assert running.log is not None
        with httpx.Client(base_url=running.url, timeout=10) as client:
            for method, path, body in _requests():
                headers = {"X-Cloud-Trace-Context": "0af7651916cd43dd8448eb211c80319c/1;o=1"}
                client.request(method, path, json=body, headers=headers)
        running.stop()
        lines = running.log.rest()
    yield [line for line in lines if "httpRequest" in line]


def _entries(lines: list[dict[str, Any]], **where: str) -> list[dict[str, Any]]:
    return [log_entry(line, project=PROJECT, service=SERVICE, **where) for line in lines]


def _counted(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in _entries(lines) if matches(e, METRIC["filter"])]


def test_the_filter_counts_every_scoring_request_and_nothing_else(
    log_lines: list[dict[str, Any]],
) -> None:
    scoring = [(m, p) for m, p, _ in _requests() if p in SCORING_ROUTES]
    counted = _counted(log_lines)
    assert sorted(
        (e["httpRequest"]["requestMethod"], e["jsonPayload"]["route"]) for e in counted
    ) == sorted(scoring)
    assert {e["httpRequest"]["status"] for e in counted} == {200, 422}
    others = {e["jsonPayload"]["route"] for e in _entries(log_lines)} - set(SCORING_ROUTES)
    assert {"/health", "/metrics", "/v1/model"} <= others


def test_cloud_runs_own_request_log_and_other_services_are_not_counted(
    log_lines: list[dict[str, Any]],
) -> None:
    requests_log = _entries(log_lines, log="run.googleapis.com%2Frequests")
    assert not [e for e in requests_log if matches(e, METRIC["filter"])]
    other = [log_entry(line, project=PROJECT, service="other") for line in log_lines]
    assert not [e for e in other if matches(e, METRIC["filter"])]


@pytest.mark.parametrize(
    ("route", "counted"),
    [
        ("/v1/predict/customer/{customer_id}", True),  # scoring by customer id (feature store)
        ("/v1/model", False),
        ("/predictions", False),
        ("unmatched", False),
    ],
)
def test_the_filter_reads_the_route_template(
    log_lines: list[dict[str, Any]], route: str, counted: bool
) -> None:
    line = {**next(line for line in log_lines if line["route"] == "/v1/predict"), "route": route}
    entry = log_entry(line, project=PROJECT, service=SERVICE)
    assert matches(entry, METRIC["filter"]) is counted


def test_the_value_is_each_requests_latency_in_seconds(log_lines: list[dict[str, Any]]) -> None:
    counted = _counted(log_lines)
    assert counted
    for entry in counted:
        value = extract(entry, METRIC["valueExtractor"])
        assert value is not None, entry
        seconds = float(value)  # what Cloud Logging records: the string as a double
        assert seconds > 0
        assert seconds == pytest.approx(entry["jsonPayload"]["latency_ms"] / 1000, abs=1e-6)


def test_labels_are_model_version_status_and_route(
    log_lines: list[dict[str, Any]], small_bundle_dir: Path
) -> None:
    version = load_yaml(small_bundle_dir / "metadata.json")["version"]
    extractors = METRIC["labelExtractors"]
    assert {"model_version", "status"} <= set(extractors)
    assert {label["key"] for label in METRIC["metricDescriptor"]["labels"]} == set(extractors)
    for entry in _counted(log_lines):
        labels = {key: extract(entry, extractor) for key, extractor in extractors.items()}
        status = entry["httpRequest"]["status"]
        assert labels["status"] == str(status)
        assert labels["route"] == entry["jsonPayload"]["route"]
        # A refused request was answered by no model: its label is empty (absent).
        assert labels["model_version"] == (version if status == 200 else None)


def test_the_metric_is_a_distribution_in_the_service_histograms_buckets() -> None:
    assert METRIC["name"] == "prediction_latency_seconds"
    descriptor = METRIC["metricDescriptor"]
    assert (descriptor["metricKind"], descriptor["valueType"], descriptor["unit"]) == (
        "DELTA",
        "DISTRIBUTION",
        "s",
    )
    assert METRIC["bucketOptions"]["explicitBuckets"]["bounds"] == list(_LATENCY_BUCKETS)


def test_the_policy_alerts_on_the_prometheus_thresholds() -> None:
    latency, batch, errors = POLICY["conditions"]
    single_bound, batch_bound = thresholds(alert("BankriskLatencyHigh")["expr"])
    (error_bound,) = thresholds(alert("BankriskErrorRatioHigh")["expr"])
    assert latency["conditionThreshold"]["thresholdValue"] == single_bound
    assert batch["conditionThreshold"]["thresholdValue"] == batch_bound
    assert errors["conditionThreshold"]["thresholdValue"] == error_bound
    for name, condition in zip(
        ("BankriskLatencyHigh",) * 2 + ("BankriskErrorRatioHigh",),
        POLICY["conditions"],
        strict=True,
    ):
        threshold = condition["conditionThreshold"]
        assert threshold["comparison"] == "COMPARISON_GT"
        minutes = int(alert(name)["for"].removesuffix("m"))
        assert threshold["duration"] == f"{minutes * 60}s"
        assert threshold["aggregations"][0]["alignmentPeriod"] == "300s"  # the rules' [5m]
    metric_type = f'metric.type="logging.googleapis.com/user/{METRIC["name"]}"'
    assert metric_type in latency["conditionThreshold"]["filter"]
    assert metric_type in batch["conditionThreshold"]["filter"]
    assert "denominatorFilter" in errors["conditionThreshold"]
    assert POLICY["combiner"] == "OR"


def test_the_policy_links_the_runbook() -> None:
    links = re.findall(re.escape(RUNBOOK_URL) + r"([\w-]+)", POLICY["documentation"]["content"])
    assert links and set(links) <= runbook_anchors()


def test_the_sidecar_scrapes_the_port_and_container_the_service_runs() -> None:
    service = load_yaml(REPO / "deploy" / "service.yaml")["spec"]["template"]["spec"]
    (api,) = service["containers"]
    monitoring = load_yaml(MONITORING / "cloudrun" / "run-monitoring.yaml")
    assert monitoring["kind"] == "RunMonitoring"
    (endpoint,) = monitoring["spec"]["endpoints"]
    assert endpoint["port"] == api["ports"][0]["containerPort"]
    assert endpoint["path"] == "/metrics"
    sidecar = load_yaml(MONITORING / "cloudrun" / "sidecar.yaml")
    dependencies = sidecar["metadata"]["annotations"]["run.googleapis.com/container-dependencies"]
    assert json.loads(dependencies) == {"collector": [api["name"]]}
    (collector,) = sidecar["spec"]["containers"]
    (mount,) = collector["volumeMounts"]
    assert mount["mountPath"] == "/etc/rungmp"
    (volume,) = sidecar["spec"]["volumes"]
    assert volume["secret"]["items"][0]["path"] == "config.yaml"


# --- the script -----------------------------------------------------------------------------
@pytest.fixture
def gcloud(tmp_path: Path) -> Path:
    """A fake gcloud on PATH that records its calls; `list` prints $FAKE_EXISTING."""
    fake = tmp_path / "bin" / "gcloud"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/bash\n"
        f'printf "%q " "$@" >> {tmp_path}/calls; echo >> {tmp_path}/calls\n'
        'case "$*" in *" list "*) [ -n "$FAKE_EXISTING" ] && echo "$FAKE_EXISTING" ;; esac\n'
        "exit 0\n"
    )
    fake.chmod(0o755)
    return fake


def script(*args: str, gcloud: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{gcloud.parent}:/usr/bin:/bin" if gcloud else "/usr/bin:/bin"
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        env={"PATH": path, "HOME": "/nonexistent", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dry_run_prints_the_exact_commands_and_runs_none(gcloud: Path) -> None:
    proc = script("--dry-run", "--project", PROJECT, gcloud=gcloud)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"gcloud logging metrics create prediction_latency_seconds --project {PROJECT} "
        f"--config-from-file={MONITORING}/cloud/prediction_latency_seconds.yaml",
        f"gcloud alpha monitoring policies create --project {PROJECT} "
        f"--policy-from-file={MONITORING}/cloud/alert-policy.yaml",
    ]
    assert "gcloud logging metrics list" in proc.stderr  # the look-ups, printed apart
    assert not (gcloud.parent.parent / "calls").exists()


def test_a_first_apply_runs_what_the_dry_run_prints(gcloud: Path) -> None:
    channels = "projects/my-project/notificationChannels/42"
    dry = script("--dry-run", "--project", PROJECT, "--notification-channels", channels)
    real = script("--project", PROJECT, "--notification-channels", channels, gcloud=gcloud)
    assert real.returncode == 0, real.stderr
    calls = (gcloud.parent.parent / "calls").read_text().splitlines()
    changes = [c.strip() for c in calls if " list " not in c]
    assert [f"gcloud {c}" for c in changes] == dry.stdout.splitlines()
    assert dry.stdout.splitlines()[1].endswith(f"--notification-channels={channels}")


def test_a_second_apply_updates_instead_of_duplicating(gcloud: Path) -> None:
    policy = "projects/my-project/alertPolicies/123"
    proc = script("--project", PROJECT, gcloud=gcloud, FAKE_EXISTING=policy)
    assert proc.returncode == 0, proc.stderr
    calls = (gcloud.parent.parent / "calls").read_text()
    assert "logging metrics update prediction_latency_seconds" in calls
    assert f"alpha monitoring policies update {policy} " in calls
    assert " create " not in calls


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no project: give --project ID"),
        (("--project", "X"), "invalid project id 'X'"),
        (
            ("--project", PROJECT, "--notification-channels", "a b"),
            "invalid --notification-channels",
        ),
        (("--project", PROJECT, "--frobnicate"), "unknown argument '--frobnicate'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(args: tuple[str, ...], message: str) -> None:
    proc = script("--dry-run", *args)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("apply-cloud-monitoring.sh: ") and message in proc.stderr
    assert not proc.stdout


def test_help_and_shellcheck() -> None:
    proc = script("--help")
    assert proc.returncode == 0 and "--dry-run" in proc.stdout and "set -e" not in proc.stdout
    tool = str(BANKRISK.with_name("shellcheck"))  # the dev tool in the venv, as CI has it
    checked = subprocess.run(
        [tool, "--format", "gcc", str(SCRIPT), str(MONITORING / "up.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
