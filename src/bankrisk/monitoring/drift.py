"""`bankrisk monitor drift`: logged traffic against the bundle's frozen training bins.

For every input field, every engineered feature (CSI per characteristic), the PD and the
score: the PSI against the frozen bins, its status (`ok` below the warn threshold, `warn`,
`alert` from the alert threshold) and the PSI expected under no drift at this window size.
Continuous inputs also get a Kolmogorov-Smirnov test and code fields (SEX, EDUCATION,
MARRIAGE, PAY_x) a chi-square goodness-of-fit test, both against the reference.

Approximations, documented:

- KS: the reference CDF is known only at the frozen inner edges (the cumulative reference
  shares), so the statistic is the largest CDF gap at those edges: a lower bound of the exact
  KS statistic, its p-value (Kolmogorov distribution at n*N/(n+N) rows) is conservative.
- Chi-square: current bin counts against n times the reference shares (floored at EPSILON),
  B - 1 degrees of freedom, the reference taken as known.
- Score: the bundle stores the PD's bins; the score is a decreasing function of the PD
  (points = offset + factor * ln((1 - PD) / PD)), so its bins are the PD edges mapped through
  the bundle's score scaling, in reverse order. Scores are rounded to whole points, which can
  move a score lying within half a point of an edge into the next bin.
- Engineered features are computed from the logged inputs by the bundle's own feature code and
  matched by the names in its metadata; a reference with no matching feature is skipped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bankrisk.errors import BankRiskError, MissingBundleError
from bankrisk.monitoring.psi import (
    ALERT,
    EPSILON,
    WARN,
    FrozenBins,
    expected_psi,
    psi_from_counts,
    status,
)
from bankrisk.prediction_log.columns import PERIOD, Period, Selection, read_columns
from bankrisk.prediction_log.store import PredictionStore
from bankrisk.schema import (
    BILL_AMOUNTS,
    FIELD_NAMES,
    PAY_AMOUNTS,
    PAY_STATUS,
    required_fields,
)

CONTINUOUS_INPUTS = ("LIMIT_BAL", "AGE", *BILL_AMOUNTS, *PAY_AMOUNTS)
CODE_INPUTS = ("SEX", "EDUCATION", "MARRIAGE", *PAY_STATUS)
PD_REFERENCE = "probability_of_default"
FEATURE_PREFIX = "feature:"
# The window is too small when, under no drift, PSI would reach the warn threshold this often.
SMALL_WINDOW_QUANTILE = 0.99


class DriftInputError(BankRiskError):
    """The bundle or the window cannot be compared (missing or malformed reference, no rows,
    a window that ends before it starts, thresholds out of order)."""


def jsonable(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (mappings and sequences recursively)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def fields_of(result: Any) -> dict[str, Any]:
    """A result's fields by name, in order: the dict form of a result with nothing to
    flatten or leave out."""
    return {field.name: getattr(result, field.name) for field in fields(result)}


def json_text(data: Mapping[str, Any]) -> str:
    """What `bankrisk monitor ... --json` prints (without the final newline)."""
    return json.dumps(jsonable(data), indent=2)


@dataclass(frozen=True)
class DistributionTest:
    """A Kolmogorov-Smirnov (`ks`) or chi-square (`chi2`, with `dof`) test against the
    reference."""

    test: str
    statistic: float
    p_value: float
    dof: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"test": self.test, "statistic": self.statistic}
        if self.dof is not None:
            out["dof"] = self.dof
        out["p_value"] = self.p_value
        return out


@dataclass(frozen=True)
class CharacteristicDrift:
    """One characteristic (input, engineered feature, PD or score) against its frozen bins:
    PSI and its status, the no-drift expectation, the shares per bin, and the KS or
    chi-square test when one applies (none on an empty window or for features)."""

    psi: float
    status: str
    n: int
    bins: int
    expected_psi: float
    psi_99_no_drift: float
    window_too_small: bool
    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    test: DistributionTest | None = None

    @property
    def p_value(self) -> float | None:
        return None if self.test is None else self.test.p_value

    def as_dict(self) -> dict[str, Any]:
        return {
            "psi": self.psi,
            "status": self.status,
            "n": self.n,
            "bins": self.bins,
            "expected_psi": self.expected_psi,
            "psi_99_no_drift": self.psi_99_no_drift,
            "window_too_small": self.window_too_small,
            "edges": list(self.edges),
            "reference": list(self.reference),
            "current": list(self.current),
            **(self.test.as_dict() if self.test is not None else {}),
        }


@dataclass(frozen=True)
class Thresholds:
    """PSI from which a status is `warn`, and `alert`."""

    warn: float
    alert: float


@dataclass(frozen=True)
class ModelRef:
    """The bundle compared against (as its metadata names it)."""

    name: str | None
    version: str | None


@dataclass(frozen=True)
class Window:
    """The window read from the log, ISO 8601 (None: from the first row / up to now)."""

    since: str | None
    until: str | None


@dataclass(frozen=True)
class DriftResult:
    """`bankrisk monitor drift`: every characteristic of the window against the bundle's
    frozen training bins, the alerts and warnings (characteristic names, features as
    `feature:NAME`), and notes for the user. `model` and `window` are set by `run_drift`."""

    n: int
    reference_n: int | None
    thresholds: Thresholds
    window_too_small: bool
    min_rows: int | None
    expected_psi_no_drift: float
    inputs: Mapping[str, CharacteristicDrift]
    features: Mapping[str, CharacteristicDrift]
    score: CharacteristicDrift | None
    pd: CharacteristicDrift | None
    alerts: tuple[str, ...]
    warnings: tuple[str, ...]
    skipped: tuple[str, ...]
    notes: tuple[str, ...]
    model: ModelRef | None = None
    window: Window | None = None
    rows: str | None = None  # which logged rows (`Selection.describe`)

    def characteristics(self) -> list[tuple[str, CharacteristicDrift]]:
        """Every characteristic by name: the inputs, `feature:NAME`, then `pd` and `score`."""
        items = list(self.inputs.items())
        items += [(FEATURE_PREFIX + k, v) for k, v in self.features.items()]
        items += [(k, v) for k, v in (("pd", self.pd), ("score", self.score)) if v is not None]
        return items

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "reference_n": self.reference_n,
            "thresholds": {"warn": self.thresholds.warn, "alert": self.thresholds.alert},
            "window_too_small": self.window_too_small,
            "min_rows": self.min_rows,
            "expected_psi_no_drift": self.expected_psi_no_drift,
            "inputs": {k: v.as_dict() for k, v in self.inputs.items()},
            "features": {k: v.as_dict() for k, v in self.features.items()},
            "score": None if self.score is None else self.score.as_dict(),
            "pd": None if self.pd is None else self.pd.as_dict(),
            "alerts": list(self.alerts),
            "warnings": list(self.warnings),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
        }
        if self.model is not None:
            out["model"] = {"name": self.model.name, "version": self.model.version}
        if self.window is not None:
            out["window"] = {"since": self.window.since, "until": self.window.until}
        if self.rows is not None:
            out["rows"] = self.rows
        return out

    def to_json(self) -> str:
        """The JSON `bankrisk monitor drift --json` prints (NaN as null)."""
        return json_text(self.as_dict())


def _bins(name: str, profile: Any) -> FrozenBins:
    """The frozen bins of a reference entry; a malformed one is a DriftInputError."""
    try:
        return FrozenBins.from_profile(name, profile)
    except ValueError as exc:  # FrozenBins names the entry and what is wrong with it
        raise DriftInputError(str(exc)) from None


def _ks(bins: FrozenBins, counts: Sequence[int], n_reference: int | None) -> DistributionTest:
    n = sum(counts)
    ref_cdf = np.cumsum(bins.proportions)[:-1]
    cur_cdf = np.cumsum(np.asarray(counts, dtype=np.float64) / n)[:-1]
    d = float(np.max(np.abs(cur_cdf - ref_cdf))) if ref_cdf.size else 0.0
    n_eff = n * n_reference / (n + n_reference) if n_reference else float(n)
    p = float(stats.kstwo.sf(d, max(1, round(n_eff))))
    return DistributionTest("ks", d, p)


def _chi_square(bins: FrozenBins, counts: Sequence[int]) -> DistributionTest:
    n = sum(counts)
    expected = np.maximum(np.asarray(bins.proportions), EPSILON) * n
    observed = np.asarray(counts, dtype=np.float64)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    dof = max(1, bins.bins - 1)
    return DistributionTest("chi2", statistic, float(stats.chi2.sf(statistic, dof)), dof)


def characteristic(
    bins: FrozenBins,
    counts: Sequence[int],
    n_reference: int | None,
    warn: float,
    alert: float,
    test: str | None = None,
) -> CharacteristicDrift:
    """PSI, status, no-drift expectation and (optionally) a KS or chi-square test, from the
    window's count of finite values in each bin."""
    counts = [int(c) for c in counts]
    n = sum(counts)
    value = psi_from_counts(bins.proportions, counts)
    q99 = (1.0 / max(n, 1) + (1.0 / n_reference if n_reference else 0.0)) * float(
        stats.chi2.ppf(SMALL_WINDOW_QUANTILE, max(1, bins.bins - 1))
    )
    applied = None
    if n and test == "ks":
        applied = _ks(bins, counts, n_reference)
    elif n and test == "chi2":
        applied = _chi_square(bins, counts)
    return CharacteristicDrift(
        psi=value,
        status=status(value, warn, alert),
        n=n,
        bins=bins.bins,
        expected_psi=expected_psi(bins.bins, n, n_reference),
        psi_99_no_drift=q99,
        window_too_small=n == 0 or q99 >= warn,
        edges=tuple(bins.edges),
        reference=tuple(bins.proportions),
        current=tuple(c / n for c in counts) if n else (0.0,) * bins.bins,
        test=applied,
    )


