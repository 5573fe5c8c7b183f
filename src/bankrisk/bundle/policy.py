"""From a PD to what a credit officer acts on: points, a master-scale grade and a decision."""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import numpy as np

# A PD of exactly 0 or 1 has infinite odds; clip so that points stay finite.
_PD_FLOOR = 1e-6

APPROVE, REVIEW, DECLINE = "approve", "review", "decline"


@dataclass(frozen=True)
class ScoreScaling:
    """points = offset + factor * ln(good:bad odds); `base_points` at `base_odds`, and
    `points_to_double_odds` more points each time the good:bad odds double."""

    base_points: float
    base_odds: float
    points_to_double_odds: float

    @property
    def factor(self) -> float:
        return self.points_to_double_odds / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_points - self.factor * math.log(self.base_odds)

    def points(self, pd: np.ndarray) -> np.ndarray:
        pd = np.minimum(np.maximum(pd, _PD_FLOOR), 1.0 - _PD_FLOOR)
        return np.asarray(np.round(self.offset + self.factor * np.log((1.0 - pd) / pd)))

    def points_one(self, probability: float) -> int:
        """`points` of one PD, in plain Python (round half to even, as numpy) but for numpy's
        `log` (`math.log` may differ in the last bit, and so a rounding)."""
        p = min(max(probability, _PD_FLOOR), 1.0 - _PD_FLOOR)
        return round(self.offset + self.factor * float(np.log((1.0 - p) / p)))


@dataclass(frozen=True)
class DecisionPolicy:
    """Cut-offs on the PD: decline from `threshold` up (the expected-cost optimum), review
    from `review_threshold` up, approve below. Grades come from a monotone master scale."""

    threshold: float
    review_threshold: float
    grade_pd_upper_bounds: tuple[float, ...]
    scaling: ScoreScaling

    def __post_init__(self) -> None:
        if not 0.0 < self.review_threshold <= self.threshold < 1.0:
            raise ValueError("cut-offs must satisfy 0 < review_threshold <= threshold < 1")

    @cached_property
    def grades(self) -> list[str]:
        """Grade labels, best first: A1, A2, B1, ... (two per letter)."""
        return [
            f"{chr(ord('A') + i // 2)}{i % 2 + 1}" for i in range(len(self.grade_pd_upper_bounds))
        ]

    def grade_bands(self) -> list[dict[str, Any]]:
        lower = [0.0, *self.grade_pd_upper_bounds[:-1]]
        return [
            {"grade": g, "pd_min": lo, "pd_max": hi}
            for g, lo, hi in zip(self.grades, lower, self.grade_pd_upper_bounds, strict=True)
        ]

    def grade_index(self, pd: np.ndarray) -> np.ndarray:
        bounds = np.asarray(self.grade_pd_upper_bounds[:-1])
        return np.searchsorted(bounds, pd, side="left")

    def decision_index(self, pd: np.ndarray) -> np.ndarray:
        """0 approve, 1 review, 2 decline."""
        return (pd >= self.review_threshold).astype(np.int64) + (pd >= self.threshold)

    def grade_and_decision(self, probability: float) -> tuple[str, str]:
        """`grade_index` and `decision_index` of one PD, in plain Python, as labels."""
        grade = self.grades[
            bisect.bisect_left(
                self.grade_pd_upper_bounds, probability, 0, len(self.grade_pd_upper_bounds) - 1
            )
        ]
        decision = (probability >= self.review_threshold) + (probability >= self.threshold)
        return grade, DECISIONS[decision]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "review_threshold": self.review_threshold,
            "grade_bands": self.grade_bands(),
            "score_scaling": asdict(self.scaling),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionPolicy:
        return cls(
            threshold=float(data["threshold"]),
            review_threshold=float(data["review_threshold"]),
            grade_pd_upper_bounds=tuple(b["pd_max"] for b in data["grade_bands"]),
            scaling=ScoreScaling(**data["score_scaling"]),
        )


DECISIONS = (APPROVE, REVIEW, DECLINE)
