"""Shared fixtures: the read-only data files in ../shared/data (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from factories import make_raw


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
