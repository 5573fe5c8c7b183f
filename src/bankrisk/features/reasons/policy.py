"""What reasons are measured against and how many are stated: the policy stored in the bundle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bankrisk.schema import FIELD_NAMES

# At most this many reasons are stated per customer.
MAX_REASONS = 4
# The good-risk reference population contributions are centred on (`ReasonPolicy`).
BASELINE_POPULATION = "development rows that did not default"
_LIMIT = FIELD_NAMES.index("LIMIT_BAL")


@dataclass(frozen=True)
class ReasonPolicy:
    """What reasons are measured against, stored in the bundle: the good-risk baseline the
    contributions are centred on (described; the vector is the predictor's `reference`) and
    the credit limit at or below which a limit is called low (the development rows' lower
    quartile)."""

    low_credit_limit: float
    baseline_rows: int
    baseline_population: str = BASELINE_POPULATION

    @classmethod
    def from_development(cls, raw: np.ndarray, labels: np.ndarray) -> ReasonPolicy:
        limit = float(np.quantile(raw[:, _LIMIT], 0.25, method="lower"))
        return cls(low_credit_limit=limit, baseline_rows=int(np.sum(labels == 0)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": {"population": self.baseline_population, "rows": self.baseline_rows},
            "low_credit_limit": self.low_credit_limit,
            "max_reasons": MAX_REASONS,
        }
