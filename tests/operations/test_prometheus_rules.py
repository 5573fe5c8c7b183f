"""The Prometheus rule files and Alertmanager config: promtool/amtool accept them, every alert
is unit-tested firing and not firing, links to its runbook section, and its threshold is the one
docs/slo.md gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.operations import (
    MONITORING,
    RULE_FILES,
    RULE_TESTS,
    RUNBOOK_URL,
    SLO,
    alert,
    debian_tool,
    load_yaml,
    rules,
    run_tool,
    runbook_anchors,
    thresholds,
)

ALERTS = [rule["alert"] for rule in rules("alert")]
SEVERITY_RECEIVER = {"critical": "pager", "warning": "ticket"}


def test_rule_files_pass_promtool_check() -> None:
    proc = run_tool(debian_tool("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(rules('record'))} rules found" in proc.stdout
    assert f"SUCCESS: {len(ALERTS)} rules found" in proc.stdout


def test_promtool_check_can_fail(tmp_path: Path) -> None:
    """The check above means something: a rule with bad PromQL is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: g\n    rules:\n      - record: a:b:c\n        expr: sum(\n"
    )
    proc = run_tool(debian_tool("promtool"), "check", "rules", str(broken))
    assert proc.returncode != 0 and "FAILED" in proc.stdout + proc.stderr


def test_prometheus_config_passes_promtool_check() -> None:
    """prometheus.yml with its rule files (resolved relative to it)."""
    proc = run_tool(debian_tool("promtool"), "check", "config", str(MONITORING / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 2 rule files found" in proc.stdout + proc.stderr


def test_alert_unit_tests_pass() -> None:
    assert len(RULE_TESTS) >= 2, RULE_TESTS
    proc = run_tool(debian_tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).count("SUCCESS") == len(RULE_TESTS)


@pytest.mark.parametrize("name", ALERTS)
def test_every_alert_is_unit_tested_firing_and_not_firing(name: str) -> None:
    cases = [
        case
        for path in RULE_TESTS
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == name
    ]
    assert any(case["exp_alerts"] for case in cases), f"{name}: no test where it fires"
    assert any(not case["exp_alerts"] for case in cases), f"{name}: no test where it does not"
    for case in cases:
        for expected in case["exp_alerts"]:
            assert set(expected.get("exp_annotations", {})) == {
                "summary",
                "description",
                "runbook_url",
            }, f"{name}: a firing test must check the rendered annotations"


def test_recording_rules_are_named_level_metric_operations() -> None:
    names = [rule["record"] for rule in rules("record")]
    assert names, "no recording rules"
    bad = [n for n in names if not re.fullmatch(r"[a-z_]+:bankrisk_[a-z0-9_]+:[a-z0-9_]+", n)]
    assert not bad, bad
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("name", ALERTS)
def test_every_alert_has_annotations_severity_and_a_runbook_section(name: str) -> None:
    rule = alert(name)
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert rule["labels"]["severity"] in SEVERITY_RECEIVER
    url = annotations["runbook_url"]
    assert url.startswith(RUNBOOK_URL), url
    assert url.removeprefix(RUNBOOK_URL) in runbook_anchors(), f"{url}: no such section"


def test_every_runbook_section_has_an_alert() -> None:
    assert runbook_anchors() == {name.lower() for name in ALERTS}


def stated_values(text: str) -> set[float]:
    """The bold figures of a docs/slo.md row as numbers: **1%** 0.01, **100 ms** 0.1, **1 s**
    1, **1,000** 1000 (durations in minutes are left out)."""
    values = set()
    for figure in re.findall(r"\*\*([^*]+)\*\*", text):
        match = re.fullmatch(r"([0-9.,]+)\s*(%|ms|s)?", figure.strip())
        if match:
            number = float(match[1].replace(",", ""))
            scale = {"%": 0.01, "ms": 0.001}.get(match[2] or "", 1.0)
            values.add(round(number * scale, 9))
    return values


@pytest.mark.parametrize("name", ALERTS)
def test_slo_document_gives_each_alert_and_its_threshold(name: str) -> None:
    """docs/slo.md's table row for the alert states the numbers the rule compares with."""
    row = next((line for line in SLO.read_text().splitlines() if f"`{name}`" in line), None)
    assert row is not None, f"{name} is not in docs/slo.md"
    stated = stated_values(row)
    for value in thresholds(alert(name)["expr"]):
        if value != 0:  # "> 0": any at all
            assert value in stated, f"{name}: threshold {value} not stated in {row!r}"


def test_alertmanager_config_passes_amtool() -> None:
    config = MONITORING / "alertmanager.yml"
    proc = run_tool(debian_tool("amtool"), "check-config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


@pytest.mark.parametrize("name", ALERTS)
def test_alertmanager_routes_each_alert_by_its_severity(name: str) -> None:
    severity = alert(name)["labels"]["severity"]
    proc = run_tool(
        debian_tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={MONITORING / 'alertmanager.yml'}",
        f"alertname={name}",
        f"severity={severity}",
        "job=bankrisk",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == [SEVERITY_RECEIVER[severity]], proc.stdout
