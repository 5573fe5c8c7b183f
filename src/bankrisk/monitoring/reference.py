"""Reference distributions of the training data, stored in the bundle for drift monitoring.

Each profile is a set of frozen bin edges and the share of training rows in each bin. A later
sample is binned with the same inner edges (`bin_index`): bin i holds edges[i] <= x <
edges[i+1], the first bin is open to the left and the last to the right.

Decile edges collapse when many values tie (zero bills and payments, repayment codes): tied
edges are merged, and a value that holds at least `POINT_MASS_SHARE` of the rows (a point
mass, such as a payment of 0) gets a bin of its own, [v, nextafter(v)), so that it is never
lumped together with its neighbours. No bin is left empty.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_QUANTILE_BINS = 10
POINT_MASS_SHARE = 1.0 / N_QUANTILE_BINS  # a decile's worth of rows


def bin_index(inner_edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value against a profile's inner edges (`edges[1:-1]`)."""
    return np.searchsorted(inner_edges, values, side="right")


def _drop_empty_bins(inner: list[float], values: np.ndarray) -> list[float]:
    """Merge every empty bin into its left neighbour (drop its lower edge)."""
    while True:
        counts = np.bincount(bin_index(np.asarray(inner), values), minlength=len(inner) + 1)
        empty = np.flatnonzero(counts == 0)
        if empty.size == 0 or not inner:
            return inner
        i = int(empty[0])
        del inner[i - 1 if i > 0 else 0]


def frozen_edges(values: np.ndarray) -> np.ndarray:
    """Decile edges with tied edges merged and every point mass in a bin of its own."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, N_QUANTILE_BINS + 1)))
    low, high = float(values.min()), float(values.max())
    inner = {float(e) for e in edges[1:-1]}
    distinct, counts = np.unique(values, return_counts=True)
    for value in distinct[counts >= POINT_MASS_SHARE * values.size].tolist():
        if value > low:
            inner.add(value)
        if value < high:
            inner.add(float(np.nextafter(value, np.inf)))
    kept = _drop_empty_bins(sorted(inner), values)
    return np.asarray([low, *kept, high], dtype=np.float64) if kept else np.asarray([low, high])


def decile_profile(values: np.ndarray) -> dict[str, Any]:
    """Frozen bin edges of `values` (see `frozen_edges`) and the share of rows in each bin."""
    values = np.asarray(values, dtype=np.float64)
    edges = frozen_edges(values)
    inner = edges[1:-1]
    counts = np.bincount(bin_index(inner, values), minlength=inner.size + 1)
    return {
        "edges": edges.tolist(),
        "proportions": (counts / values.size).tolist(),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }


def reference_profiles(columns: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    return {name: decile_profile(values) for name, values in columns.items()}