def score_bins(pd_profile: Mapping[str, Any], scaling: Mapping[str, Any]) -> FrozenBins:
    """The score's frozen bins: the PD's edges through the score scaling, reversed."""
    pd_bins = _bins(PD_REFERENCE, pd_profile)
    factor = float(scaling["points_to_double_odds"]) / math.log(2.0)
    offset = float(scaling["base_points"]) - factor * math.log(float(scaling["base_odds"]))
    floor = 1e-6

    def points(p: float) -> float:
        p = min(max(p, floor), 1.0 - floor)
        return offset + factor * math.log((1.0 - p) / p)

    edges = tuple(points(e) for e in reversed(pd_bins.edges))
    return FrozenBins(edges, tuple(reversed(pd_bins.proportions)))


def minimum_rows(max_bins: int, n_reference: int | None, warn: float) -> int | None:
    """Fewest rows for which no-drift PSI stays under `warn` 99% of the time (None: never)."""
    q = float(stats.chi2.ppf(SMALL_WINDOW_QUANTILE, max(1, max_bins - 1)))
    room = warn / q - (1.0 / n_reference if n_reference else 0.0)
    return math.ceil(1.0 / room) if room > 0 else None


@dataclass(frozen=True)
class FeatureCode:
    """A bundle's engineered features: their names, and the matrix of raw rows' features."""

    names: tuple[str, ...]
    compute: Callable[[np.ndarray], np.ndarray]


