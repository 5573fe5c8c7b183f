"""The GKE scrape and rules against a real Prometheus scraping a real `bankrisk serve`.

No cluster here: the PodMonitoring (prod overlay) and the ServiceMonitor (dev overlay) are
translated into the scrape jobs their operators generate (tests/helpers/kubernetes.py), each
with a static target that carries the labels Kubernetes discovery would give the pod (and
the Service), pointing at a `bankrisk serve` on 127.0.0.1. The rules loaded are the rendered
`Rules` object's groups (the same as the PrometheusRule's: tests/delivery/test_kubernetes.py).
After real traffic, every recording rule, every series an alert reads and every dashboard
query must return data, with the labels the relabelling sets. Intervals are 1 s here instead of
30 s; nothing else is changed.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from helpers.kubernetes import (
    Pod,
    find,
    of_kind,
    pod_monitoring_job,
    render,
    service_monitor_job,
)
from helpers.operations import (
    debian_tool,
    panel_queries,
    prometheus_query,
    rules,
    send_traffic,
    without_data,
)
from helpers.processes import WAIT_S, free_port, server, wait_answering

INTERVAL = "1s"
DATA_WITHIN_S = 45.0
GMP = {"project_id": "my-project", "location": "europe-west1", "cluster": "bankrisk"}
PROD_POD = "bankrisk-5d8f7c9b6d-q2x7w"
OTHER_POD = "other-app-7f6d5c4b3a-z9y8x"
DEV_POD = "bankrisk-6c9d8f7b5a-k4m2n"
# Fed by node-exporter's textfile collector from `bankrisk monitor performance`, not by the
# service: no scrape of the service can give them (test_prometheus_rules.py tests the alert).
NOT_FROM_THE_SERVICE = ("bankrisk_fairness_",)


@dataclass(frozen=True)
class Scraped:
    prometheus: str
    api: str
    labels: dict[str, dict[str, str]]  # flavour -> the labels its relabelling must set

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = prometheus_query(self.prometheus, expr)
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result


def _pods(port: int) -> dict[str, tuple[Pod, dict[str, Any]]]:
    """Per flavour, the stand-in pod and the scrape job its monitor becomes."""
    prod, dev = render("prod"), render("dev")
    address = f"127.0.0.1:{port}"

    def template_labels(objects: list[dict[str, Any]]) -> dict[str, str]:
        deployment = find(objects, "Deployment", "bankrisk")
        return {**deployment["spec"]["template"]["metadata"]["labels"], "pod-template-hash": "x"}

    gmp_pod = Pod(PROD_POD, "bankrisk", template_labels(prod), "api", "http", address)
    service = find(dev, "Service", "bankrisk")
    operator_pod = Pod(
        DEV_POD, "bankrisk-dev", template_labels(dev), "api", "http", address,
        service=service["metadata"]["name"], service_labels=service["metadata"]["labels"],
    )  # fmt: skip
    (monitor,) = of_kind(prod, "PodMonitoring")
    (service_monitor,) = of_kind(dev, "ServiceMonitor")
    gmp_job = pod_monitoring_job(monitor, gmp_pod, interval=INTERVAL, **GMP)
    other = Pod(OTHER_POD, "bankrisk", {"app": "other-app"}, "api", "http", "127.0.0.1:9")
    gmp_job["static_configs"].append({"targets": [other.address], "labels": other.meta()})
    return {
        "gmp": (gmp_pod, gmp_job),
        "operator": (
            operator_pod,
            service_monitor_job(service_monitor, operator_pod, interval=INTERVAL),
        ),
    }


def _rule_file(path: Path) -> None:
    """The rendered Rules object's groups as a Prometheus rule file, evaluated every 1 s."""
    (rules_object,) = of_kind(render("prod"), "Rules")
    groups = [{**group, "interval": INTERVAL} for group in rules_object["spec"]["groups"]]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))


