"""Metrics against scikit-learn and hand-checked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from bankrisk.evaluation.metrics import (
    METRIC_KEYS,
    classification_metrics,
    expected_calibration_error,
    ks_statistic,
)


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    pd = rng.uniform(0.0, 1.0, 500)
    y = (rng.uniform(0.0, 1.0, 500) < pd).astype(int)
    return y, pd


def test_matches_scikit_learn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, pd = scored
    m = classification_metrics(y, pd, 0.3)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, pd))
    assert m["gini"] == pytest.approx(2 * roc_auc_score(y, pd) - 1)
    assert m["brier"] == pytest.approx(brier_score_loss(y, pd))
    assert m["log_loss"] == pytest.approx(log_loss(y, pd))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, pd))
    assert m["default_rate"] == pytest.approx(y.mean())
    assert m["n"] == 500


def test_keys_and_plain_floats(scored: tuple[np.ndarray, np.ndarray]) -> None:
    m = classification_metrics(*scored, 0.5)
    assert tuple(m) == METRIC_KEYS
    assert all(type(v) is float for v in m.values())


def test_confusion_matrix_at_threshold() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    pd = np.array([0.1, 0.4, 0.5, 0.39, 0.4, 0.9, 0.2])
    m = classification_metrics(y, pd, 0.4)  # decline when pd >= 0.4
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (2.0, 2.0, 1.0, 2.0)
    tn, fp, fn, tp = confusion_matrix(y, pd >= 0.4).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert m["approval_rate"] == pytest.approx(3 / 7)
    assert m["threshold"] == 0.4


def test_ece_hand_checked() -> None:
    # Perfectly calibrated: in each bin the mean PD equals the default rate.
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    pd = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert expected_calibration_error(y, pd) == pytest.approx(0.0)
    assert expected_calibration_error(np.zeros(4), np.full(4, 0.5)) == pytest.approx(0.5)
    # Two bins: |0.1 - 0| weighted 2/4, |0.9 - 0.5| weighted 2/4 -> 0.25.
    y = np.array([0, 0, 0, 1])
    pd = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, pd) == pytest.approx(0.25)
    # PD of exactly 1 falls in the last bin; one bin of width 1 -> |mean pd - mean y|.
    assert expected_calibration_error(np.array([1, 1]), np.array([1.0, 1.0])) == 0.0
    assert expected_calibration_error(y, pd, n_bins=1) == pytest.approx(abs(0.5 - 0.25))


def test_ks_hand_checked() -> None:
    y = np.array([0, 0, 1, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    assert ks_statistic(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    # Goods 0.1, 0.6; bads 0.4, 0.9: at 0.1 F_good = 0.5, F_bad = 0 -> 0.5 is the maximum.
    assert ks_statistic(y, np.array([0.1, 0.6, 0.4, 0.9])) == pytest.approx(0.5)


def test_ks_matches_two_sample_definition(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, pd = scored
    grid = np.unique(pd)
    goods, bads = pd[y == 0], pd[y == 1]
    brute = max(abs((goods <= t).mean() - (bads <= t).mean()) for t in grid)
    assert ks_statistic(y, pd) == pytest.approx(brute)


def test_one_class_gives_nan_not_exception() -> None:
    m = classification_metrics(np.zeros(5), np.linspace(0.1, 0.5, 5), 0.3)
    for key in ("roc_auc", "gini", "ks", "pr_auc"):
        assert math.isnan(m[key])
    assert m["brier"] == pytest.approx(np.mean(np.linspace(0.1, 0.5, 5) ** 2))
    assert math.isfinite(m["log_loss"])


def test_log_loss_finite_for_confident_miss() -> None:
    m = classification_metrics(np.array([0, 1]), np.array([1.0, 0.0]), 0.5)
    assert math.isfinite(m["log_loss"])


@pytest.mark.parametrize(
    ("y", "pd", "message"),
    [
        ([0, 1], [0.1], "same length"),
        ([], [], "empty"),
        ([0, 1], [0.1, 1.2], r"\[0, 1\]"),
        ([0, 1], [-0.1, 0.2], r"\[0, 1\]"),
        ([0, 1], [0.1, float("nan")], "NaN"),
        ([0, 2], [0.1, 0.2], "only 0 and 1"),
        ([0, 0.5], [0.1, 0.2], "only 0 and 1"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
    ],
)
def test_bad_inputs(y: list[float], pd: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(y), np.array(pd), 0.5)


def test_bad_threshold_and_bins() -> None:
    y, pd = np.array([0, 1]), np.array([0.2, 0.8])
    with pytest.raises(ValueError, match="threshold"):
        classification_metrics(y, pd, 1.5)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, pd, n_bins=0)
