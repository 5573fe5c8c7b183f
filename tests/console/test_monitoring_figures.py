"""The Monitoring page's figures on a real SQLite log: the same numbers as the monitoring
commands (`run_drift_over_time`, `run_drift`, `run_performance`), a JSON round trip, and the
background computation: one at a time, its result or its failure left in the cache folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.console.monitoring_cache import Job, Refresher, read_figures
from bankrisk.console.monitoring_figures import (
    MonitoringFigures,
    choose_period,
    compute_figures,
    from_json,
    to_json,
)
from bankrisk.monitoring.drift import run_drift, run_drift_over_time
from bankrisk.monitoring.performance import run_performance
from bankrisk.prediction_log.columns import Selection
from bankrisk.prediction_log.opening import open_reader
from bankrisk.prediction_log.store import PredictionStore
from helpers.factories import make_raw
from helpers.log_rows import scored_rows

WARN, ALERT = 0.1, 0.25


@pytest.fixture(scope="module")
def log_url(tmp_path_factory: pytest.TempPathFactory, small_bundle_dir: Path) -> str:
    """600 champion rows over about five months, outcomes for 400 customers."""
    url = f"sqlite:///{tmp_path_factory.mktemp('monitoring-log') / 'log.db'}"
    store = open_reader(url)
    assert store is not None
    raw, labels = make_raw(600, seed=8)
    ids = [f"M{i}" for i in range(600)]
    bundle = ModelBundle.load(small_bundle_dir)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    store.insert_predictions(scored_rows(bundle, raw, ids, start, timedelta(hours=6)))
    store.upsert_outcomes(zip(ids[:400], labels[:400].astype(int).tolist(), strict=True), "t")
    store.close()
    return url


@pytest.fixture
def store(log_url: str) -> PredictionStore:
    found = open_reader(log_url, create=False)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def figures(log_url: str, small_bundle_dir: Path) -> MonitoringFigures:
    store = open_reader(log_url, create=False)
    assert store is not None
    return compute_figures(store, small_bundle_dir, WARN, ALERT)


def test_the_heat_map_holds_the_drift_commands_psi(
    figures: MonitoringFigures, store: PredictionStore, small_bundle_dir: Path
) -> None:
    assert choose_period(store, Selection()) == "month"
    expected = run_drift_over_time(store, small_bundle_dir, Selection(), "month", WARN, ALERT)
    heat = figures.drift
    assert heat is not None
    assert heat.periods == tuple(p.period for p in expected.periods)
    assert heat.rows == tuple(p.result.n for p in expected.periods)
    assert heat.characteristics[-2:] == ("pd", "score")
    for k, period in enumerate(expected.periods):
        age = heat.cells[heat.characteristics.index("AGE")][k]
        assert age.psi == pytest.approx(period.result.inputs["AGE"].psi)
        assert age.status == period.result.inputs["AGE"].status
        assert heat.cells[-1][k].psi == pytest.approx(period.result.score.psi)  # type: ignore[union-attr]


def test_the_score_distribution_is_the_whole_windows_drift(
    figures: MonitoringFigures, store: PredictionStore, small_bundle_dir: Path
) -> None:
    whole = run_drift(store, small_bundle_dir, Selection(), WARN, ALERT)
    assert whole.score is not None and figures.score is not None
    assert figures.rows == whole.n == 600
    assert figures.score.current == pytest.approx(whole.score.current)
    assert figures.score.reference == pytest.approx(whole.score.reference)
    assert figures.score.psi == pytest.approx(whole.score.psi)


def test_back_test_auc_and_fairness_are_the_performance_commands(
    figures: MonitoringFigures, store: PredictionStore
) -> None:
    expected = run_performance(store, Selection())
    found = figures.performance
    assert found is not None and figures.performance_note is None
    assert [(g.grade, g.n, g.defaults) for g in found.grades] == [
        (g.grade, g.n, g.defaults) for g in expected.grades
    ]
    assert [g.ci_high for g in found.grades] == pytest.approx([g.ci_high for g in expected.grades])
    assert [m.month for m in found.by_month] == [m.month for m in expected.by_month]
    assert found.roc_auc == pytest.approx(expected.overall.roc_auc)
    sex = [a for a in found.approvals if a.attribute == "SEX"]
    assert [a.adverse_impact_ratio for a in sex] == pytest.approx(
        [m.attributes["SEX"].adverse_impact_ratio for m in expected.fairness.by_month]
    )


def test_figures_round_trip_through_json(figures: MonitoringFigures) -> None:
    assert from_json(to_json(figures)) == figures


def test_a_log_without_rows_says_why_in_each_section(
    tmp_path: Path, small_bundle_dir: Path
) -> None:
    empty = open_reader(f"sqlite:///{tmp_path / 'empty.db'}")
    assert empty is not None
    found = compute_figures(empty, small_bundle_dir, WARN, ALERT)
    assert found.drift is None and found.performance is None and found.rows == 0
    assert found.drift_note is not None and "no logged predictions" in found.drift_note
    assert found.performance_note is not None


def test_the_refresher_computes_in_a_child_one_at_a_time(
    tmp_path: Path, log_url: str, small_bundle_dir: Path
) -> None:
    folder = tmp_path / "cache"
    refresher = Refresher(Job(log_url, False, None, small_bundle_dir, folder, WARN, ALERT))
    assert refresher.state().figures is None
    assert refresher.start()
    assert refresher.running_since() is not None
    assert not refresher.start()  # one at a time
    refresher.wait(120)
    state = refresher.state()
    assert state.running_since is None and state.failure is None
    assert state.figures is not None and state.figures.rows == 600
    assert read_figures(folder) == state.figures


def test_a_log_that_cannot_be_read_is_named_in_each_section(
    tmp_path: Path, small_bundle_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'log.db'}"  # a folder that does not exist
    unreadable = open_reader(url, create=False)
    assert unreadable is not None
    figures = compute_figures(unreadable, small_bundle_dir, WARN, ALERT)
    assert figures.drift is None and figures.performance is None
    for note in (figures.drift_note, figures.performance_note):
        assert note is not None and "cannot read the prediction log" in note
        assert "log.db" in note


def test_a_failed_computation_is_reported_and_keeps_no_figures(
    tmp_path: Path, small_bundle_dir: Path
) -> None:
    folder = tmp_path / "cache"
    job = Job("nosuchdb://host/log", False, None, small_bundle_dir, folder, WARN, ALERT)
    refresher = Refresher(job)
    assert refresher.start()
    refresher.wait(120)
    state = refresher.state()
    assert state.figures is None and state.running_since is None
    assert state.failure is not None and "nosuchdb" in state.failure.message
