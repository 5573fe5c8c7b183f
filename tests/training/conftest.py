"""Fixtures of the training tests: a synthetic test split with a strong and a weak scorer of it
(the gate's checks), a private MLflow store for small real bundles, and `bankrisk train` run
on the shared data under the gate's fairness and input checks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from helpers.factories import make_raw
from helpers.gate_stubs import GateRows, gate_rows
from helpers.registry import GatedTrainings, SmallRegistry


@pytest.fixture(scope="module")
def gate_split() -> GateRows:
    """3,000 synthetic test rows and the PDs of a clearly stronger and a weaker model."""
    return gate_rows(*make_raw(3000, seed=9))


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmallRegistry]:
    """An empty MLflow registry (SQLite) with its artifacts in a temporary folder."""
    before = mlflow.get_tracking_uri()
    registry = SmallRegistry.create(Path(tmp_path_factory.mktemp("small-registry")))
    yield registry
    mlflow.set_tracking_uri(before)  # the session's other stores set it themselves


@pytest.fixture(scope="module")
def gated_trainings(
    tmp_path_factory: pytest.TempPathFactory, shared_csv: Path
) -> Iterator[GatedTrainings]:
    """`bankrisk train` three times on the shared data, in a private store (~1.5 min): a
    scorecard (the first champion); LightGBM, significantly better but failing the four-fifths
    rule, under BANKRISK_GATE_FAIRNESS=refuse; LightGBM with EDUCATION as an input."""
    before = mlflow.get_tracking_uri()
    trainings = GatedTrainings(SmallRegistry.create(Path(tmp_path_factory.mktemp("gated"))))
    trainings.train(shared_csv, BANKRISK_CANDIDATES="scorecard")
    trainings.train(shared_csv, BANKRISK_CANDIDATES="gbm", BANKRISK_GATE_FAIRNESS="refuse")
    trainings.train(shared_csv, BANKRISK_CANDIDATES="gbm", BANKRISK_USE_EDUCATION="true")
    yield trainings
    mlflow.set_tracking_uri(before)
