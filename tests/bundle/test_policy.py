import numpy as np
import pytest

from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling

SCALING = ScoreScaling(base_points=600, base_odds=50, points_to_double_odds=20)
POLICY = DecisionPolicy(0.2, 0.1, (0.02, 0.05, 0.1, 0.2, 0.4, 1.0), SCALING)


def pd_at_odds(odds: float) -> float:
    return 1.0 / (1.0 + odds)


def test_points_anchor_and_doubling() -> None:
    assert SCALING.points(np.array([pd_at_odds(50)]))[0] == 600
    assert SCALING.points(np.array([pd_at_odds(100)]))[0] == 620
    assert SCALING.points(np.array([pd_at_odds(25)]))[0] == 580


def test_points_fall_as_pd_rises_and_stay_finite() -> None:
    points = SCALING.points(np.array([0.0, 0.01, 0.2, 0.5, 0.9, 1.0]))
    assert np.all(np.diff(points) < 0)
    assert np.isfinite(points).all()


def test_grades_are_a_monotone_master_scale() -> None:
    pd = np.linspace(0, 1, 101)
    index = POLICY.grade_index(pd)
    assert np.all(np.diff(index) >= 0)
    assert POLICY.grades == ["A1", "A2", "B1", "B2", "C1", "C2"]
    assert POLICY.grades[POLICY.grade_index(np.array([0.02]))[0]] == "A1"  # bounds inclusive
    assert POLICY.grades[POLICY.grade_index(np.array([0.021]))[0]] == "A2"
    assert POLICY.grades[POLICY.grade_index(np.array([1.0]))[0]] == "C2"


def test_decisions_follow_cutoffs() -> None:
    decisions = POLICY.decision_index(np.array([0.05, 0.1, 0.15, 0.2, 0.9]))
    assert decisions.tolist() == [0, 1, 1, 2, 2]


def test_round_trip_and_invalid_cutoffs() -> None:
    assert DecisionPolicy.from_dict(POLICY.to_dict()) == POLICY
    with pytest.raises(ValueError, match="cut-offs"):
        DecisionPolicy(0.1, 0.2, (1.0,), SCALING)


def test_points_of_one_pd_equal_the_vectorised_points() -> None:
    rng = np.random.default_rng(2)
    pd = np.concatenate([rng.uniform(0, 1, 20_000), rng.uniform(0, 1e-5, 1000), [0.0, 1.0, 0.5]])
    # PDs whose points fall just around a half, where a last-bit difference changes rounding.
    odds = np.exp((np.arange(300, 900) + 0.5 - SCALING.offset) / SCALING.factor)
    pd = np.concatenate([pd, 1.0 / (1.0 + odds)])
    assert [SCALING.points_one(p) for p in pd.tolist()] == SCALING.points(pd).tolist()
