"""The PD back-test and performance computations on hand-made logged rows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bankrisk.monitoring.performance import (
    PerformanceInputError,
    grade_backtest,
    run_performance,
)
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.store import PredictionStore, Row, open_store
from helpers.log_rows import prediction_row


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
) -> Row:
    return prediction_row(
        i,
        when=datetime(2026, month, 1, tzinfo=UTC) + timedelta(minutes=i),
        model_version=version,
        model_role=role,
        customer_id=customer or str(i),
        pd=pd,
        grade=grade,
        decision=decision,
        SEX=float(sex),
        AGE=float(age),
        MARRIAGE=1.0,
    )


@pytest.fixture
def log(tmp_path: Path) -> Iterator[Callable[[list[Row], dict[str, int]], PredictionStore]]:
    """A SQLite log holding the given rows and outcomes."""
    stores: list[PredictionStore] = []

    def holding(rows: list[Row], outcomes: dict[str, int]) -> PredictionStore:
        store = open_store(f"sqlite:///{tmp_path / f'log{len(stores)}.db'}")
        assert store is not None
        store.insert_predictions(rows)
        store.upsert_outcomes(outcomes.items(), "test")
        stores.append(store)
        return store

    yield holding
    for store in stores:
        store.close()


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


Log = Callable[[list[Row], dict[str, int]], PredictionStore]


def test_latest_prediction_per_customer_and_versions_and_months(log: Log) -> None:
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
    result = run_performance(log(rows, outcomes), Selection())
    assert result.overall.n == 400 and result.matched == 450 and result.customers == 400
    assert [m.month for m in result.by_month] == ["2026-01", "2026-02", "2026-03"]
    assert result.by_month[-1].metrics.n == 1
    versions = {(v.model_version, v.model_role): v.metrics.n for v in result.by_model_version}
    assert versions == {("1", "champion"): 400, ("2", "shadow"): 50}
    sex = result.fairness.overall["SEX"]
    rates = [g.approval_rate for g in sex.groups.values()]
    assert sex.adverse_impact_ratio == pytest.approx(min(rates) / max(rates))
    assert 0 < result.approval_rate < 1


def test_no_matched_prediction_is_a_clear_error(log: Log) -> None:
    with pytest.raises(PerformanceInputError, match="none of the champion rows has an outcome yet"):
        run_performance(log([logged(1, "A", 0.1)], {"999": 1}), Selection())


def test_the_json_lists_every_field_and_undefined_metrics_as_null(log: Log) -> None:
    rows = [logged(i, "A", 0.1 + i / 100) for i in range(40)]
    store = log(rows, {str(i): 0 for i in range(40)})  # one class: no AUC
    result = run_performance(store, Selection())
    assert result.overall.roc_auc is None
    data = json.loads(result.to_json())
    assert list(data) == [
        *("n", "defaults", "default_rate", "mean_pd", "roc_auc", "gini", "ks", "brier"),
        *("log_loss", "ece", "pr_auc", "rows", "customers", "predictions_logged", "outcomes"),
        *("matched", "approval_rate", "by_model_version", "by_month", "grades"),
        *("underestimated_grades", "overestimated_grades", "hosmer_lemeshow", "fairness"),
    ]
    assert data["roc_auc"] is None and data["n"] == 40
    assert data["grades"][0] == result.grades[0].as_dict()
    assert data["fairness"]["overall"]["SEX"]["groups"]["male"]["n"] == 40


def test_every_section_counts_each_customer_once(log: Log) -> None:
    # 100 customers scored twice (as a re-run of the same traffic does): the summary, the
    # back-test and the fairness table all count 100 customers, the latest answer of each.
    rows = [logged(i, "A", 0.2, customer=str(i % 100), sex=1 + i % 2) for i in range(200)]
    result = run_performance(log(rows, {str(i): i % 2 for i in range(100)}), Selection())
    assert (result.customers, result.overall.n, result.grades[0].n) == (100, 100, 100)
    sex = result.fairness.overall["SEX"].groups
    assert sum(g.n for g in sex.values()) == 100
    assert sum(g.n for g in result.fairness.by_month[0].attributes["SEX"].groups.values()) == 100
    assert result.predictions_logged == 200
    assert result.rows == "each customer's latest prediction among the champion rows"


def test_a_window_limits_every_section(log: Log) -> None:
    rows = [logged(i, "A", 0.2, month=1 + i % 3) for i in range(300)]
    store = log(rows, {str(i): i % 2 for i in range(300)})
    february = Selection(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    result = run_performance(store, february)
    assert result.overall.n == result.customers == result.predictions_logged == 100
    assert [m.month for m in result.by_month] == ["2026-02"]
    assert [m.month for m in result.fairness.by_month] == ["2026-02"]
    assert "from 2026-02-01T00:00:00+00:00 to 2026-03-01T00:00:00+00:00" in result.rows


def test_an_overestimated_pd_is_flagged_too(log: Log) -> None:
    # Grade E1: PD 0.559 for 200 customers of whom 38 (19%) defaulted: the upper tail of
    # the Jeffreys test flags it; grade A (PD 2%, 2 of 100) is flagged neither way.
    rows = [logged(i, "E1", 0.559) for i in range(200)]
    rows += [logged(200 + i, "A1", 0.02) for i in range(100)]
    outcomes = {str(i): int(i < 38) for i in range(200)}
    outcomes.update({str(200 + i): int(i < 2) for i in range(100)})
    result = run_performance(log(rows, outcomes), Selection())
    by_grade = {g.grade: g for g in result.grades}
    assert by_grade["E1"].overestimated and not by_grade["E1"].underestimated
    assert by_grade["E1"].jeffreys_p_over == pytest.approx(stats.beta.sf(0.559, 38.5, 162.5))
    assert not by_grade["A1"].overestimated and not by_grade["A1"].underestimated
    assert result.overestimated_grades == ("E1",) and result.underestimated_grades == ()


def test_another_role_is_chosen_and_versions_compare_every_role(log: Log) -> None:
    rows = [logged(i, "A", 0.3) for i in range(60)]
    rows += [
        logged(100 + i, "A", 0.4, role="shadow", version="2", customer=str(i)) for i in range(60)
    ]
    store = log(rows, {str(i): i % 2 for i in range(60)})
    shadow = run_performance(store, Selection(role="shadow"))
    assert shadow.overall.mean_pd == pytest.approx(0.4) and shadow.customers == 60
    champion = run_performance(store, Selection())
    assert champion.overall.mean_pd == pytest.approx(0.3)
    assert {(v.model_version, v.model_role) for v in champion.by_model_version} == {
        ("1", "champion"),
        ("2", "shadow"),
    }
