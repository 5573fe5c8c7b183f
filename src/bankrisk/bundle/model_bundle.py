"""The serving bundle: a directory with `metadata.json` and `model.npz`, nothing pickled.

`ModelBundle` is the one scoring path for everything downstream of training: the API, the
`evaluate` command, the MLflow pyfunc wrapper and batch scoring. It needs numpy only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.policy import DECISIONS, DecisionPolicy
from bankrisk.bundle.predictors import PREDICTOR_KINDS, Calibrator, Predictor
from bankrisk.errors import BundleError
from bankrisk.features.engineering import (
    REASON_CODES,
    build_features,
    feature_groups,
    feature_names,
)

METADATA_FILE = "metadata.json"
ARRAYS_FILE = "model.npz"
BUNDLE_FORMAT_VERSION = 1
MAX_REASONS = 4
_CALIBRATION_KEYS = ("calibration_x", "calibration_y")


@dataclass(frozen=True)
class Scores:
    """Scores of n customers, aligned by row."""

    pd: np.ndarray
    points: np.ndarray
    grades: list[str]
    decisions: list[str]
    reasons: list[list[dict[str, str]]]


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
        pd = self.calibrator(logit)
        grades = self.policy.grades
        return Scores(
            pd=pd,
            points=self.policy.scaling.points(pd),
            grades=[grades[i] for i in self.policy.grade_index(pd)],
            decisions=[DECISIONS[i] for i in self.policy.decision_index(pd)],
            reasons=reasons,
        )

    # ---- persistence -------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The metadata with what this code derives: features, reason codes, policy."""
        return {
            **self.metadata,
            "format_version": BUNDLE_FORMAT_VERSION,
            "predictor": self.predictor.kind,
            "calibration": self.calibrator.method,
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

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays_path = directory / ARRAYS_FILE
        with arrays_path.open("wb") as fh:
            arrays: dict[str, Any] = {**self.predictor.to_arrays(), **self.calibrator.to_arrays()}
            np.savez(fh, **arrays)
        metadata = {**self.describe(), "arrays_sha256": _sha256(arrays_path)}
        (directory / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=_jsonable))

    @classmethod
    def load(cls, directory: Path | str) -> ModelBundle:
        """Load and verify a bundle; any problem raises BundleError with what and where."""
        directory = Path(directory)
        meta_path, arrays_path = directory / METADATA_FILE, directory / ARRAYS_FILE
        for path in (meta_path, arrays_path):
            if not path.is_file():
                raise BundleError(f"model bundle incomplete: {path} is missing")
        try:
            metadata = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(
                f"model bundle metadata {meta_path} is not valid JSON: {exc}"
            ) from exc
        if metadata.get("arrays_sha256") != _sha256(arrays_path):
            raise BundleError(f"model bundle {arrays_path} does not match its checksum")
        try:
            use_age = bool(metadata["use_age"])
            expected = [f["name"] for f in metadata["features"]]
            if expected != feature_names(use_age):
                raise BundleError(
                    "model bundle was trained on other features than this code builds; "
                    "retrain or install the matching version"
                )
            with np.load(arrays_path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            predictor = PREDICTOR_KINDS[metadata["predictor"]].from_arrays(
                {k: v for k, v in arrays.items() if k not in _CALIBRATION_KEYS}
            )
            calibrator = Calibrator.from_arrays(metadata["calibration"], arrays)
            policy = DecisionPolicy.from_dict(metadata["policy"])
        except BundleError:
            raise
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise BundleError(f"model bundle {directory} is corrupt: {exc!r}") from exc
        return cls(predictor, calibrator, policy, metadata, use_age)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
