"""Shared fixtures: the read-only data files in ../shared/data (never copied into the repo),
one champion trained on them per test session (for tests/training and tests/model), and one
small real bundle with reference distributions (monitoring and operations tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from factories import make_raw

if TYPE_CHECKING:
    from bankrisk.config import Settings
    from bankrisk.training.train import TrainReport


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--model-dir",
        default=None,
        help="run tests/model against this serving bundle instead of the session's training",
    )


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data directory next to the repository."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    # CI always has ../shared beside the clone: a missing folder is a failure, not a skip.
    assert path.is_dir(), f"shared data directory not found: {path}"
    return path


@pytest.fixture(scope="session")
def shared_csv(shared_data_dir: Path) -> Path:
    """The 24,000-row CSV (one header row)."""
    return shared_data_dir / "default_of_credit_card_clients.csv"


@pytest.fixture(scope="session")
def shared_xls(shared_data_dir: Path) -> Path:
    """The first 10,000 rows of the official file as a legacy .xls in the UCI layout."""
    return shared_data_dir / "default_of_credit_card_clients_first10k.xls"


@pytest.fixture(scope="session")
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    return make_raw(3000)


@dataclass(frozen=True)
class Trained:
    """One `bankrisk train` run on the shared CSV, everything under `workdir`."""

    settings: Settings
    report: TrainReport
    workdir: Path


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Trained:
    """Train once per session (~2 min): MLflow store, artifacts, reports and the champion's
    bundle all in a temporary folder, named explicitly (nothing depends on the working
    directory). Only tests marked slow use it."""
    from bankrisk.config import Settings
    from bankrisk.training.train import run_training

    workdir = tmp_path_factory.mktemp("train")
    settings = Settings(
        mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        mlflow_artifact_root=workdir / "mlartifacts",
        reports_dir=workdir / "reports",
        model_dir=workdir / "models" / "champion",
    )
    report = run_training(shared_csv, settings, settings.model_dir, lambda _: None)
    return Trained(settings, report, workdir)


@pytest.fixture(scope="session")
def small_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real bundle (tests/factories) with reference distributions of its training
    rows, as training writes them."""
    from bankrisk.monitoring.reference import reference_profiles
    from bankrisk.schema import FIELD_NAMES
    from factories import make_bundle, make_raw

    bundle = make_bundle()
    raw, _ = make_raw(3000, seed=5)
    names = [f["name"] for f in bundle.describe()["features"]]
    features = bundle.features(raw)
    bundle.metadata["reference_distributions"] = reference_profiles(
        {
            **{name: raw[:, j] for j, name in enumerate(FIELD_NAMES)},
            **{f"feature:{n}": features[:, i] for i, n in enumerate(names)},
            "probability_of_default": bundle.predict_pd(raw),
        }
    )
    bundle.metadata["data_fingerprint"]["dev_rows"] = 3000
    directory = tmp_path_factory.mktemp("small-bundle")
    bundle.save(directory)
    return directory
