"""The promotion gate: DeLong's paired test, the decision rule, and the gate's handling of the
champion (none, better, worse, not loadable, trained on the comparison rows, forced)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import mlflow
import numpy as np
import pytest
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from sklearn.metrics import roc_auc_score

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.training.gate import (
    CHALLENGER,
    CHAMPION,
    Champion,
    Comparison,
    DataSplit,
    GateError,
    _no_alias,
    delong_test,
    promotion_decision,
    promotion_gate,
)
from helpers.factories import make_raw
from helpers.gate_stubs import StubBundle

# ---- DeLong ---------------------------------------------------------------------------------


def _scores(n: int, seed: int, strength_a: float, strength_b: float) -> tuple[np.ndarray, ...]:
    """Labels and two correlated scores: a shared signal, plus each model's own noise."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.25
    shared = rng.normal(size=n)
    a = strength_a * y + shared + rng.normal(scale=0.7, size=n)
    b = strength_b * y + shared + rng.normal(scale=0.7, size=n)
    return y.astype(int), a, b


def test_delong_aucs_are_the_usual_aucs_with_ties() -> None:
    y, a, b = _scores(700, 1, 1.0, 0.8)
    b = np.round(b, 1)  # many ties: midranks count them half
    test = delong_test(y, a, b)
    assert test.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert test.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)


def test_delong_agrees_with_a_paired_bootstrap() -> None:
    y, a, b = _scores(2000, 2, 1.0, 0.8)
    test = delong_test(y, a, b)
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(2000):
        i = rng.integers(0, y.size, y.size)
        diffs.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    boot = np.asarray(diffs)
    assert test.difference == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert test.se == pytest.approx(boot.std(ddof=1), rel=0.1)
    # One-sided p: the share of bootstrap differences at or below 0, about.
    assert test.p_greater < 0.05
    assert test.p_greater == pytest.approx(np.mean(boot <= 0), abs=0.01)
    assert test.p_two_sided == pytest.approx(2 * test.p_greater)


def test_delong_no_difference_and_reversed() -> None:
    y, a, b = _scores(1500, 3, 0.8, 0.8)
    same = delong_test(y, a, a)
    assert same.difference == 0 and same.p_greater == 0.5
    test = delong_test(y, a, b)
    assert 0.05 < test.p_two_sided <= 1.0  # same strength: no significant difference
    reverse = delong_test(y, b, a)
    assert reverse.p_greater == pytest.approx(1 - test.p_greater)
    with pytest.raises(ValueError, match="both classes"):
        delong_test(np.zeros(10), a[:10], b[:10])


# ---- the decision rule -----------------------------------------------------------------------


def _comparison(**changes: Any) -> Comparison:
    values: dict[str, Any] = {
        "same_data": True,
        "rows": 4800,
        "excluded_rows": 0,
        "auc_new": 0.790,
        "auc_champion": 0.780,
        "auc_se": 0.003,
        "delong_p": 0.001,
        "brier_new": 0.1350,
        "brier_champion": 0.1360,
    }
    return Comparison(**{**values, **changes})


def test_decision_promotes_a_significant_gain_with_calibration_kept() -> None:
    alias, reason = promotion_decision(_comparison(), Settings())
    assert alias == CHAMPION
    assert reason.startswith("better on 4,800 rows (same data and split)")
    assert "AUC 0.7900 vs 0.7800 (+0.0100, DeLong p 0.001)" in reason


@pytest.mark.parametrize(
    ("changes", "settings", "why"),
    [
        ({"auc_new": 0.780}, {}, "AUC gain not above 0"),  # a tie is not a win
        ({"auc_new": 0.770, "delong_p": 0.9}, {}, "AUC gain not above 0"),
        ({"delong_p": 0.2}, {}, "AUC gain not significant (p >= 0.05)"),
        ({}, {"promotion_min_auc_gain": 0.02}, "AUC gain not above 0.02"),
        ({"brier_new": 0.1380}, {}, "Brier worse by more than 0.001"),
    ],
)
def test_decision_refuses(changes: dict[str, Any], settings: dict[str, Any], why: str) -> None:
    alias, reason = promotion_decision(_comparison(**changes), Settings(**settings))
    assert alias == CHALLENGER
    assert reason.startswith(why)


def test_decision_tolerates_a_slightly_worse_brier() -> None:
    assert promotion_decision(_comparison(brier_new=0.1365), Settings())[0] == CHAMPION


# ---- the gate -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split() -> tuple[np.ndarray, np.ndarray]:
    return make_raw(3000, seed=9)


@pytest.fixture(scope="module")
def dev() -> tuple[np.ndarray, np.ndarray]:
    return make_raw(2000, seed=10)


DATA = DataSplit("ab" * 32, 42, 0.2)


def _bundles(
    split: tuple[np.ndarray, np.ndarray], dev: Any, champion_dev: Any
) -> tuple[ModelBundle, ModelBundle]:
    rows, labels = split
    # Scores that follow the labels of these rows: the new model is clearly stronger.
    rng = np.random.default_rng(6)
    signal = labels * 1.2 + rng.normal(size=labels.size)
    strong = 1 / (1 + np.exp(-(signal - 1)))
    weak = 1 / (1 + np.exp(-(labels * 0.5 + rng.normal(size=labels.size) - 1)))
    new = StubBundle(rows, labels, strong, dev)
    old = StubBundle(rows, labels, weak, champion_dev)
    return cast(ModelBundle, new), cast(ModelBundle, old)


def _fetch(champion: Champion | None) -> Any:
    return lambda settings, dest: champion


