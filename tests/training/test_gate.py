"""The promotion gate: the decision rule, and the gate scoring the current champion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bankrisk.config import Settings
from bankrisk.errors import BundleError
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.training.gate import (
    CHALLENGER,
    CHAMPION,
    Champion,
    promotion_decision,
    promotion_gate,
)
from factories import make_bundle, make_raw


def test_first_model_becomes_champion() -> None:
    assert promotion_decision(0.70, None, 0.0) == CHAMPION


def test_must_beat_the_champion_on_the_same_test_data() -> None:
    assert promotion_decision(0.790, 0.785, 0.0) == CHAMPION
    assert promotion_decision(0.785, 0.785, 0.0) == CHALLENGER  # a tie is not a win
    assert promotion_decision(0.780, 0.785, 0.0) == CHALLENGER
    assert promotion_decision(0.787, 0.785, 0.005) == CHALLENGER  # gain below the margin


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Champion:
    return Champion("3", make_bundle(), tmp_path_factory.mktemp("champion"))


@pytest.fixture(scope="module")
def test_split() -> tuple[np.ndarray, np.ndarray]:
    return make_raw(1500, seed=9)


def test_gate_scores_the_champion_on_the_test_rows(
    champion: Champion, test_split: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    rows, labels = test_split
    champion_auc = classification_metrics(
        labels, champion.bundle.predict_pd(rows), champion.bundle.policy.threshold
    )["roc_auc"]
    asked: list[Path] = []

    def fetch(settings: Settings, dest: Path) -> Champion:
        asked.append(dest)
        return champion

    better = promotion_gate(Settings(), rows, labels, champion_auc + 0.01, tmp_path, fetch)
    assert asked == [tmp_path]
    assert better.alias == CHAMPION and better.promoted
    assert better.previous_version == "3"
    assert better.previous_auc == pytest.approx(champion_auc)
    assert better.previous_bundle_dir == champion.directory
    assert better.reason == (
        f"test AUC {champion_auc + 0.01:.4f} vs champion v3 {champion_auc:.4f}"
    )
    worse = promotion_gate(Settings(), rows, labels, champion_auc - 0.01, tmp_path, fetch)
    assert worse.alias == CHALLENGER and not worse.promoted
    margin = Settings(promotion_min_auc_gain=0.02)
    assert promotion_gate(margin, rows, labels, champion_auc + 0.01, tmp_path, fetch).alias == (
        CHALLENGER
    )


def test_gate_without_a_champion_promotes(
    test_split: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    result = promotion_gate(Settings(), *test_split, 0.5, tmp_path, lambda s, d: None)
    assert result.alias == CHAMPION and result.reason == "no champion yet"
    assert result.previous_bundle_dir is None and result.previous_auc is None


def test_gate_promotes_over_a_champion_it_cannot_score(
    test_split: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    def fetch(settings: Settings, dest: Path) -> Champion:
        raise BundleError("features changed: expected 36, bundle has 37")

    result = promotion_gate(Settings(), *test_split, 0.5, tmp_path, fetch)
    assert result.alias == CHAMPION
    assert result.reason.startswith("current champion not comparable (features changed")
    assert result.previous_bundle_dir is None