# The log's columns drift reads: the inputs, the PD and the score.
_REQUIRED_COLUMNS = [FIELD_NAMES.index(name) for name in required_fields()]
DRIFT_COLUMNS = (*FIELD_NAMES, "pd", "score")


@dataclass(frozen=True)
class Compared:
    """One characteristic compared with its frozen bins: its name in the results (an input,
    `feature:NAME`, `pd`, `score`), the bins, its column in what is counted, and its test."""

    name: str
    bins: FrozenBins
    column: int
    test: str | None = None

    @cached_property
    def inner(self) -> np.ndarray:
        return np.asarray(self.bins.inner, dtype=np.float64)

    def count(self, values: np.ndarray) -> np.ndarray:
        """Finite values per bin: `FrozenBins.counts` in numpy, for chunks of a large log
        (`monitoring.psi` stays free of numpy: the log writer imports it)."""
        values = values[np.isfinite(values)]
        where = np.searchsorted(self.inner, values, side="right")
        return np.bincount(where, minlength=self.bins.bins).astype(np.int64)


@dataclass(frozen=True)
class DriftPlan:
    """What a bundle's metadata lets drift compare: inputs (columns of the raw matrix),
    engineered features (columns of `features`' matrix), the PD and the score (0 and 1 of
    the outputs), what is skipped and why, and the reference's size."""

    inputs: tuple[Compared, ...]
    features: tuple[Compared, ...]
    outputs: tuple[Compared, ...]
    skipped_inputs: tuple[str, ...]
    skipped_features: tuple[str, ...]
    skipped_outputs: tuple[str, ...]
    feature_code: FeatureCode | None
    n_reference: int | None

    @classmethod
    def of(cls, metadata: Mapping[str, Any], features: FeatureCode | None) -> DriftPlan:
        reference = metadata.get("reference_distributions")
        if not isinstance(reference, Mapping) or not reference:
            raise DriftInputError("the bundle's metadata.json has no reference_distributions")
        fingerprint = metadata.get("data_fingerprint") or {}
        n_reference = fingerprint.get("dev_rows") or fingerprint.get("rows")
        inputs = tuple(
            Compared(
                name,
                _bins(name, reference[name]),
                j,
                "ks" if name in CONTINUOUS_INPUTS else "chi2",
            )
            for j, name in enumerate(FIELD_NAMES)
            if name in reference
        )
        skipped_inputs = tuple(name for name in FIELD_NAMES if name not in reference)
        compared_features: list[Compared] = []
        skipped_features: list[str] = []
        if features is not None:
            index = {n: i for i, n in enumerate(features.names)}
            wanted = [
                str(f["name"]) for f in metadata.get("features", []) if isinstance(f, Mapping)
            ]
            for name in wanted:
                key = FEATURE_PREFIX + name
                if key not in reference or name not in index:
                    skipped_features.append(key)
                else:
                    compared_features.append(
                        Compared(name, _bins(key, reference[key]), index[name])
                    )
        outputs: list[Compared] = []
        skipped_outputs: list[str] = []
        if PD_REFERENCE in reference:
            outputs.append(Compared("pd", _bins(PD_REFERENCE, reference[PD_REFERENCE]), 0, "ks"))
            scaling = (metadata.get("policy") or {}).get("score_scaling")
            if scaling:
                outputs.append(
                    Compared("score", score_bins(reference[PD_REFERENCE], scaling), 1, "ks")
                )
            else:
                skipped_outputs.append("score")
        else:
            skipped_outputs.extend(["pd", "score"])
        if not inputs and not compared_features and not outputs:
            raise DriftInputError(
                "the bundle's reference_distributions describe no logged input, engineered "
                "feature or PD: nothing to compare"
            )
        return cls(
            inputs=inputs,
            features=tuple(compared_features),
            outputs=tuple(outputs),
            skipped_inputs=skipped_inputs,
            skipped_features=tuple(skipped_features),
            skipped_outputs=tuple(skipped_outputs),
            feature_code=features,
            n_reference=int(n_reference) if n_reference else None,
        )


