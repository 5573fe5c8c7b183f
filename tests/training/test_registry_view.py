"""The gate's fairness and input findings in a real MLflow registry (SQLite, small real
bundles): the version tags, the typed view `registry_view.registered_versions`, and
`bankrisk models`."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from bankrisk.cli import app
from bankrisk.features.engineering import FeatureSet
from bankrisk.training import tracking
from bankrisk.training.gate import DataSplit
from bankrisk.training.registry_view import (
    RegisteredVersion,
    VersionFairness,
    registered_versions,
)
from helpers.factories import make_bundle
from helpers.gate_stubs import GateRows, age_fairness
from helpers.registry import SmallRegistry

SPLIT = DataSplit("cd" * 32, 42, 0.2)


def _bundle(fairness: dict[str, Any], features: FeatureSet | None = None) -> Any:
    bundle = make_bundle(features)
    bundle.metadata["fairness"] = fairness
    return bundle


@pytest.fixture(scope="module")
def judged(small_registry: SmallRegistry, gate_split: GateRows) -> SmallRegistry:
    """v1 passes and becomes champion; v2 reads EDUCATION too and fails the four-fifths rule
    (held); v3 fails it and was registered without a verdict, as before the gate judged
    fairness."""
    rows, labels = gate_split.rows, gate_split.labels
    first = _bundle(age_fairness(0.72))
    v1 = small_registry.register(first, SPLIT)
    small_registry.judge(v1, first, SPLIT, rows, labels)
    second = _bundle(age_fairness(0.5), FeatureSet(use_education=True))
    v2 = small_registry.register(second, SPLIT)
    small_registry.judge(v2, second, SPLIT, rows, labels)
    small_registry.register(_bundle(age_fairness(0.5)), SPLIT)
    return small_registry


def test_the_version_tags_carry_the_findings(judged: SmallRegistry) -> None:
    first = judged.tags("1")
    assert first["gate.decision"] == "champion" and first["fairness.passed"] == "true"
    assert first["fairness.findings"] == "none" and first["fairness.policy"] == "warn"
    assert first["gate.inputs_changed"] == "false"
    second = judged.tags("2")
    assert second["gate.decision"] == "challenger" and second["gate.champion_version"] == "1"
    assert second["gate.held_by"] == "inputs" and second["gate.inputs_changed"] == "true"
    assert second["gate.inputs_change"] == "EDUCATION added"
    assert second["inputs"].split(",")[:2] == ["LIMIT_BAL", "EDUCATION"]
    assert second["fairness.passed"] == "false"
    assert second["fairness.findings"] == "AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)"
    assert "gate.auc_new" in second  # the comparison's tags are kept
    assert "fairness.passed" not in judged.tags("3")


def test_registered_versions_are_typed_with_every_verdict(judged: SmallRegistry) -> None:
    tracking.configure_mlflow(judged.settings)
    versions = registered_versions(judged.settings)
    assert [v.version for v in versions] == ["3", "2", "1"]
    assert all(isinstance(v, RegisteredVersion) for v in versions)
    old, held, champion = versions
    assert champion.aliases == ("champion",) and champion.gate_decision == "champion"
    assert champion.fairness.label() == "passed" and champion.inputs.label() == "same"
    assert held.aliases == ("challenger",) and held.held_by == ("inputs",)
    assert held.fairness.passed is False and held.fairness.policy == "warn"
    assert held.fairness.findings == "AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)"
    assert held.fairness.label() == "FAILED: AGE_BAND 0.62"
    assert held.inputs.label() == "CHANGED: EDUCATION added"
    assert held.inputs.fields is not None and "EDUCATION" in held.inputs.fields
    assert held.gate_reason is not None and held.gate_reason.startswith("inputs changed")
    assert held.split == "seed 42, test 0.2" and held.data_sha256 == SPLIT.sha256
    # A version without fairness tags: its verdict read from its bundle, never judged.
    assert old.gate_decision is None and old.fairness.passed is False
    assert old.fairness.policy is None and old.inputs.label() == "-"
    unread = registered_versions(judged.settings, read_bundles=False)[0]
    assert unread.fairness.passed is None and unread.fairness.label() == "-"


def test_models_shows_fairness_and_input_changes(judged: SmallRegistry) -> None:
    result = CliRunner().invoke(app, ["models"], env=judged.env)
    assert result.exit_code == 0, result.output
    rows = {
        line.strip("│ ").split()[0]: line
        for line in result.output.splitlines()
        if line.strip("│ ")[:1].isdigit()
    }
    assert "passed" in rows["1"] and "same" in rows["1"]
    assert "FAILED: AGE_BAND 0.62" in rows["2"] and "CHANGED: EDUCATION added" in rows["2"]
    assert "challenger (held: inputs)" in rows["2"] and "FAILED: AGE_BAND 0.62" in rows["3"]
    text = " ".join(result.output.split())
    assert "fails the four-fifths rule: AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)" in text
    assert (
        "v2 reads other inputs than the champion did (EDUCATION added): review it, then "
        "bankrisk promote 2" in text
    )


def test_the_fairness_label_names_every_failing_attribute() -> None:
    findings = "SEX 0.70 < 0.8 (male 56% vs female 80%); AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)"
    label = VersionFairness(False, findings, "warn").label()
    assert label == "FAILED: SEX 0.70, AGE_BAND 0.62"
    assert VersionFairness(None, "none", None).label() == "-"
