"""The serving bundle: a directory with `metadata.json`, `model.npz`, `model_card.md` and
their `manifest.json` of checksums, nothing pickled (files and checks: `bundle.store`).

`ModelBundle` is the one scoring path for everything downstream of training: the API, the
`evaluate` command, the MLflow pyfunc wrapper and batch scoring. It needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.contents import read_contents
from bankrisk.bundle.policy import DECISIONS, DecisionPolicy
from bankrisk.bundle.predictors import Calibrator, Predictor
from bankrisk.bundle.store import FORMAT_VERSION, read_metadata, write_bundle
from bankrisk.features.engineering import (
    REASON_CODES,
    build_features,
    feature_groups,
    feature_names,
)

MAX_REASONS = 4


@dataclass(frozen=True)
class Scores:
    """Scores of n customers, aligned by row."""

    pd: np.ndarray
    points: np.ndarray
    grades: list[str]
    decisions: list[str]
    reasons: list[list[dict[str, str]]]


@dataclass(frozen=True, slots=True)
class RowScore:
    """The scores of one customer (`ModelBundle.score_row`)."""

    probability: float
    points: int
    grade: str
    decision: str
    reasons: list[dict[str, str]]


@dataclass
class ModelBundle:
    """A trained model, its calibration and decision policy, and its descriptive metadata."""

    predictor: Predictor
    calibrator: Calibrator
    policy: DecisionPolicy
    metadata: dict[str, Any]
    use_age: bool = False
    _reason_codes: list[dict[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Aligned with the predictor's contribution columns (REASON_CODES order).
        self._reason_codes = [
            {"code": r.code, "group": r.group, "feature": r.feature, "text": r.text}
            for r in REASON_CODES
        ]

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "bank-default-risk"))

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "0"))

    def features(self, raw: np.ndarray) -> np.ndarray:
        return build_features(raw, self.use_age)

    def predict_pd(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated PDs for raw rows (n, 23) in `schema.FIELD_NAMES` order."""
        return self.calibrator(self.predictor.logit(self.features(raw)))

    def reason_codes(self, by_group: np.ndarray) -> list[list[dict[str, str]]]:
        """Up to four reasons per row: the groups that raised the logit most, largest first.

        `by_group` holds each row's logit contributions per reason group, relative to the
        training population, so a positive value means "riskier than average because of".
        """
        order = np.argsort(-by_group, axis=1, kind="stable")[:, :MAX_REASONS]
        return [
            [self._reason_codes[j] for j in row_order if row[j] > 0]
            for row, row_order in zip(by_group, order, strict=True)
        ]

    def score(self, raw: np.ndarray, explain: bool = True) -> Scores:
        features = self.features(raw)
        if explain:
            logit, by_group = self.predictor.explain(features)
            reasons = self.reason_codes(by_group)
        else:
            logit, reasons = self.predictor.logit(features), [[] for _ in range(len(raw))]
        probability = self.calibrator(logit)
        grades = self.policy.grades
        return Scores(
            pd=probability,
            points=self.policy.scaling.points(probability),
            grades=[grades[i] for i in self.policy.grade_index(probability)],
            decisions=[DECISIONS[i] for i in self.policy.decision_index(probability)],
            reasons=reasons,
        )

    def score_row(self, raw: list[float]) -> RowScore:
        """`score` of one valid raw row (23 floats in FIELD_NAMES order): the same features
        and model call, then plain Python rather than numpy for the policy and the reasons,
        whose per-call overhead would be most of the cost for a single customer."""
        features = self.features(np.array([raw]))
        logit, by_group = self.predictor.explain(features)
        probability = float(self.calibrator(logit)[0])
        grade, decision = self.policy.grade_and_decision(probability)
        contributions: list[float] = by_group[0].tolist()
        # sorted() is stable, as the argsort in `reason_codes`.
        order = sorted(range(len(contributions)), key=lambda j: -contributions[j])
        return RowScore(
            probability=probability,
            points=self.policy.scaling.points_one(probability),
            grade=grade,
            decision=decision,
            reasons=[self._reason_codes[j] for j in order[:MAX_REASONS] if contributions[j] > 0],
        )

    # ---- persistence -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The metadata with what this code derives: features, reason codes, policy."""
        return {
            **self.metadata,
            "format_version": FORMAT_VERSION,
            "predictor": self.predictor.kind,
            "calibration": self.calibrator.to_dict(),
            "use_age": self.use_age,
            "features": [
                {"name": n, "reason_group": g}
                for n, g in zip(
                    feature_names(self.use_age), feature_groups(self.use_age), strict=True
                )
            ],
            "reason_codes": self._reason_codes,
            "policy": self.policy.to_dict(),
        }

    def save(self, directory: Path | str, model_card: str | None = None) -> None:
        """Write the bundle, with its model card if given, sealed by a manifest; `directory`
        is replaced in one swap (never left half-written)."""
        write_bundle(Path(directory), self.predictor.to_arrays(), self.describe(), model_card)

    @classmethod
    def load(cls, directory: Path | str) -> ModelBundle:
        """Load and verify a bundle: every file against the manifest, every field the code
        reads, and one probe run of the model; any problem raises BundleError naming it."""
        directory = Path(directory)
        metadata = read_metadata(directory)
        contents = read_contents(directory, metadata)
        return cls(
            contents.predictor, contents.calibrator, contents.policy, metadata, contents.use_age
        )
