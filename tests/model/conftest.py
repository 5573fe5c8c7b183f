"""The champion the model tests judge: the session's own training on the shared data, or any
serving bundle given with `pytest tests/model --model-dir DIR` (e.g. `models/champion` after
`make run`, or a bundle fetched from the registry)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.data.training_data import read_training_data

if TYPE_CHECKING:
    from helpers.trained import Trained


@pytest.fixture(scope="session")
def given_model_dir(request: pytest.FixtureRequest) -> Path | None:
    given = request.config.getoption("--model-dir")
    return None if given is None else Path(given)


@pytest.fixture(scope="session")
def trained_here(request: pytest.FixtureRequest, given_model_dir: Path | None) -> Trained:
    """The session's own training; tests that need its split are skipped for a given bundle."""
    if given_model_dir is not None:
        pytest.skip("needs the training split, known only for the session's own training")
    found: Trained = request.getfixturevalue("trained")
    return found


@pytest.fixture(scope="session")
def champion_dir(request: pytest.FixtureRequest, given_model_dir: Path | None) -> Path:
    if given_model_dir is not None:
        return given_model_dir
    trained: Trained = request.getfixturevalue("trained")
    return trained.report.model_dir


@pytest.fixture(scope="session")
def champion(champion_dir: Path) -> ModelBundle:
    """The bundle as served: loaded back from disk."""
    return ModelBundle.load(champion_dir)


@pytest.fixture(scope="session")
def held_out(
    request: pytest.FixtureRequest, given_model_dir: Path | None, shared_csv: Path
) -> np.ndarray:
    """Customers the champion was not trained on: the test split of the session's training;
    for a given bundle, whose split is unknown here, every shared row."""
    raw = read_training_data(shared_csv).raw
    if given_model_dir is not None:
        return raw
    trained: Trained = request.getfixturevalue("trained")
    return raw[trained.report.test_index]
