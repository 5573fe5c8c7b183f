"""End to end on the shared data: `bankrisk train` states the fairness verdict with the approval
rates behind each ratio; under BANKRISK_GATE_FAIRNESS=refuse a better model that fails the
four-fifths rule is not promoted; a model with EDUCATION as an input is held for review and
promoted by hand with `bankrisk promote`; `bankrisk models` shows both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers.registry import GatedTrainings

pytestmark = pytest.mark.slow

SENTENCE = re.compile(
    r"AGE_BAND: adverse impact ratio (0\.\d\d) \(approval (\d+)% for (\S+) against (\d+)% for "
    r"(\S+)\): FAILS the four-fifths rule"
)


def _served_version(trainings: GatedTrainings) -> str:
    directory = trainings.registry.settings.model_dir
    return str(json.loads((directory / "metadata.json").read_text())["version"])


def test_the_training_summary_states_the_verdict_with_the_rates(
    gated_trainings: GatedTrainings,
) -> None:
    first = gated_trainings.runs[0]
    assert "with alias champion (no champion yet)" in first.text
    assert "Fairness of v1 (four-fifths rule on the test split, gate_fairness=warn):" in first.text
    for attribute in ("SEX", "AGE_BAND", "MARRIAGE"):
        assert f"{attribute}: adverse impact ratio " in first.text
    # The scorecard approves the under-25s much less often than the best-approved band.
    match = SENTENCE.search(first.text)
    assert match is not None, first.output
    ratio, low, high = float(match[1]), int(match[2]), int(match[4])
    assert ratio < 0.8 and low < high and abs(low / high - ratio) < 0.02
    assert "Promoted although it fails: gate_fairness is warn" in first.text
    tags = gated_trainings.registry.tags("1")
    assert tags["fairness.passed"] == "false" and tags["fairness.policy"] == "warn"
    assert tags["fairness.findings"].startswith(f"AGE_BAND {match[1]} < 0.8 ({match[3]} {low}% vs")


def test_refuse_keeps_the_champion_against_a_better_failing_model(
    gated_trainings: GatedTrainings,
) -> None:
    refused = gated_trainings.runs[1]
    assert "with alias challenger (fails the four-fifths rule: AGE_BAND" in refused.text
    assert "(gate_fairness=refuse); better on" in refused.text  # better, and still refused
    assert "Not promoted: gate_fairness is refuse (recorded in the registry)." in refused.text
    tags = gated_trainings.registry.tags("2")
    assert tags["gate.decision"] == "challenger" and tags["gate.held_by"] == "fairness"
    assert tags["fairness.passed"] == "false" and tags["fairness.policy"] == "refuse"
    assert float(tags["gate.auc_new"]) > float(tags["gate.auc_champion"])
    assert float(tags["gate.delong_p"]) < 0.05


def test_an_input_change_is_held_for_review_then_promoted_by_hand(
    gated_trainings: GatedTrainings, shared_csv: Path
) -> None:
    held = gated_trainings.runs[2]
    assert (
        "with alias challenger (inputs changed (EDUCATION added against champion v1)" in held.text
    )
    assert "Inputs changed: EDUCATION added against champion v1" in held.text
    assert "then promote it by hand: bankrisk promote 3" in held.text
    tags = gated_trainings.registry.tags("3")
    assert tags["gate.inputs_changed"] == "true" and tags["gate.held_by"] == "inputs"
    assert "EDUCATION" in tags["inputs"].split(",")
    assert _served_version(gated_trainings) == "1"

    listing = gated_trainings.cli("models")
    assert listing.exit_code == 0, listing.output
    rows = {
        line.strip("│ ").split()[0]: line
        for line in listing.output.splitlines()
        if line.strip("│ ")[:1].isdigit()
    }
    assert "champion" in rows["1"] and "FAILED: AGE_BAND" in rows["1"]
    assert "held: fairness" in rows["2"]
    assert "held: inputs" in rows["3"] and "CHANGED: EDUCATION added" in rows["3"]
    assert "v1 (champion) fails the four-fifths rule: AGE_BAND" in listing.text

    promoted = gated_trainings.cli("promote", "3", "--data", str(shared_csv))
    assert promoted.exit_code == 0, promoted.output
    assert "v3 is now the champion; v1 is now `previous` (inputs changed (EDUCATION added), " in (
        promoted.text
    )
    assert "reviewed by hand; better on" in promoted.text
    assert _served_version(gated_trainings) == "3"
    assert gated_trainings.registry.tags("3")["gate.held_by"] == "none"
