"""The gate's checks beside the comparison: the four-fifths verdict read from a real fairness
report (its sentences and registry line), the `gate_fairness` policy (warn promotes and records,
refuse holds back), and an input change (held for a person's review; `bankrisk promote` is that
review)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from bankrisk.cli.train import print_judgement
from bankrisk.config import Settings
from bankrisk.features.engineering import FeatureSet
from bankrisk.schema import FIELD_NAMES
from bankrisk.training.fairness_verdict import AttributeVerdict, FairnessVerdict
from bankrisk.training.gate import (
    CHALLENGER,
    CHAMPION,
    Champion,
    DataSplit,
    GateError,
    promotion_gate,
)
from bankrisk.training.model_inputs import InputChange, model_inputs
from helpers.gate_stubs import GateRows, age_fairness

DATA = DataSplit("ab" * 32, 42, 0.2)
FAILING = age_fairness(0.5)  # AGE_BAND ratio 0.5 / 0.8 = 0.625
PASSING = age_fairness(0.72)  # 0.72 / 0.8 = 0.9


# ---- the verdict, from a real report ---------------------------------------------------------


def test_a_failing_report_reads_with_the_rates_behind_the_ratio() -> None:
    verdict = FairnessVerdict.from_report(FAILING)
    assert verdict.passed is False
    assert [a.attribute for a in verdict.failures] == ["AGE_BAND"]
    age = next(a for a in verdict.attributes if a.attribute == "AGE_BAND")
    assert age.sentence() == (
        "AGE_BAND: adverse impact ratio 0.62 (approval 50% for <25 against 80% for 35-44): "
        "FAILS the four-fifths rule"
    )
    assert verdict.findings() == "AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)"
    sex = next(a for a in verdict.attributes if a.attribute == "SEX")
    assert sex.sentence().endswith(": passes the four-fifths rule")
    assert verdict.tags("refuse") == {
        "fairness.passed": "false",
        "fairness.findings": "AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)",
        "fairness.policy": "refuse",
    }


def test_a_passing_report_has_no_findings() -> None:
    verdict = FairnessVerdict.from_report(PASSING)
    assert verdict.passed is True and verdict.findings() == "none"
    assert verdict.tags("warn")["fairness.passed"] == "true"
    assert len(verdict.sentences()) == 3  # SEX, AGE_BAND, MARRIAGE


def test_no_report_is_unknown_not_passed() -> None:
    for report in (None, {}, {"attributes": "?"}):
        verdict = FairnessVerdict.from_report(report)
        assert verdict.passed is None and not verdict.known
        assert verdict.tags("warn")["fairness.passed"] == "unknown"
        assert verdict.findings() == "no fairness report"


@pytest.mark.parametrize(
    ("ratio", "text"), [(0.7996, "0.7996 < 0.8"), (0.8004, "0.80 >= 0.8"), (0.7314, "0.73 < 0.8")]
)
def test_rounding_never_puts_a_ratio_on_the_other_side(ratio: float, text: str) -> None:
    verdict = AttributeVerdict("AGE_BAND", ratio, ratio >= 0.8, "<25", 0.5, "35-44", 0.6)
    assert verdict.finding().startswith(f"AGE_BAND {text} ")


def test_an_undefined_ratio_says_so() -> None:
    report = age_fairness(0.5)
    report["attributes"]["AGE_BAND"].update(adverse_impact_ratio=None, four_fifths_rule_passed=None)
    verdict = FairnessVerdict.from_report(report)
    assert verdict.passed is True  # nothing fails
    assert "AGE_BAND: adverse impact ratio undefined" in verdict.sentences()[1]


# ---- the inputs ------------------------------------------------------------------------------


def test_model_inputs_follow_the_feature_set() -> None:
    default = model_inputs(FeatureSet())
    assert len(default) == 19 and not {"SEX", "MARRIAGE", "AGE", "EDUCATION"} & set(default)
    both = model_inputs(FeatureSet(use_age=True, use_education=True))
    assert set(both) - set(default) == {"EDUCATION", "AGE"}
    assert list(both) == [n for n in FIELD_NAMES if n in both]  # schema order
    change = InputChange(both, default)
    assert change.changed and change.description() == "EDUCATION, AGE added"
    back = InputChange(default, both)
    assert back.description() == "EDUCATION, AGE removed"
    assert back.tags()["gate.inputs_changed"] == "true"
    assert InputChange(default, default).tags() == {
        "inputs": ",".join(default),
        "gate.inputs_changed": "false",
    }
    assert InputChange(default, None).tags()["gate.inputs_changed"] == "unknown"
    assert InputChange(default, None, first=True).tags()["gate.inputs_changed"] == "false"


# ---- the gate --------------------------------------------------------------------------------


def _fetch(champion: Champion | None) -> Any:
    return lambda settings, dest: champion


def _gate(gate_split: GateRows, tmp_path: Path, new: Any, champion: Any, **options: Any) -> Any:
    settings = Settings(gate_fairness=options.pop("policy", "warn"))
    fetch = options.pop("fetch", None) or _fetch(Champion("3", champion, tmp_path, DATA))
    return promotion_gate(
        settings, new, DATA, gate_split.rows, gate_split.labels, tmp_path, fetch, **options
    )


def test_warn_promotes_a_failing_model_and_records_the_finding(
    gate_split: GateRows, tmp_path: Path
) -> None:
    new = gate_split.bundle(fairness=FAILING)
    result = _gate(gate_split, tmp_path, new, gate_split.bundle(strong=False))
    assert result.alias == CHAMPION and result.held_by == ()
    assert result.reason.startswith("better on 3,000 rows")
    tags = result.tags()
    assert tags["fairness.passed"] == "false" and tags["fairness.policy"] == "warn"
    assert tags["fairness.findings"] == "AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%)"
    assert tags["gate.decision"] == "champion" and tags["gate.held_by"] == "none"
    assert float(tags["gate.auc_new"]) > float(tags["gate.auc_champion"])  # gate tags kept


def test_refuse_holds_back_a_failing_model_however_good(
    gate_split: GateRows, tmp_path: Path
) -> None:
    weak = gate_split.bundle(strong=False)
    new = gate_split.bundle(fairness=FAILING)
    result = _gate(gate_split, tmp_path, new, weak, policy="refuse")
    assert result.alias == CHALLENGER and result.held_by == ("fairness",)
    assert result.reason.startswith(
        "fails the four-fifths rule: AGE_BAND 0.62 < 0.8 (<25 50% vs 35-44 80%) "
        "(gate_fairness=refuse); better on 3,000 rows"
    )
    tags = result.tags()
    assert tags["gate.decision"] == "challenger" and tags["gate.held_by"] == "fairness"
    assert tags["fairness.policy"] == "refuse"
    # A passing model is promoted under the same policy...
    passing = _gate(
        gate_split, tmp_path, gate_split.bundle(fairness=PASSING), weak, policy="refuse"
    )
    assert passing.alias == CHAMPION and passing.tags()["fairness.passed"] == "true"
    # ...one without a report is not: nothing shows it passes.
    unknown = _gate(gate_split, tmp_path, gate_split.bundle(), weak, policy="refuse")
    assert unknown.alias == CHALLENGER
    assert unknown.reason.startswith("carries no fairness report (gate_fairness=refuse)")
    # --force overrides the policy; the finding is still recorded.
    forced = _gate(gate_split, tmp_path, new, weak, policy="refuse", force=True)
    assert forced.alias == CHAMPION and forced.forced
    assert forced.reason.startswith("forced; gate: fails the four-fifths rule")
    assert forced.tags()["fairness.passed"] == "false"


def test_refuse_holds_back_even_the_first_model(gate_split: GateRows, tmp_path: Path) -> None:
    new = gate_split.bundle(fairness=FAILING)
    result = _gate(gate_split, tmp_path, new, None, policy="refuse", fetch=_fetch(None))
    assert result.alias == CHALLENGER
    assert result.reason.endswith("(gate_fairness=refuse); no champion yet")
    assert result.tags()["gate.inputs_changed"] == "false"  # nothing to change from


def test_an_input_change_is_never_promoted_automatically(
    gate_split: GateRows, tmp_path: Path
) -> None:
    weak = gate_split.bundle(strong=False)
    new = gate_split.bundle(features=FeatureSet(use_education=True), fairness=PASSING)
    result = _gate(gate_split, tmp_path, new, weak)
    assert result.alias == CHALLENGER and result.held_by == ("inputs",)
    assert result.comparison is not None and result.comparison.auc_diff > 0  # better, held
    assert result.reason.startswith(
        "inputs changed (EDUCATION added against champion v3): not promoted automatically, "
        "a person reviews it and runs `bankrisk promote`; better on 3,000 rows"
    )
    tags = result.tags()
    assert tags["gate.inputs_changed"] == "true" and tags["gate.inputs_change"] == "EDUCATION added"
    assert "EDUCATION" in tags["inputs"].split(",")
    # `bankrisk promote` is the review: the change no longer holds it, and the reason says so.
    reviewed = _gate(gate_split, tmp_path, new, weak, inputs_reviewed=True)
    assert reviewed.alias == CHAMPION and reviewed.held_by == ()
    assert reviewed.reason.startswith("inputs changed (EDUCATION added), reviewed by hand; better")
    assert reviewed.tags()["gate.inputs_changed"] == "true"
    # The same inputs: no hold.
    same = _gate(gate_split, tmp_path, gate_split.bundle(fairness=PASSING), weak)
    assert same.alias == CHAMPION and same.tags()["gate.inputs_changed"] == "false"


def test_both_checks_hold_and_both_are_recorded(gate_split: GateRows, tmp_path: Path) -> None:
    new = gate_split.bundle(features=FeatureSet(use_age=True), fairness=FAILING)
    result = _gate(gate_split, tmp_path, new, gate_split.bundle(strong=False), policy="refuse")
    assert result.alias == CHALLENGER and result.held_by == ("inputs", "fairness")
    assert result.tags()["gate.held_by"] == "inputs,fairness"
    assert result.tags()["gate.inputs_change"] == "AGE added"


def test_inputs_are_unknown_when_the_champion_cannot_be_loaded(
    gate_split: GateRows, tmp_path: Path
) -> None:
    def broken(settings: Settings, dest: Path) -> Champion:
        raise GateError("champion v2's bundle cannot be loaded")

    new = gate_split.bundle(fairness=FAILING)
    result = _gate(gate_split, tmp_path, new, None, fetch=broken)
    assert result.alias == CHALLENGER and result.held_by == ()
    assert result.reason == "no comparison: champion v2's bundle cannot be loaded"
    tags = result.tags()
    assert tags["gate.inputs_changed"] == "unknown" and tags["fairness.passed"] == "false"
    forced = _gate(gate_split, tmp_path, new, None, fetch=broken, force=True)
    assert forced.reason == "forced; no comparison: champion v2's bundle cannot be loaded"


# ---- what `bankrisk train` and `promote` print of it ---------------------------------------


def _printed(result: Any) -> str:
    out = Console(record=True, width=300)
    print_judgement(out, result, "4")
    return out.export_text()


def test_the_summary_says_what_each_check_did(gate_split: GateRows, tmp_path: Path) -> None:
    weak = gate_split.bundle(strong=False)
    failing = gate_split.bundle(features=FeatureSet(use_education=True), fairness=FAILING)
    held = _printed(_gate(gate_split, tmp_path, failing, weak, policy="refuse"))
    assert "Fairness of v4 (four-fifths rule on the test split, gate_fairness=refuse):" in held
    assert (
        "  AGE_BAND: adverse impact ratio 0.62 (approval 50% for <25 against 80% for 35-44): "
        "FAILS the four-fifths rule" in held
    )
    assert "Not promoted: gate_fairness is refuse (recorded in the registry)." in held
    assert (
        "Inputs changed: EDUCATION added against champion v3 (v4 reads LIMIT_BAL, EDUCATION" in held
    )
    assert "then promote it by hand: bankrisk promote 4" in held
    forced = _printed(_gate(gate_split, tmp_path, failing, weak, policy="refuse", force=True))
    assert "Promoted by --force although gate_fairness is refuse." in forced
    assert "Promoted by --force without a review of the new inputs." in forced
    assert "bankrisk promote 4" not in forced
    warned = _printed(_gate(gate_split, tmp_path, gate_split.bundle(fairness=FAILING), weak))
    assert "Promoted although it fails: gate_fairness is warn" in warned
    assert "Inputs changed" not in warned
    unknown = _printed(_gate(gate_split, tmp_path, gate_split.bundle(), weak))
    assert "Fairness: no fairness report in this model's metadata." in unknown
