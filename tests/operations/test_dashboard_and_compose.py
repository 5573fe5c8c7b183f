"""The Grafana dashboard, its provisioning, and the docker compose file (validated here, run
where Docker is: no Grafana binary or image is needed). The dashboard's queries are run against
a real Prometheus in test_live_prometheus.py; here they are parsed by promtool. That the JSON is
the generated one and passes Grafana's schema: test_dashboard_code.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from helpers.operations import (
    DASHBOARD,
    MONITORING,
    REPO,
    dashboard,
    debian_tool,
    load_yaml,
    panel_queries,
    run_tool,
)
from helpers.processes import BANKRISK

PROVISIONING = MONITORING / "grafana" / "provisioning"
COMPOSE = MONITORING / "docker-compose.yml"
# What the issue asks the dashboard to show, as the metric (or recorded series) each needs.
REQUIRED = {
    "request rate": "job_route:bankrisk_http_requests:rate5m",
    "latency p50": "job_route:bankrisk_http_request_duration_seconds:p50_rate5m",
    "latency p99": "job_route:bankrisk_http_request_duration_seconds:p99_rate5m",
    "error ratio": "job:bankrisk_scoring_requests_5xx:ratio_rate5m",
    "predictions by decision": "job_decision:bankrisk_predictions:rate5m",
    "predictions by grade": "job_grade:bankrisk_predictions:rate5m",
    "PD histogram": "bankrisk_probability_of_default_bucket",
    "PSI per feature": "bankrisk_feature_psi",
    "log drops": "bankrisk_prediction_log_dropped_total",
    "model version in use": "bankrisk_model_info",
}


def test_dashboard_shows_everything_the_issue_asks_for() -> None:
    exprs = "\n".join(expr for _, expr in panel_queries())
    missing = [what for what, metric in REQUIRED.items() if not re.search(rf"\b{metric}\b", exprs)]
    assert not missing


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    """Each panel query as a recording rule: promtool parses every one (and names the bad)."""
    queries = panel_queries()
    rules = [{"record": f"panel:query:{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    proc = run_tool(debian_tool("promtool"), "check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_dashboard_queries_use_no_grafana_variables() -> None:
    """They run as written in Prometheus (the live test sends them unchanged)."""
    assert not [expr for _, expr in panel_queries() if "$" in expr]


def test_dashboard_panels_are_well_formed() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(set(ids)) == len(ids)
    datasource = load_yaml(PROVISIONING / "datasources" / "prometheus.yml")["datasources"][0]
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        covered = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for item in [panel, *panel["targets"]]:
            assert item["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_datasource_provisioning_points_at_prometheus() -> None:
    config = load_yaml(PROVISIONING / "datasources" / "prometheus.yml")
    assert config["apiVersion"] == 1
    (datasource,) = config["datasources"]
    assert datasource["type"] == "prometheus" and datasource["access"] == "proxy"
    # the port Prometheus listens on in docker-compose.yml and `make monitoring-up` (up.sh)
    assert datasource["url"] == "http://127.0.0.1:9090"
    assert "0.0.0.0:9090" in "\n".join(compose()["services"]["prometheus"]["command"])
    assert 'PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"' in (MONITORING / "up.sh").read_text()


def test_dashboard_provider_finds_the_dashboard_where_it_is_mounted() -> None:
    config = load_yaml(PROVISIONING / "dashboards" / "bankrisk.yml")
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "$DASHBOARDS_DIR"
    grafana = compose()["services"]["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    target = grafana["environment"]["DASHBOARDS_DIR"]
    assert (COMPOSE.parent / _source_of(mounts, target)).resolve() == DASHBOARD.parent
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert 'DASHBOARDS_DIR="$HERE/grafana/dashboards"' in (MONITORING / "up.sh").read_text()


def _source_of(mounts: dict[str, str], target: str) -> str:
    return next(source for source, mounted in mounts.items() if mounted == target)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(COMPOSE)
    return loaded


def test_compose_file_matches_the_compose_specification() -> None:
    proc = subprocess.run(
        [
            str(BANKRISK.with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        proc = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr


def test_compose_runs_api_prometheus_grafana_with_the_repository_files() -> None:
    services = compose()["services"]
    assert {"api", "prometheus", "grafana", "alertmanager"} <= set(services)
    assert services["api"]["build"]["context"] == "../.."
    assert (COMPOSE.parent / "../../Dockerfile").resolve() == REPO / "Dockerfile"
    for name, service in services.items():
        image = service.get("image", "")
        assert name == "api" or re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: pin {image}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
    # One network namespace: the same prometheus.yml target and datasource as monitoring-up.
    for name in ("prometheus", "grafana", "alertmanager"):
        assert services[name]["network_mode"] == "service:api"
    ports = {p.rsplit(":", 1)[1] for p in services["api"]["ports"]}
    assert {"8000", "9090", "3000", "9093"} <= ports
    assert all(p.startswith("127.0.0.1:") for p in services["api"]["ports"])
    # The image serves on $PORT: the one prometheus.yml scrapes.
    scraped = load_yaml(MONITORING / "prometheus.yml")["scrape_configs"][0]
    assert scraped["static_configs"][0]["targets"] == [
        f"127.0.0.1:{services['api']['environment']['PORT']}"
    ]
    # Prometheus starts once the API is healthy (started first, it shows nothing until a scrape).
    assert services["prometheus"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert "HEALTHCHECK" in (REPO / "Dockerfile").read_text()
