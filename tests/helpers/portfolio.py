"""Small portfolio files for the portfolio-scoring tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw


def portfolio_frame(n: int, seed: int = 3) -> pd.DataFrame:
    """n valid customers with ids C-0000..., one far above the training range (a warning)."""
    raw, _ = make_raw(n, seed)
    frame = pd.DataFrame(raw, columns=list(FIELD_NAMES))
    frame.loc[0, "LIMIT_BAL"] = 9e7
    frame.insert(0, "customer_id", [f"C-{i:04d}" for i in range(n)])
    return frame


def matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64)
