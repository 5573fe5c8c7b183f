"""From a verified bundle's files to the objects that score: every field checked, by name.

A bundle that passed its checksums can still be wrong inside (written by a buggy or foreign
tool, or edited and resealed). Loading checks the type and range of every field the code
reads and runs the model once on a probe batch, so that a bad bundle is refused at start-up
with a message naming the file and field, never a traceback at the first request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import PREDICTOR_KINDS, Calibrator, Predictor
from bankrisk.bundle.store import ARRAYS_FILE, METADATA_FILE
from bankrisk.errors import BundleError
from bankrisk.features.engineering import FeatureSet, feature_names
from bankrisk.features.reasons import REASON_CODES, ReasonPolicy

_PROBE_ROWS = 2


@dataclass(frozen=True)
class Contents:
    predictor: Predictor
    calibrator: Calibrator
    policy: DecisionPolicy
    reason_policy: ReasonPolicy
    feature_set: FeatureSet


def read_contents(directory: Path, metadata: dict[str, Any]) -> Contents:
    """Parse and check the metadata fields and the arrays the scoring code uses."""
    meta = Fields(metadata, directory / METADATA_FILE)
    for key in ("name", "version"):
        if key in metadata:
            meta.string(key)
    feature_set = FeatureSet(meta.boolean("use_age"), meta.boolean("use_education"))
    names = [f.string("name") for f in meta.objects("features")]
    if names != feature_names(feature_set):
        raise BundleError(
            f"model bundle {meta.path}: field 'features' lists other features than this "
            "code builds (trained on other features); retrain or install the matching version"
        )
    kind = meta.choice("predictor", tuple(PREDICTOR_KINDS))
    calibration = meta.object("calibration")
    calibration.choice("method", (Calibrator.method,))
    calibrator = Calibrator(calibration.number("slope"), calibration.number("intercept"))
    policy = _policy(meta.object("policy"))
    reason_policy = _reason_policy(meta.object("reason_policy"))
    if "input_fields" in metadata:
        for field in meta.objects("input_fields"):
            field.string("name")
            for bound in ("train_min", "train_max"):
                if bound in field.data:
                    field.number(bound)
    predictor = _predictor(directory / ARRAYS_FILE, kind, len(names))
    return Contents(predictor, calibrator, policy, reason_policy, feature_set)


def _reason_policy(reasons: Fields) -> ReasonPolicy:
    low = reasons.number("low_credit_limit")
    baseline = reasons.object("baseline")
    rows = baseline.number("rows")
    if low <= 0 or rows < 1 or not rows.is_integer():
        raise BundleError(
            f"model bundle {reasons.path}: fields '{reasons.prefix}low_credit_limit' ({low}) "
            f"and '{baseline.prefix}rows' ({rows}) must be > 0 and a count >= 1"
        )
    return ReasonPolicy(low, int(rows), baseline.string("population"))


def _policy(policy: Fields) -> DecisionPolicy:
    threshold = policy.number("threshold")
    review = policy.number("review_threshold")
    if not 0.0 < review <= threshold < 1.0:
        raise BundleError(
            f"model bundle {policy.path}: fields '{policy.prefix}review_threshold' ({review}) "
            f"and '{policy.prefix}threshold' ({threshold}) must satisfy "
            "0 < review_threshold <= threshold < 1"
        )
    bands = policy.objects("grade_bands")
    bounds = tuple(band.number("pd_max") for band in bands)
    if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0 or bounds[-1] != 1.0:
        raise BundleError(
            f"model bundle {policy.path}: field '{policy.prefix}grade_bands' pd_max values "
            f"{list(bounds)} must rise strictly from above 0 to 1.0"
        )
    scaling = policy.object("score_scaling")
    base_odds = scaling.number("base_odds")
    double = scaling.number("points_to_double_odds")
    if base_odds <= 0 or double == 0:
        raise BundleError(
            f"model bundle {policy.path}: fields '{scaling.prefix}base_odds' ({base_odds}) and "
            f"'{scaling.prefix}points_to_double_odds' ({double}) must be > 0 and != 0"
        )
    return DecisionPolicy(
        threshold, review, bounds, ScoreScaling(scaling.number("base_points"), base_odds, double)
    )


def _predictor(path: Path, kind: str, n_features: int) -> Predictor:
    """The model from the arrays file, run once on a probe batch to prove it works."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as exc:  # zipfile, zlib and numpy raise many types for a damaged archive
        raise BundleError(f"model bundle {path} is not a readable numpy archive: {exc}") from exc
    try:
        predictor: Predictor = PREDICTOR_KINDS[kind].from_arrays(arrays)
    except KeyError as exc:
        raise BundleError(f"model bundle {path} lacks the array {exc} of its {kind} model") from exc
    except Exception as exc:  # numpy raises many types for arrays of the wrong shape
        raise BundleError(f"model bundle {path} holds no valid {kind} model: {exc!r}") from exc
    try:
        logit, by_group = predictor.explain(np.zeros((_PROBE_ROWS, n_features)))
    except Exception as exc:  # onnxruntime raises its own types for a corrupt graph
        raise BundleError(
            f"model bundle {path}: its {kind} model does not run: {type(exc).__name__}: {exc}"
        ) from exc
    expected = ((_PROBE_ROWS,), (_PROBE_ROWS, len(REASON_CODES)))
    if (np.shape(logit), np.shape(by_group)) != expected:
        raise BundleError(
            f"model bundle {path}: its {kind} model returns shapes "
            f"{np.shape(logit)} and {np.shape(by_group)} for {_PROBE_ROWS} rows of "
            f"{n_features} features; expected {expected[0]} and {expected[1]}"
        )
    if not (np.isfinite(logit).all() and np.isfinite(by_group).all()):
        raise BundleError(f"model bundle {path}: its {kind} model returns non-finite values")
    return predictor


class Fields:
    """Typed reads of a JSON object's fields: a missing or ill-typed field is a BundleError
    naming the file and the field's dotted path."""

    def __init__(self, data: Mapping[str, Any], path: Path, prefix: str = "") -> None:
        self.data = data
        self.path = path
        self.prefix = prefix

    def _fail(self, key: str, expected: str, value: object) -> BundleError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return BundleError(
            f"model bundle {self.path}: field '{self.prefix}{key}' must be {expected}, "
            f"got {shown}"
        )

    def get(self, key: str) -> Any:
        if key not in self.data:
            raise BundleError(f"model bundle {self.path}: field '{self.prefix}{key}' is missing")
        return self.data[key]

    def number(self, key: str) -> float:
        value = self.get(key)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise self._fail(key, "a finite number", value)
        return float(value)

    def string(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def boolean(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.get(key)
        if value not in options:
            raise self._fail(key, f"one of {', '.join(options)}", value)
        return str(value)

    def object(self, key: str) -> Fields:
        value = self.get(key)
        if not isinstance(value, dict):
            raise self._fail(key, "an object", value)
        return Fields(value, self.path, f"{self.prefix}{key}.")

    def objects(self, key: str) -> list[Fields]:
        value = self.get(key)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self._fail(key, "a list of objects", value)
        return [Fields(v, self.path, f"{self.prefix}{key}[{i}].") for i, v in enumerate(value)]