@dataclass
class BinCounts:
    """A window's counts in every compared characteristic's bins, added chunk by chunk (the
    memory of the counts, whatever the number of rows)."""

    plan: DriftPlan
    rows: int = 0
    complete: int = 0  # rows with every input, whose features were counted
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def _add(self, name: str, counts: np.ndarray) -> None:
        held = self.counts.get(name)
        self.counts[name] = counts if held is None else held + counts

    def add(self, raw: np.ndarray, outputs: np.ndarray) -> None:
        """Count rows: `raw` (FIELD_NAMES order) and `outputs` (the PD and the score)."""
        self.rows += len(raw)
        for item in self.plan.inputs:
            self._add(item.name, item.count(raw[:, item.column]))
        for item in self.plan.outputs:
            self._add(item.name, item.count(outputs[:, item.column]))
        # An optional field (a protected attribute) absent is no missing input: features
        # of it (AGE with use_age) are NaN then, and `Compared.count` skips them.
        complete = np.all(np.isfinite(raw[:, _REQUIRED_COLUMNS]), axis=1)
        if self.plan.feature_code is None or not complete.any():
            return
        self.complete += int(complete.sum())
        matrix = self.plan.feature_code.compute(raw[complete])
        for item in self.plan.features:
            self._add(FEATURE_PREFIX + item.name, item.count(matrix[:, item.column]))

    def merge(self, other: BinCounts) -> None:
        """Add the counts of other rows made with the same plan (Spark's executors count
        their partitions apart; the driver sums them)."""
        self.rows += other.rows
        self.complete += other.complete
        for name, counts in other.counts.items():
            self._add(name, counts)

    def add_chunk(self, chunk: Mapping[str, np.ndarray], rows: np.ndarray | None = None) -> None:
        """Count a chunk of `DRIFT_COLUMNS` (only `rows` of it: a boolean mask)."""
        raw = np.column_stack([chunk[name] for name in FIELD_NAMES])
        outputs = np.column_stack([chunk["pd"], chunk["score"]])
        if rows is not None:
            raw, outputs = raw[rows], outputs[rows]
        self.add(raw, outputs)

    def result(self, warn: float, alert: float) -> DriftResult:
        """The drift report of the rows counted."""
        plan, n_reference = self.plan, self.plan.n_reference
        if not self.rows:
            raise DriftInputError("no logged predictions in the window: nothing to compare")

        def compared(item: Compared, key: str) -> CharacteristicDrift:
            counts = self.counts.get(key, np.zeros(item.bins.bins, dtype=np.int64))
            return characteristic(item.bins, counts.tolist(), n_reference, warn, alert, item.test)

        notes: list[str] = []
        skipped = list(plan.skipped_inputs)
        inputs = {item.name: compared(item, item.name) for item in plan.inputs}
        feature_results: dict[str, CharacteristicDrift] = {}
        if plan.feature_code is None:
            notes.append(
                "engineered features skipped: the bundle's feature code could not be loaded"
            )
        elif self.complete:
            feature_results = {
                item.name: compared(item, FEATURE_PREFIX + item.name) for item in plan.features
            }
            skipped.extend(plan.skipped_features)
            if self.complete < self.rows:
                notes.append(
                    f"{self.rows - self.complete} rows with a missing input left out "
                    "of the engineered features"
                )
        outputs = {item.name: compared(item, item.name) for item in plan.outputs}
        skipped.extend(plan.skipped_outputs)
        return _drift_result(
            self.rows, n_reference, inputs, feature_results, outputs, skipped, notes, warn, alert
        )


