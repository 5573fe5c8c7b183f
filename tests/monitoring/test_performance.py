"""The PD back-test and performance computations on hand-made logged rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats

from bankrisk.monitoring.performance import (
    PerformanceInputError,
    compute_performance,
    grade_backtest,
)


def logged(
    i: int,
    grade: str,
    pd: float,
    *,
    role: str = "champion",
    version: str = "1",
    month: int = 1,
    customer: str | None = None,
    decision: str = "approve",
    sex: int = 1,
    age: int = 30,
) -> dict[str, Any]:
    return {
        "id": i,
        "time": datetime(2026, month, 1, tzinfo=UTC) + timedelta(minutes=i),
        "model_version": version,
        "model_role": role,
        "customer_id": customer or str(i),
        "pd": pd,
        "grade": grade,
        "decision": decision,
        "SEX": sex,
        "AGE": age,
        "MARRIAGE": 1,
    }


def test_jeffreys_binomial_and_hosmer_lemeshow_by_grade() -> None:
    # Grade A: PD 2%, 100 customers, 2 defaults (as predicted). Grade B: PD 10%, 200
    # customers, 40 defaults: twice the PD, so it is flagged as underestimated.
    grades = ["A"] * 100 + ["B"] * 200
    y = np.array([1] * 2 + [0] * 98 + [1] * 40 + [0] * 160)
    p = np.array([0.02] * 100 + [0.10] * 200)
    rows, hl = grade_backtest(grades, y, p)
    a, b = rows
    assert (a.n, a.defaults, b.n, b.defaults) == (100, 2, 200, 40)
    assert b.jeffreys_p == pytest.approx(stats.beta.cdf(0.10, 40.5, 160.5))
    assert b.underestimated and not a.underestimated
    assert b.binomial_p == pytest.approx(stats.binomtest(40, 200, 0.1, "greater").pvalue)
    assert b.ci_low < 0.2 < b.ci_high
    expected = (2 - 2) ** 2 / (100 * 0.02 * 0.98) + (40 - 20) ** 2 / (200 * 0.1 * 0.9)
    assert hl.statistic == pytest.approx(expected) and hl.dof == 2
    assert hl.p_value == pytest.approx(stats.chi2.sf(expected, 2))


def test_latest_prediction_per_customer_and_versions_and_months() -> None:
    rng = np.random.default_rng(0)
    rows, outcomes = [], {}
    for i in range(400):
        pd_ = float(rng.uniform(0.01, 0.9))
        outcomes[str(i)] = int(rng.random() < pd_)
        rows.append(
            logged(
                i,
                "A" if pd_ < 0.3 else "B",
                pd_,
                month=1 + i % 2,
                sex=1 + i % 2,
                decision="decline" if pd_ > 0.5 else "approve",
            )
        )
    # A re-score of customer 0 later (the later one counts) and a shadow model's answers.
    rows.append(logged(1000, "B", 0.99, customer="0", month=3))
    rows += [
        logged(2000 + i, "A", 0.2, role="shadow", version="2", customer=str(i)) for i in range(50)
    ]
    result = compute_performance(rows, outcomes)
    assert result.overall.n == 400 and result.matched == 450
    assert [m.month for m in result.by_month] == ["2026-01", "2026-02", "2026-03"]
    assert result.by_month[-1].metrics.n == 1
    versions = {(v.model_version, v.model_role): v.metrics.n for v in result.by_model_version}
    assert versions == {("1", "champion"): 400, ("2", "shadow"): 50}
    sex = result.fairness.overall["SEX"]
    rates = [g.approval_rate for g in sex.groups.values()]
    assert sex.adverse_impact_ratio == pytest.approx(min(rates) / max(rates))
    assert 0 < result.approval_rate < 1


def test_no_matched_prediction_is_a_clear_error() -> None:
    with pytest.raises(PerformanceInputError, match="no logged champion prediction"):
        compute_performance([logged(1, "A", 0.1)], {"999": 1})


def test_the_json_lists_every_field_and_undefined_metrics_as_null() -> None:
    rows = [logged(i, "A", 0.1 + i / 100) for i in range(40)]
    result = compute_performance(rows, {str(i): 0 for i in range(40)})  # one class: no AUC
    assert result.overall.roc_auc is None
    data = json.loads(result.to_json())
    assert list(data) == [
        *("n", "defaults", "default_rate", "mean_pd", "roc_auc", "gini", "ks", "brier"),
        *("log_loss", "ece", "pr_auc", "predictions_logged", "outcomes", "matched"),
        *("approval_rate", "by_model_version", "by_month", "grades", "underestimated_grades"),
        *("hosmer_lemeshow", "fairness"),
    ]
    assert data["roc_auc"] is None and data["n"] == 40
    assert data["grades"][0] == result.grades[0].as_dict()
    assert data["fairness"]["overall"]["SEX"]["groups"]["male"]["n"] == 40
