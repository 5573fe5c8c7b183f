"""Reference distributions of the training data, stored in the bundle for drift monitoring."""

from __future__ import annotations

from typing import Any

import numpy as np

N_QUANTILE_BINS = 10


def decile_profile(values: np.ndarray) -> dict[str, Any]:
    """Decile bin edges of `values` and the share of rows in each bin.

    Repeated edges (a column with few distinct values) are merged, so the bins may be fewer
    than ten; a later sample is binned with the same inner edges for a PSI comparison.
    """
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, N_QUANTILE_BINS + 1)))
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=inner.size + 1)
    return {
        "edges": edges.tolist(),
        "proportions": (counts / values.size).tolist(),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }


def reference_profiles(columns: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {name: decile_profile(values) for name, values in columns.items()}