def test_no_champion_yet_promotes(split: Any, dev: Any, tmp_path: Path) -> None:
    new, _ = _bundles(split, dev, dev)
    result = promotion_gate(Settings(), new, DATA, *split, tmp_path, _fetch(None))
    assert result.alias == CHAMPION and result.reason == "no champion yet"
    assert result.comparison is None and result.tags()["gate.decision"] == "champion"


def test_a_better_model_is_promoted_and_a_worse_one_is_not(
    split: Any, dev: Any, tmp_path: Path
) -> None:
    new, old = _bundles(split, dev, dev)
    champion = Champion("3", old, tmp_path, DATA)
    result = promotion_gate(Settings(), new, DATA, *split, tmp_path, _fetch(champion))
    assert result.alias == CHAMPION and result.champion_version == "3"
    assert result.comparison is not None and result.comparison.same_data
    assert result.comparison.rows == 3000 and result.comparison.excluded_rows == 0
    assert result.comparison.delong_p < 1e-6
    tags = result.tags()
    assert tags["gate.rows_case"] == "same data and split"
    assert float(tags["gate.auc_new"]) > float(tags["gate.auc_champion"])
    assert {"gate.delong_p", "gate.brier_new", "gate.brier_champion", "gate.reason"} <= set(tags)
    # The other way round: the weaker model stays challenger.
    reverse = promotion_gate(
        Settings(), old, DATA, *split, tmp_path, _fetch(Champion("4", new, tmp_path, DATA))
    )
    assert reverse.alias == CHALLENGER and not reverse.promoted
    assert reverse.reason.startswith("AUC gain not above 0")
    forced = promotion_gate(
        Settings(),
        old,
        DATA,
        *split,
        tmp_path,
        _fetch(Champion("4", new, tmp_path, DATA)),
        force=True,
    )
    assert forced.alias == CHAMPION and forced.forced
    assert forced.reason.startswith("forced; gate: AUC gain not above 0")


def test_other_data_is_rescored_without_rows_a_model_was_trained_on(
    split: Any, dev: Any, tmp_path: Path
) -> None:
    rows, labels = split
    # The champion was developed on 500 of these test rows (another split of the same file).
    champion_dev = (rows[:500], labels[:500])
    new, old = _bundles(split, dev, champion_dev)
    other = DataSplit(DATA.sha256, 7, 0.2)
    result = promotion_gate(
        Settings(), new, DATA, rows, labels, tmp_path, _fetch(Champion("3", old, tmp_path, other))
    )
    assert result.comparison is not None and not result.comparison.same_data
    assert result.comparison.rows == 2500 and result.comparison.excluded_rows == 500
    assert "rescored on the new test rows, 500 rows a model was trained on excluded" in (
        result.reason
    )
    # Too few rows left: no automatic promotion.
    strict = Settings(promotion_min_rows=2600)
    refused = promotion_gate(
        strict, new, DATA, rows, labels, tmp_path, _fetch(Champion("3", old, tmp_path, other))
    )
    assert refused.alias == CHALLENGER and refused.comparison is None
    assert "500 of the 3,000 test rows were used to train one of the models" in refused.reason


def test_unknown_training_rows_on_other_data_refuse(split: Any, dev: Any, tmp_path: Path) -> None:
    new, old = _bundles(split, dev, None)
    other = DataSplit("cd" * 32, 42, 0.2)
    result = promotion_gate(
        Settings(), new, DATA, *split, tmp_path, _fetch(Champion("3", old, tmp_path, other))
    )
    assert result.alias == CHALLENGER
    assert "does not record its training rows" in result.reason
    # Same data and split: its test rows are these, so the comparison is fair.
    same = promotion_gate(
        Settings(), new, DATA, *split, tmp_path, _fetch(Champion("3", old, tmp_path, DATA))
    )
    assert same.alias == CHAMPION


def test_a_champion_that_cannot_be_loaded_makes_a_challenger(
    split: Any, dev: Any, tmp_path: Path
) -> None:
    new, _ = _bundles(split, dev, dev)

    def broken(settings: Settings, dest: Path) -> Champion:
        raise GateError("champion v2's bundle cannot be loaded: model.npz: sha256 mismatch")

    result = promotion_gate(Settings(), new, DATA, *split, tmp_path, broken)
    assert result.alias == CHALLENGER and not result.forced
    assert result.reason == (
        "no comparison: champion v2's bundle cannot be loaded: model.npz: sha256 mismatch"
    )
    forced = promotion_gate(Settings(), new, DATA, *split, tmp_path, broken, force=True)
    assert forced.alias == CHAMPION and forced.forced
    assert forced.reason.startswith("forced; no comparison: champion v2's bundle")
    assert forced.tags()["gate.forced"] == "true"


def test_a_champion_that_cannot_score_makes_a_challenger(
    split: Any, dev: Any, tmp_path: Path
) -> None:
    new, _ = _bundles(split, dev, dev)
    unknown = cast(ModelBundle, StubBundle(*make_raw(10, seed=99), np.zeros(10), None))
    result = promotion_gate(
        Settings(), new, DATA, *split, tmp_path, _fetch(Champion("2", unknown, tmp_path, DATA))
    )
    assert result.alias == CHALLENGER
    assert result.reason.startswith("no comparison: champion v2: cannot score the test rows")


def test_only_a_missing_alias_or_model_means_no_champion() -> None:
    MlflowException = mlflow.exceptions.MlflowException
    missing_alias = MlflowException(
        "Registered model alias champion not found.", error_code=INVALID_PARAMETER_VALUE
    )
    missing_model = MlflowException("not found", error_code=RESOURCE_DOES_NOT_EXIST)
    down = MlflowException("database is locked", error_code=INTERNAL_ERROR)
    assert _no_alias(missing_alias) and _no_alias(missing_model)
    assert not _no_alias(down)
