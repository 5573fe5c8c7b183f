"""Helpers of the operations tests (imported as `operations.support`): the files under
deploy/monitoring, and the Debian tools that check them (prometheus, promtool, amtool)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.system_deps import install_system_deps

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "rules"
RULE_FILES = [RULES / "recording.yml", RULES / "alerts.yml"]
RULE_TESTS = sorted((RULES / "tests").glob("*_test.yml"))
DASHBOARD = MONITORING / "grafana" / "dashboards" / "bankrisk.json"
RUNBOOK = REPO / "docs" / "runbook.md"
SLO = REPO / "docs" / "slo.md"
RUNBOOK_URL = "https://github.com/bankrisk/bankrisk/blob/main/docs/runbook.md#"
SCORING_ROUTES = ("/v1/predict", "/predict", "/v1/predict/batch")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def debian_tool(name: str) -> str:
    """A binary of Debian's prometheus / prometheus-alertmanager packages; installed by
    `make system-deps` when missing and root, else the test is skipped saying why."""
    found = shutil.which(name)
    if found is None:
        install_system_deps()
        found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} is not installed (`make -f deploy/delivery.mk system-deps` installs "
            "Debian's prometheus and prometheus-alertmanager; it needs root)"
        )
    return found


def run_tool(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule with `kind` ("record" or "alert") in the rule files."""
    return [
        rule
        for path in RULE_FILES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if kind in rule
    ]


def alert(name: str) -> dict[str, Any]:
    return next(rule for rule in rules("alert") if rule["alert"] == name)


def thresholds(expr: str) -> list[float]:
    """The constants an expression compares against (`> 0.1`, `>= 1000`), in order."""
    return [float(value) for value in re.findall(r"[<>]=?\s*([0-9.]+)(?![0-9.]*[a-z])", expr)]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of every panel of the dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in dashboard()["panels"]
        for target in panel.get("targets", [])
    ]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {
        github_anchor(line.lstrip("#"))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
