"""Metrics against scikit-learn and hand-checked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    roc_auc_score,
)

from bankrisk.evaluation.metrics import (
    METRIC_KEYS,
    CalibrationBins,
    classification_metrics,
    expected_calibration_error,
    ks_statistic,
)


# Straightforward implementations (one definition each, no shared sort): the references the
# one-sort implementation must reproduce.
def reference_ks(y: np.ndarray, p: np.ndarray) -> float:
    grid = np.unique(p)
    goods, bads = np.sort(p[y == 0]), np.sort(p[y == 1])
    cdf_good = np.searchsorted(goods, grid, side="right") / goods.shape[0]
    cdf_bad = np.searchsorted(bads, grid, side="right") / bads.shape[0]
    return float(np.max(np.abs(cdf_good - cdf_bad)))


def reference_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    eps = float(np.finfo(np.float64).eps)
    clipped = np.clip(p, eps, 1.0 - eps)
    return -float(np.mean(y * np.log(clipped) + (1 - y) * np.log(1.0 - clipped)))


def reference_ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    sum_pd = np.bincount(bins, weights=p, minlength=n_bins)
    sum_y = np.bincount(bins, weights=y.astype(np.float64), minlength=n_bins)
    used = counts > 0
    gaps = np.abs(sum_pd[used] - sum_y[used]) / counts[used]
    return float(np.sum(gaps * counts[used]) / y.shape[0])


def scored_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """Good, inverted, coarse (many ties), extreme (0 and 1) and imbalanced PDs."""
    rng = np.random.default_rng(11)
    latent = rng.uniform(0.0, 1.0, 600)
    y = (rng.uniform(0.0, 1.0, 600) < latent).astype(int)
    rare = (rng.uniform(0.0, 1.0, 600) < latent**4).astype(int)
    return [
        (y, latent),
        (y, 1.0 - latent),  # a model ranking goods above bads
        (y, np.round(latent, 1)),  # ties, and PDs exactly on bin edges
        (y, (latent > 0.5).astype(float)),  # only 0 and 1: the log loss clips
        (rare, latent**4),  # few defaulters, PDs crowded near 0
    ]


@pytest.mark.parametrize("case", range(5))
def test_library_metrics_equal_the_hand_written_reference(case: int) -> None:
    y, p = scored_cases()[case]
    m = classification_metrics(y, p, 0.5)
    assert m["ks"] == pytest.approx(reference_ks(y, p), rel=1e-12, abs=1e-15)
    assert m["log_loss"] == pytest.approx(reference_log_loss(y, p), rel=1e-12)
    assert m["ece"] == pytest.approx(reference_ece(y, p), rel=1e-12, abs=1e-15)
    for n_bins in (1, 7, 20):
        assert expected_calibration_error(y, p, n_bins) == pytest.approx(
            reference_ece(y, p, n_bins), rel=1e-12, abs=1e-15
        )


@pytest.mark.parametrize("case", range(5))
def test_one_sort_ranking_equals_scikit_learn(case: int) -> None:
    """ROC AUC, average precision and log loss as scikit-learn computes them, ties included."""
    y, p = scored_cases()[case]
    m = classification_metrics(y, p, 0.5)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p), rel=1e-12)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), rel=1e-12)


@pytest.mark.parametrize("case", range(5))
def test_ks_equals_scipy_two_sample_statistic(case: int) -> None:
    y, p = scored_cases()[case]
    assert ks_statistic(y, p) == pytest.approx(ks_2samp(p[y == 0], p[y == 1]).statistic)


def test_calibration_bins_match_scikit_learn_calibration_curve(
    scored: tuple[np.ndarray, np.ndarray],
) -> None:
    # Uniform random PDs never sit exactly on a bin edge, where the two conventions differ.
    y, probabilities = scored
    bins = CalibrationBins.of(y, probabilities, 10)
    rate, mean_pd = calibration_curve(y, probabilities, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(bins.mean_pd, mean_pd, rtol=1e-12)
    np.testing.assert_allclose(bins.default_rate, rate, rtol=1e-12)
    assert bins.counts.sum() == y.size and bins.edges.tolist() == pytest.approx(
        np.linspace(0, 1, 11).tolist()
    )


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    probabilities = rng.uniform(0.0, 1.0, 500)
    y = (rng.uniform(0.0, 1.0, 500) < probabilities).astype(int)
    return y, probabilities


def test_matches_scikit_learn(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, probabilities = scored
    m = classification_metrics(y, probabilities, 0.3)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probabilities))
    assert m["gini"] == pytest.approx(2 * roc_auc_score(y, probabilities) - 1)
    assert m["brier"] == pytest.approx(brier_score_loss(y, probabilities))
    assert m["log_loss"] == pytest.approx(log_loss(y, probabilities))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, probabilities))
    assert m["default_rate"] == pytest.approx(y.mean())
    assert m["n"] == 500


def test_keys_and_plain_floats(scored: tuple[np.ndarray, np.ndarray]) -> None:
    m = classification_metrics(*scored, 0.5)
    assert tuple(m) == METRIC_KEYS
    assert all(type(v) is float for v in m.values())


def test_confusion_matrix_at_threshold() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    probabilities = np.array([0.1, 0.4, 0.5, 0.39, 0.4, 0.9, 0.2])
    m = classification_metrics(y, probabilities, 0.4)  # decline when probabilities >= 0.4
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (2.0, 2.0, 1.0, 2.0)
    tn, fp, fn, tp = confusion_matrix(y, probabilities >= 0.4).ravel()
    assert (m["tn"], m["fp"], m["fn"], m["tp"]) == (tn, fp, fn, tp)
    assert m["approval_rate"] == pytest.approx(3 / 7)
    assert m["threshold"] == 0.4


def test_ece_hand_checked() -> None:
    # Perfectly calibrated: in each bin the mean PD equals the default rate.
    y = np.array([0, 0, 0, 1, 1, 0, 1, 1])
    probabilities = np.array([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75])
    assert expected_calibration_error(y, probabilities) == pytest.approx(0.0)
    assert expected_calibration_error(np.zeros(4), np.full(4, 0.5)) == pytest.approx(0.5)
    # Two bins: |0.1 - 0| weighted 2/4, |0.9 - 0.5| weighted 2/4 -> 0.25.
    y = np.array([0, 0, 0, 1])
    probabilities = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, probabilities) == pytest.approx(0.25)
    # PD of exactly 1 falls in the last bin; one bin of width 1 -> |mean probabilities - mean y|.
    assert expected_calibration_error(np.array([1, 1]), np.array([1.0, 1.0])) == 0.0
    assert expected_calibration_error(y, probabilities, n_bins=1) == pytest.approx(abs(0.5 - 0.25))


def test_ks_hand_checked() -> None:
    y = np.array([0, 0, 1, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    assert ks_statistic(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.0)
    # Goods 0.1, 0.6; bads 0.4, 0.9: at 0.1 F_good = 0.5, F_bad = 0 -> 0.5 is the maximum.
    assert ks_statistic(y, np.array([0.1, 0.6, 0.4, 0.9])) == pytest.approx(0.5)


def test_ks_matches_two_sample_definition(scored: tuple[np.ndarray, np.ndarray]) -> None:
    y, probabilities = scored
    grid = np.unique(probabilities)
    goods, bads = probabilities[y == 0], probabilities[y == 1]
    brute = max(abs((goods <= t).mean() - (bads <= t).mean()) for t in grid)
    assert ks_statistic(y, probabilities) == pytest.approx(brute)


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
    ("y", "probabilities", "message"),
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
def test_bad_inputs(y: list[float], probabilities: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        classification_metrics(np.array(y), np.array(probabilities), 0.5)


def test_bad_threshold_and_bins() -> None:
    y, probabilities = np.array([0, 1]), np.array([0.2, 0.8])
    with pytest.raises(ValueError, match="threshold"):
        classification_metrics(y, probabilities, 1.5)
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, probabilities, n_bins=0)