def _drift_result(
    n: int,
    n_reference: int | None,
    inputs: dict[str, CharacteristicDrift],
    feature_results: dict[str, CharacteristicDrift],
    outputs: dict[str, CharacteristicDrift],
    skipped: list[str],
    notes: list[str],
    warn: float,
    alert: float,
) -> DriftResult:
    every = {
        **inputs,
        **{FEATURE_PREFIX + k: v for k, v in feature_results.items()},
        **outputs,
    }
    alerts = [k for k, v in every.items() if v.status == ALERT]
    warnings = [k for k, v in every.items() if v.status == WARN]
    max_bins = max(v.bins for v in every.values())
    needed = minimum_rows(max_bins, n_reference, warn)
    too_small = any(v.window_too_small for v in every.values())
    if too_small:
        notes.append(
            f"window too small: {n} rows; under no drift the PSI of a {max_bins}-bin "
            f"characteristic exceeds the warn threshold {warn:g} 1% of the time or more "
            f"(expected PSI {expected_psi(max_bins, n, n_reference):.4f}); "
            f"use at least {needed} rows"
            if needed
            else "window too small"
        )
    return DriftResult(
        n=n,
        reference_n=n_reference,
        thresholds=Thresholds(warn, alert),
        window_too_small=too_small,
        min_rows=needed,
        expected_psi_no_drift=expected_psi(max_bins, n, n_reference),
        inputs=inputs,
        features=feature_results,
        score=outputs.get("score"),
        pd=outputs.get("pd"),
        alerts=tuple(alerts),
        warnings=tuple(warnings),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def bundle_features(model_dir: Path) -> tuple[FeatureCode | None, str | None]:
    """The bundle's own feature code (names from its metadata), or None and why not."""
    from bankrisk.bundle.model_bundle import ModelBundle

    try:
        bundle = ModelBundle.load(model_dir)
    except BankRiskError as exc:
        return None, str(exc)
    names = tuple(str(f["name"]) for f in bundle.describe().get("features", []))

    def compute(raw: np.ndarray) -> np.ndarray:
        return np.asarray(bundle.features(raw), dtype=np.float64)

    return FeatureCode(names, compute), None


def check_window(since: datetime | None, until: datetime | None) -> None:
    """The window must end after it starts (either end may be open)."""
    if since is not None and until is not None and since >= until:
        raise DriftInputError(
            f"--since {since.isoformat()} is not before --until {until.isoformat()}"
        )


def check_thresholds(warn: float, alert: float) -> None:
    """PSI thresholds need 0 < warn < alert: the rule BANKRISK_DRIFT_WARN_PSI and
    BANKRISK_DRIFT_ALERT_PSI follow (`Settings`), for thresholds given as options."""
    if not 0 < warn < alert:
        raise DriftInputError(f"--warn {warn} and --alert {alert}: need 0 < warn < alert")


@dataclass(frozen=True)
class PeriodDrift:
    """The drift of one period's rows (a UTC day, ISO week from its Monday, or month)."""

    period: str
    result: DriftResult

    def as_dict(self) -> dict[str, Any]:
        result = self.result
        return {
            "period": self.period,
            "n": result.n,
            "window_too_small": result.window_too_small,
            "alerts": list(result.alerts),
            "warnings": list(result.warnings),
            "characteristics": {
                name: {"psi": item.psi, "status": item.status}
                for name, item in result.characteristics()
            },
        }


@dataclass(frozen=True)
class DriftOverTime:
    """`bankrisk monitor drift --by PERIOD`: each period's drift against the same frozen
    bins, oldest first; `rows` says which logged rows were read."""

    by: str
    rows: str
    thresholds: Thresholds
    model: ModelRef
    periods: tuple[PeriodDrift, ...]

    @property
    def latest_alerts(self) -> tuple[str, ...]:
        """The alerts of the latest period (earlier periods were current once)."""
        return self.periods[-1].result.alerts

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "rows": self.rows,
            "model": {"name": self.model.name, "version": self.model.version},
            "thresholds": {"warn": self.thresholds.warn, "alert": self.thresholds.alert},
            "periods": [p.as_dict() for p in self.periods],
        }

    def to_json(self) -> str:
        return json_text(self.as_dict())


