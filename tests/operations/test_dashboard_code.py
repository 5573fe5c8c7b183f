"""The dashboard as code: deploy/monitoring/grafana/dashboard.py generates the committed JSON
(with the grafana-foundation-sdk build for the Grafana that docker-compose.yml runs), and both
pass Grafana's vendored schemas, which do refuse a broken dashboard. Its queries are run against
a real Prometheus in test_live_prometheus.py."""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from helpers.operations import DASHBOARD, MONITORING, dashboard, load_yaml

GRAFANA = MONITORING / "grafana"
GENERATOR = GRAFANA / "dashboard.py"
SCHEMA = GRAFANA / "schema"
REGENERATE = ".venv/bin/python deploy/monitoring/grafana/dashboard.py"


@cache
def _schema_module() -> ModuleType:
    """deploy/monitoring/grafana/dashboard_schema.py, loaded without writing its bytecode into
    the repository."""
    path = GRAFANA / "dashboard_schema.py"
    module = ModuleType("dashboard_schema")
    module.__file__ = str(path)
    exec(compile(path.read_text(), path, "exec"), module.__dict__)
    return module


def schema_errors(board: dict[str, Any]) -> list[str]:
    errors: list[str] = _schema_module().schema_errors(board)
    return errors


def generate(*args: str, script: Path = GENERATOR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-B", str(script), *args],  # -B: no bytecode in the repository
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_committed_dashboard_is_the_generated_one() -> None:
    proc = generate("--check")
    assert proc.returncode == 0, proc.stderr


def test_generating_writes_exactly_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "bankrisk.json"
    proc = generate("--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == DASHBOARD.read_bytes()


def test_check_fails_on_a_stale_file_and_says_how_to_regenerate(tmp_path: Path) -> None:
    stale = tmp_path / "bankrisk.json"
    stale.write_text(DASHBOARD.read_text().replace("[5m]", "[10m]", 1))
    proc = generate("--check", "--output", str(stale))
    assert proc.returncode == 1
    assert f"differs from a fresh generation: run {REGENERATE}" in proc.stderr
    assert re.search(r"^-.*\[10m\]", proc.stderr, re.MULTILINE), proc.stderr  # the diff
    missing = generate("--check", "--output", str(tmp_path / "none.json"))
    assert missing.returncode == 1 and REGENERATE in missing.stderr


def test_the_generator_refuses_to_write_what_the_schema_rejects(tmp_path: Path) -> None:
    code = tmp_path / "grafana"
    shutil.copytree(GRAFANA, code, ignore=shutil.ignore_patterns("__pycache__", ".*", "dashboards"))
    panels = code / "dashboard_panels.py"
    # A typo neither Python nor the SDK refuses at run time: the 5xx line at "1%", not 0.01.
    assert panels.read_text().count('(0.01, "red")') == 1
    panels.write_text(panels.read_text().replace('(0.01, "red")', '("1%", "red")'))
    out = tmp_path / "bankrisk.json"
    proc = generate("--output", str(out), script=code / "dashboard.py")
    assert proc.returncode == 1 and not out.exists()
    assert "the generated dashboard breaks Grafana's schema" in proc.stderr
    assert "steps/1/value: '1%' is not of type 'number', 'null'" in proc.stderr, proc.stderr


def test_the_dashboard_keeps_its_uid_title_and_datasource() -> None:
    """Provisioned Grafanas key the dashboard by uid: a new one would duplicate it."""
    board = dashboard()
    assert (board["uid"], board["title"]) == ("bankrisk-operations", "bankrisk: operations")
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
    uid = provisioned["datasources"][0]["uid"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == {uid}
    assert board["schemaVersion"] == 39  # Grafana 11.1's: no migration on load


def test_the_sdk_is_the_build_for_the_grafana_that_runs() -> None:
    version = importlib.metadata.version("grafana-foundation-sdk")
    image = load_yaml(MONITORING / "docker-compose.yml")["services"]["grafana"]["image"]
    grafana = image.rsplit(":", 1)[1]
    assert version.split("!")[1].split(".")[:2] == grafana.split(".")[:2], (version, image)
    assert "branch `v11.1.x+cog-v0.0.x`" in (SCHEMA / "README.md").read_text()


def test_the_vendored_schemas_are_the_published_files() -> None:
    """Unedited (README.md lists their sha256; the one correction is made in code)."""
    readme = (SCHEMA / "README.md").read_text()
    listed = dict(re.findall(r"\| `([a-z]+\.jsonschema\.json)` \|.*\| `([0-9a-f]{64})` \|", readme))
    assert set(listed) == {path.name for path in SCHEMA.glob("*.jsonschema.json")}
    for name, digest in listed.items():
        assert hashlib.sha256((SCHEMA / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (SCHEMA / "LICENSE").read_text()


def test_the_committed_dashboard_passes_grafanas_schemas() -> None:
    assert schema_errors(dashboard()) == []


def _panel(board: dict[str, Any], title: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        p for p in board["panels"] if p["title"] == title and p["type"] != "row"
    )
    return found


def _wrong_width(board: dict[str, Any]) -> None:
    _panel(board, "Request rate by route")["gridPos"]["w"] = "8"


def _wrong_query_flag(board: dict[str, Any]) -> None:
    _panel(board, "Model in use")["targets"][0]["instant"] = "yes"


def _wrong_legend(board: dict[str, Any]) -> None:
    _panel(board, "Predictions by decision")["options"]["legend"]["showLegend"] = "yes"


def _wrong_threshold(board: dict[str, Any]) -> None:
    latency = _panel(board, "Latency p50 and p99 (scoring routes)")
    latency["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] = "0.1"


def _unknown_bar_mode(board: dict[str, Any]) -> None:
    _panel(board, "PD distribution (last hour)")["options"]["displayMode"] = "bars"


def _row_without_panels(board: dict[str, Any]) -> None:
    del board["panels"][0]["panels"]


def _query_without_expr(board: dict[str, Any]) -> None:
    del _panel(board, "Prediction log")["targets"][2]["expr"]


def _old_graph_panel(board: dict[str, Any]) -> None:
    _panel(board, "Prediction log")["type"] = "graph"


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(breakage, expected, id=breakage.__name__[1:])
        for breakage, expected in [
            (_wrong_width, r"dashboard: panels/1/gridPos/w: '8' is not of type 'integer'"),
            (_wrong_query_flag, r"\(Model in use\) target A: instant: 'yes' is not of type 'bool"),
            (_wrong_legend, r"options: legend/showLegend: 'yes' is not of type 'boolean'"),
            (_wrong_threshold, r"panels/2/.*/value: '0\.1' is not of type 'number', 'null'"),
            (_unknown_bar_mode, r"options: displayMode: 'bars' is not one of"),
            (_row_without_panels, r"dashboard: panels/0: 'panels' is a required property"),
            (_query_without_expr, r"\(Prediction log\) target C: \(top\): 'expr' is a required"),
            (_old_graph_panel, r"\(Prediction log\): no schema vendored for panel type 'graph'"),
        ]
    ],
)
def test_the_schemas_refuse_a_broken_dashboard(
    breakage: Callable[[dict[str, Any]], None], expected: str
) -> None:
    board = copy.deepcopy(dashboard())
    breakage(board)
    errors = schema_errors(board)
    assert any(re.search(expected, error) for error in errors), errors
