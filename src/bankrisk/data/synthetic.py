"""Synthetic customers: valid rows with a known signal, for tests and demo bundles.

Never a stand-in for real data: the default risk depends only on the September repayment
status and utilisation, so a model trained on it learns exactly that.
"""

from __future__ import annotations

import numpy as np

from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS


def synthetic_customers(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Raw rows (n, 23) in FIELD_NAMES order, within every schema range, and 0/1 labels."""
    rng = np.random.default_rng(seed)
    limit = rng.choice([10_000, 50_000, 100_000, 200_000, 500_000], n).astype(float)
    status = rng.choice([-2, -1, 0, 0, 0, 1, 2, 3], size=(n, 6)).astype(float)
    bills = limit[:, None] * rng.uniform(-0.05, 1.0, size=(n, 6))
    paid = np.abs(bills) * rng.uniform(0.0, 0.3, size=(n, 6))
    columns = {
        "LIMIT_BAL": limit,
        "SEX": rng.integers(1, 3, n),
        "EDUCATION": rng.integers(0, 7, n),
        "MARRIAGE": rng.integers(0, 4, n),
        "AGE": rng.integers(21, 70, n),
    }
    for j, name in enumerate(PAY_STATUS):
        columns[name] = status[:, j]
    for j, name in enumerate(BILL_AMOUNTS):
        columns[name] = bills[:, j]
    for j, name in enumerate(PAY_AMOUNTS):
        columns[name] = paid[:, j]
    raw = np.column_stack([np.asarray(columns[name], dtype=float) for name in FIELD_NAMES])
    risk = -1.5 + 0.8 * np.maximum(status[:, 0], 0) + 1.0 * (bills[:, 0] / limit)
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-risk))).astype(np.int64)
    return raw, labels