@dataclass(frozen=True)
class PreparedDrift:
    """What drift compares a window with, checked before any row is read: the bundle's plan,
    its name and version, and why its features cannot be computed (None: they can)."""

    plan: DriftPlan
    model: ModelRef
    why_no_features: str | None

    def finish(self, result: DriftResult, selection: Selection) -> DriftResult:
        why = self.why_no_features
        notes = (*result.notes, f"engineered features skipped: {why}") if why else result.notes
        since, until = selection.since, selection.until
        return replace(
            result,
            notes=notes,
            model=self.model,
            window=Window(
                since.isoformat() if since else None, until.isoformat() if until else None
            ),
            rows=selection.describe(),
        )


def prepare_drift(
    model_dir: Path, selection: Selection, warn: float, alert: float
) -> PreparedDrift:
    """The window and thresholds checked and the bundle's plan built, before any row is
    read (errors as `run_drift`'s)."""
    check_window(selection.since, selection.until)
    check_thresholds(warn, alert)
    if not model_dir.is_dir():
        raise MissingBundleError(f"--model-dir {model_dir}: no such bundle folder")
    return load_plan(model_dir)


def load_plan(model_dir: Path) -> PreparedDrift:
    """The drift plan of the bundle in `model_dir` (a Spark executor's copy too)."""
    from bankrisk.bundle.store import read_metadata

    metadata = read_metadata(model_dir)
    features, why = bundle_features(model_dir)
    plan = DriftPlan.of(metadata, features)
    return PreparedDrift(plan, ModelRef(metadata.get("name"), metadata.get("version")), why)