@pytest.fixture(scope="module")
def scraped(small_bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    prometheus_bin = debian_tool("prometheus")
    state = tmp_path_factory.mktemp("kubernetes-scrape")
    with server(
        small_bundle_dir,
        BANKRISK_PREDICTION_LOG=f"sqlite:///{state / 'predictions.db'}",
        BANKRISK_PREDICTION_LOG_SPOOL=str(state / "spool"),
    ) as api:
        jobs = _pods(api.port)
        _rule_file(state / "rules.yml")
        config = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": [str(state / "rules.yml")],
            "scrape_configs": [job for _, job in jobs.values()],
        }
        (state / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        port = free_port()
        said = (state / "prometheus.log").open("w")
        prometheus = subprocess.Popen(
            [prometheus_bin, f"--config.file={state / 'prometheus.yml'}",
             f"--storage.tsdb.path={state / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             "--log.level=warn"],
            stdout=said, stderr=said,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_answering(prometheus, f"{url}/-/ready", "Prometheus", within=WAIT_S)
            labels = {
                "gmp": {"job": "bankrisk", "namespace": "bankrisk", **GMP, "pod": PROD_POD,
                        "container": "api", "instance": f"{PROD_POD}:http", "track": "stable"},
                "operator": {"job": "bankrisk", "namespace": "bankrisk-dev", "service": "bankrisk",
                             "pod": DEV_POD, "container": "api", "endpoint": "http",
                             "instance": f"127.0.0.1:{api.port}", "track": "stable"},
            }  # fmt: skip
            scraped = Scraped(url, api.url, labels)
            send_traffic(api.url)
            # First samples of the counters, then more traffic: rates move.
            assert not _missing(scraped, [("scraped", "bankrisk_predictions_total")])
            send_traffic(api.url)
            yield scraped
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait(timeout=10)
            said.close()


def _missing(scraped: Scraped, queries: list[tuple[str, str]]) -> list[str]:
    return without_data(scraped.prometheus, queries, within=DATA_WITHIN_S, every=1.0)


def _selector(labels: dict[str, str]) -> str:
    return ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items()))


def test_each_monitor_scrapes_the_pod_with_the_labels_its_operator_sets(scraped: Scraped) -> None:
    targets = httpx.get(f"{scraped.prometheus}/api/v1/targets", timeout=10).json()["data"]
    active = targets["activeTargets"]
    assert len(active) == 2, targets["droppedTargets"]
    assert {t["health"] for t in active} == {"up"}, [t["lastError"] for t in active]
    for flavour, labels in scraped.labels.items():
        assert labels in [t["labels"] for t in active], (flavour, [t["labels"] for t in active])
        series = scraped.query(f"bankrisk_predictions_total{{{_selector(labels)}}}")
        assert series, f"{flavour}: no prediction counted with {labels}"


def test_a_pod_the_monitor_does_not_select_is_dropped(scraped: Scraped) -> None:
    """Another app's pod in the same namespace (a second static target of the GMP job) is
    dropped by the relabelling, as the operator's selector would drop it."""
    dropped = httpx.get(f"{scraped.prometheus}/api/v1/targets", timeout=10).json()["data"][
        "droppedTargets"
    ]
    assert [t["discoveredLabels"]["__meta_kubernetes_pod_name"] for t in dropped] == [OTHER_POD]


def test_every_recording_rule_returns_data_for_the_job(scraped: Scraped) -> None:
    records = [(r["record"], f'{r["record"]}{{job="bankrisk"}}') for r in rules("record")]
    assert not _missing(scraped, records)


def test_every_series_an_alert_reads_has_data_from_both_monitors(scraped: Scraped) -> None:
    names = sorted(
        {
            name
            for rule in rules("alert")
            for name in re.findall(r"\b((?:[a-z_]+:)?bankrisk_[a-z0-9_:]+|up)\b", rule["expr"])
            if not name.startswith(NOT_FROM_THE_SERVICE)
        }
    )
    assert "up" in names and "bankrisk_prediction_log_spool_bytes" in names
    queries = []
    for name in names:
        if ":" in name:  # a recorded series: aggregated by job
            queries.append((name, f'{name}{{job="bankrisk"}}'))
        else:
            for flavour, labels in scraped.labels.items():
                queries.append((f"{flavour} {name}", f"{name}{{{_selector(labels)}}}"))
    assert not _missing(scraped, queries)


def test_every_dashboard_query_returns_data(scraped: Scraped) -> None:
    queries = [(f"{title} [{i}]", expr) for i, (title, expr) in enumerate(panel_queries())]
    assert not _missing(scraped, queries)


def test_prometheus_loaded_every_rendered_rule_and_none_fails(scraped: Scraped) -> None:
    groups = httpx.get(f"{scraped.prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules("record")) + len(rules("alert"))
    assert not [(r["name"], r.get("lastError")) for r in loaded if r["health"] == "err"]
