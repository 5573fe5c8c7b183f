"""Fairness report: hand-checked ratios, small groups and JSON output."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from bankrisk.evaluation.fairness import AGE_BANDS, age_band, fairness_report


def _frame(approve_male: float, approve_female: float, n: int = 100) -> dict[str, np.ndarray]:
    """n men and n women; the given share of each gets PD 0.1 (approved), the rest 0.9."""

    def pds(share: float) -> np.ndarray:
        k = round(share * n)
        return np.r_[np.full(k, 0.1), np.full(n - k, 0.9)]

    pd = np.r_[pds(approve_male), pds(approve_female)]
    y = (np.arange(2 * n) % 4 == 0).astype(int)
    sex = np.r_[np.ones(n, int), np.full(n, 2)]
    age = np.full(2 * n, 40)
    return {"y": y, "pd": pd, "sex": sex, "age": age}


def test_age_bands() -> None:
    ages = np.array([18, 24, 25, 34, 35, 44, 45, 54, 55, 79])
    assert age_band(ages).tolist() == [
        "<25",
        "<25",
        "25-34",
        "25-34",
        "35-44",
        "35-44",
        "45-54",
        "45-54",
        "55+",
        "55+",
    ]
    assert AGE_BANDS == ("<25", "25-34", "35-44", "45-54", "55+")


def test_ratio_hand_checked_fails_four_fifths() -> None:
    f = _frame(0.5, 0.8)
    report = fairness_report(f["y"], f["pd"], 0.5, sex=f["sex"], age=f["age"])
    sex = report["attributes"]["SEX"]
    assert sex["groups"]["male"]["approval_rate"] == pytest.approx(0.5)
    assert sex["groups"]["female"]["approval_rate"] == pytest.approx(0.8)
    assert sex["adverse_impact_ratio"] == pytest.approx(0.625)
    assert sex["four_fifths_rule_passed"] is False
    assert sex["reference_group"] == "female"
    assert sex["groups"]["male"]["n"] == 100
    assert sex["groups"]["male"]["mean_pd"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.9)
    assert sex["groups"]["male"]["default_rate"] == pytest.approx(0.25)


def test_ratio_passes_four_fifths() -> None:
    f = _frame(0.85, 0.9)
    sex = fairness_report(f["y"], f["pd"], 0.5, sex=f["sex"], age=f["age"])["attributes"]["SEX"]
    assert sex["adverse_impact_ratio"] == pytest.approx(0.85 / 0.9)
    assert sex["four_fifths_rule_passed"] is True
    assert sex["reference_group"] == "female"


def test_small_group_excluded_from_ratio() -> None:
    f = _frame(0.8, 0.8)
    # 10 people under 25, none approved: reported but left out of the ratio.
    age = f["age"].copy()
    age[:10] = 22
    report = fairness_report(f["y"], f["pd"], 0.5, sex=f["sex"], age=age)
    bands = report["attributes"]["AGE_BAND"]
    assert bands["groups"]["<25"]["n"] == 10
    assert bands["groups"]["<25"]["approval_rate"] == pytest.approx(1.0)
    assert bands["groups"]["<25"]["included_in_ratio"] is False
    assert bands["excluded_groups"] == ["<25"]
    assert any("fewer than 30" in note for note in bands["notes"])
    # Only one eligible group left: ratio undefined, not a pass.
    assert bands["adverse_impact_ratio"] is None
    assert bands["four_fifths_rule_passed"] is None

    # A small, fully declined group does not drag the ratio down.
    pd = f["pd"].copy()
    pd[:10] = 0.95
    age2 = np.r_[np.full(10, 22), np.full(95, 30), np.full(95, 50)]
    report = fairness_report(f["y"], pd, 0.5, sex=f["sex"], age=age2)
    bands = report["attributes"]["AGE_BAND"]
    assert bands["groups"]["<25"]["approval_rate"] == 0.0
    assert bands["adverse_impact_ratio"] is not None and bands["adverse_impact_ratio"] > 0.8


def test_marriage_labels_and_json() -> None:
    rng = np.random.default_rng(3)
    n = 400
    pd = rng.uniform(0, 1, n)
    y = (rng.uniform(0, 1, n) < pd).astype(np.int64)
    marriage = rng.integers(0, 4, n)
    report = fairness_report(
        y,
        pd,
        0.4,
        sex=rng.integers(1, 3, n),
        age=rng.integers(21, 70, n),
        marriage=marriage,
    )
    assert set(report["attributes"]) == {"SEX", "AGE_BAND", "MARRIAGE"}
    assert set(report["attributes"]["MARRIAGE"]["groups"]) == {
        "married",
        "single",
        "others",
        "unknown",
    }
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    group = report["attributes"]["SEX"]["groups"]["male"]
    assert type(group["n"]) is int and type(group["roc_auc"]) is float


def test_single_class_group_auc_is_none() -> None:
    y = np.r_[np.zeros(40, int), np.array([0, 1] * 20)]
    pd = np.linspace(0.05, 0.95, 80)
    sex = np.r_[np.ones(40, int), np.full(40, 2)]
    report = fairness_report(y, pd, 0.5, sex=sex, age=np.full(80, 30))
    groups = report["attributes"]["SEX"]["groups"]
    assert groups["male"]["roc_auc"] is None
    assert isinstance(groups["female"]["roc_auc"], float)
    assert not math.isnan(groups["female"]["roc_auc"])
    json.dumps(report, allow_nan=False)


def test_bad_inputs() -> None:
    y, pd = np.array([0, 1, 0]), np.array([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="SEX has 2 rows"):
        fairness_report(y, pd, 0.5, sex=np.array([1, 2]), age=np.array([30, 40, 50]))
    with pytest.raises(ValueError, match="age contains NaN"):
        fairness_report(y, pd, 0.5, sex=np.array([1, 2, 1]), age=np.array([30, np.nan, 50]))
    with pytest.raises(ValueError, match="same length"):
        fairness_report(y, pd[:2], 0.5, sex=np.array([1, 2, 1]), age=np.array([30, 40, 50]))


@pytest.mark.parametrize("size", [0, -3, True, 2.5, "30"])
def test_min_group_size_must_be_a_positive_integer(size: object) -> None:
    f = _frame(0.8, 0.8)
    rows = {"sex": f["sex"], "age": f["age"]}
    message = re.escape(f"min_group_size must be a positive integer, got {size!r}")
    with pytest.raises(ValueError, match=message):
        fairness_report(f["y"], f["pd"], 0.5, **rows, min_group_size=size)  # type: ignore[arg-type]
    report = fairness_report(f["y"], f["pd"], 0.5, **rows, min_group_size=101)
    assert report["attributes"]["SEX"]["excluded_groups"] == ["male", "female"]
