import numpy as np
import pytest

from bankrisk.training.decision import cost_optimal_threshold


def test_threshold_minimises_expected_cost_by_hand() -> None:
    pd = np.array([0.9, 0.6, 0.4, 0.3, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    # Declining the top 3 (pd >= 0.4) costs one declined good (1) and misses none: cost 1.
    # Declining top 1 misses one default (5); declining none misses two (10).
    assert cost_optimal_threshold(pd, labels, 5.0, 1.0) == pytest.approx(0.4)
    # When a declined good costs far more, decline only the sure defaulter at the top...
    assert cost_optimal_threshold(pd, labels, 1.0, 100.0) == pytest.approx(0.9)
    # ...or nobody at all: the threshold then sits above every PD.
    assert cost_optimal_threshold(pd, np.array([0, 1, 1, 0, 0]), 1.0, 100.0) > 0.9


def test_ties_are_never_split() -> None:
    pd = np.array([0.5, 0.5, 0.5, 0.1])
    labels = np.array([1, 0, 0, 0])
    threshold = cost_optimal_threshold(pd, labels, 1.5, 1.0)
    declined = pd >= threshold
    assert declined[:3].all() or not declined[:3].any()


def test_calibrated_scores_land_near_the_bayes_cutoff() -> None:
    rng = np.random.default_rng(0)
    pd = rng.uniform(0, 1, 200_000)
    labels = (rng.uniform(size=pd.size) < pd).astype(int)
    assert cost_optimal_threshold(pd, labels, 5.0, 1.0) == pytest.approx(1 / 6, abs=0.02)