def _nothing_logged(selection: Selection) -> DriftInputError:
    return DriftInputError(f"no logged predictions ({selection.describe()}): nothing to compare")


def drift_of(
    prepared: PreparedDrift, counts: BinCounts, selection: Selection, warn: float, alert: float
) -> DriftResult:
    """The drift report of the selected rows' counts, wherever they were counted (the log
    read in chunks here, a Spark run record on the executors: `spark_monitor`)."""
    if not counts.rows:
        raise _nothing_logged(selection)
    return prepared.finish(counts.result(warn, alert), selection)


def drift_over_time_of(
    prepared: PreparedDrift,
    per_period: Mapping[str, BinCounts],
    selection: Selection,
    by: Period,
    warn: float,
    alert: float,
) -> DriftOverTime:
    """`drift_of` each period's counts (by period label), oldest first."""
    if not per_period:
        raise _nothing_logged(selection)
    return DriftOverTime(
        by=by,
        rows=selection.describe(),
        thresholds=Thresholds(warn, alert),
        model=prepared.model,
        periods=tuple(
            PeriodDrift(period, drift_of(prepared, per_period[period], selection, warn, alert))
            for period in sorted(per_period)
        ),
    )


def run_drift(
    store: PredictionStore, model_dir: Path, selection: Selection, warn: float, alert: float
) -> DriftResult:
    """The selected rows of the log against the bundle in `model_dir`, read in chunks.

    DriftInputError for a window that ends before it starts, thresholds out of order or no
    rows; MissingBundleError when `model_dir` is no folder, BundleError for a broken bundle;
    PredictionLogError when the log cannot be read."""
    prepared = prepare_drift(model_dir, selection, warn, alert)
    counts = BinCounts(prepared.plan)
    for chunk in read_columns(store, DRIFT_COLUMNS, selection):
        counts.add_chunk(chunk)
    return drift_of(prepared, counts, selection, warn, alert)


def run_drift_over_time(
    store: PredictionStore,
    model_dir: Path,
    selection: Selection,
    by: Period,
    warn: float,
    alert: float,
) -> DriftOverTime:
    """`run_drift` of each period (`by`) of the selected rows, in one pass over the log."""
    prepared = prepare_drift(model_dir, selection, warn, alert)
    per_period: dict[str, BinCounts] = {}
    for chunk in read_columns(store, DRIFT_COLUMNS, selection, by=by):
        labels = chunk[PERIOD]
        for period in np.unique(labels):
            counts = per_period.setdefault(str(period), BinCounts(prepared.plan))
            counts.add_chunk(chunk, labels == period)
    return drift_over_time_of(prepared, per_period, selection, by, warn, alert)
