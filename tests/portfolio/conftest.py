"""Fixtures of the portfolio-scoring tests: the serving tests' bundle (a small real one, saved
and loaded back) and the API's scoring core around it, plus small input files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankrisk.schema import FIELD_NAMES
from factories import make_raw
from serving.conftest import bundle, bundle_dir, scorer

__all__ = ["bundle", "bundle_dir", "scorer"]


def portfolio_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """n valid customers with ids C-0000..., one far above the training range (a warning)."""
    raw, _ = make_raw(n, seed)
    frame = pd.DataFrame(raw, columns=list(FIELD_NAMES))
    frame.loc[0, "LIMIT_BAL"] = 9e7
    frame.insert(0, "customer_id", [f"C-{i:04d}" for i in range(n)])
    return frame


@pytest.fixture(scope="session")
def portfolio_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("portfolio") / "portfolio.csv"
    portfolio_frame(2000).to_csv(path, index=False)
    return path


def matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64)
