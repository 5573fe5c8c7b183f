"""The serving bundle: a directory with `metadata.json`, `model.npz`, `model_card.md` and
their `manifest.json` of checksums, nothing pickled (files and checks: `bundle.store`).

`ModelBundle` is the one scoring path for everything downstream of training: the API, the
`evaluate` command, the MLflow pyfunc wrapper and batch scoring. It needs numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.contents import read_contents
from bankrisk.bundle.policy import DECISIONS, DecisionPolicy
from bankrisk.bundle.predictors import Calibrator, Predictor
from bankrisk.bundle.store import FORMAT_VERSION, read_metadata, write_bundle
from bankrisk.features.engineering import (
    DEFAULT_FEATURES,
    FeatureSet,
    build_features,
    build_features_row,
    feature_groups,
    feature_names,
)
from bankrisk.features.reasons import (
    MAX_REASONS,
    REASON_CODES,
    Reason,
    ReasonPolicy,
    StatedColumns,
    measure,
    reason_frequencies,
    select_reasons,
    select_reasons_row,
    stated_columns,
)

__all__ = ["MAX_REASONS", "ModelBundle", "RowScore", "ScoreColumns", "Scores"]


@dataclass(frozen=True)
class Scores:
    """Scores of n customers, aligned by row."""

    pd: np.ndarray
    points: np.ndarray
    grades: list[str]
    decisions: list[str]
    reasons: list[list[Reason]]


@dataclass(frozen=True)
class ScoreColumns:
    """`Scores` as arrays (`ModelBundle.score_columns`): grades index `policy.grades`,
    decisions `DECISIONS`, and the reasons slot by slot (`StatedColumns`)."""

    pd: np.ndarray
    points: np.ndarray
    grade_index: np.ndarray
    decision_index: np.ndarray
    reasons: StatedColumns


@dataclass(frozen=True, slots=True)
class RowScore:
    """The scores of one customer (`ModelBundle.score_row`)."""

    probability: float
    points: int
    grade: str
    decision: str
    reasons: list[Reason]


@dataclass
class ModelBundle:
    """A trained model, its calibration and decision policy, and its descriptive metadata."""

    predictor: Predictor
    calibrator: Calibrator
    policy: DecisionPolicy
    metadata: dict[str, Any]
    reason_policy: ReasonPolicy
    feature_set: FeatureSet = DEFAULT_FEATURES

    @property
    def use_age(self) -> bool:
        return self.feature_set.use_age

    @property
    def use_education(self) -> bool:
        return self.feature_set.use_education

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "bank-default-risk"))

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "0"))

    def features(self, raw: np.ndarray) -> np.ndarray:
        return build_features(raw, self.feature_set)

    def predict_pd(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated PDs for raw rows (n, 23) in `schema.FIELD_NAMES` order."""
        return self.calibrator(self.predictor.logit(self.features(raw)))

    def reason_codes(
        self, raw: np.ndarray, features: np.ndarray, by_group: np.ndarray
    ) -> list[list[Reason]]:
        """Up to four reasons per row, largest contribution first (`features.reasons`).

        `features` are the rows' features, `by_group` each row's logit contributions per
        reason group (`Predictor.explain`), relative to the
        good-risk baseline, so a positive value means "riskier than a typical good payer
        because of"; a reason is stated only when the customer's attribute is adverse.
        """
        return select_reasons(raw, features, by_group, self.reason_policy)

    def reason_frequencies(self, raw: np.ndarray) -> dict[tuple[str, str], dict[str, int]]:
        """How often each (code, attribute) is given, or suppressed as favourable, on `raw`."""
        features = self.features(raw)
        _, by_group = self.predictor.explain(features)
        return reason_frequencies(raw, features, by_group, self.reason_policy)

    def score(self, raw: np.ndarray, explain: bool = True) -> Scores:
        features = self.features(raw)
        if explain:
            logit, by_group = self.predictor.explain(features)
            reasons = self.reason_codes(raw, features, by_group)
        else:
            logit, reasons = self.predictor.logit(features), [[] for _ in range(len(raw))]
        probability = self.calibrator(logit)
        grades = self.policy.grades
        return Scores(
            pd=probability,
            points=self.policy.scaling.points(probability),
            grades=[grades[i] for i in self.policy.grade_index(probability).tolist()],
            decisions=[DECISIONS[i] for i in self.policy.decision_index(probability).tolist()],
            reasons=reasons,
        )

    def score_columns(self, raw: np.ndarray) -> ScoreColumns:
        """`score` for batch scoring: the same model call, policy and reasons, as columns
        (`stated_columns`: texts filled in bulk, no dict per reason)."""
        features = self.features(raw)
        logit, by_group = self.predictor.explain(features)
        probability = self.calibrator(logit)
        return ScoreColumns(
            pd=probability,
            points=self.policy.scaling.points(probability),
            grade_index=self.policy.grade_index(probability),
            decision_index=self.policy.decision_index(probability),
            reasons=stated_columns(measure(raw, features, self.reason_policy), by_group),
        )

    def score_row(self, raw: list[float]) -> RowScore:
        """`score` of one valid raw row (23 floats in FIELD_NAMES order), the same answer in
        plain Python around one model call: for a single customer numpy's per-call overhead
        would be most of the cost. The features and reasons are the same definitions as
        `score`'s, evaluated on floats (`features.ops`)."""
        features = build_features_row(raw, self.feature_set)
        logit, by_group = self.predictor.explain_one(features)
        probability = self.calibrator.one(logit)
        grade, decision = self.policy.grade_and_decision(probability)
        return RowScore(
            probability=probability,
            points=self.policy.scaling.points_one(probability),
            grade=grade,
            decision=decision,
            reasons=select_reasons_row(raw, features, by_group, self.reason_policy),
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
            "use_education": self.use_education,
            "features": [
                {"name": n, "reason_group": g}
                for n, g in zip(
                    feature_names(self.feature_set), feature_groups(self.feature_set), strict=True
                )
            ],
            "reason_policy": self.reason_policy.to_dict(),
            "reason_codes": [
                {
                    "code": r.code,
                    "group": r.group,
                    "feature": r.feature,
                    "attributes": [
                        {"attribute": a.key, "adverse": a.adverse, "text": a.text, "value": a.value}
                        for a in r.attributes
                    ],
                }
                for r in REASON_CODES
            ],
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
            contents.predictor,
            contents.calibrator,
            contents.policy,
            metadata,
            contents.reason_policy,
            contents.feature_set,
        )
