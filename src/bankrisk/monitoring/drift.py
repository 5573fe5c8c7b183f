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
from dataclasses import dataclass, fields, replace
from datetime import datetime
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
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS

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
    values: np.ndarray,
    n_reference: int | None,
    warn: float,
    alert: float,
    test: str | None = None,
) -> CharacteristicDrift:
    """PSI, status, no-drift expectation and (optionally) a KS or chi-square test."""
    values = values[np.isfinite(values)]
    counts = bins.counts(values.tolist())
    n = int(values.size)
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


FeatureFn = Callable[[np.ndarray], tuple[list[str], np.ndarray]]


def compute_drift(
    rows: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    features: FeatureFn | None,
    *,
    warn: float = 0.10,
    alert: float = 0.25,
) -> DriftResult:
    """The drift report of logged rows (`PredictionStore.read_predictions`) against the
    bundle's `reference_distributions`; `features(raw)` gives (names, matrix) of the
    engineered features of raw rows (None: features skipped)."""
    reference = metadata.get("reference_distributions")
    if not isinstance(reference, Mapping) or not reference:
        raise DriftInputError("the bundle's metadata.json has no reference_distributions")
    if not rows:
        raise DriftInputError("no logged predictions in the window: nothing to compare")
    fingerprint = metadata.get("data_fingerprint") or {}
    n_reference = fingerprint.get("dev_rows") or fingerprint.get("rows")
    n_reference = int(n_reference) if n_reference else None

    def column(name: str) -> np.ndarray:
        return np.asarray(
            [np.nan if r.get(name) is None else float(r[name]) for r in rows], dtype=np.float64
        )

    notes: list[str] = []
    skipped: list[str] = []
    inputs: dict[str, CharacteristicDrift] = {}
    raw = np.column_stack([column(name) for name in FIELD_NAMES])
    for j, name in enumerate(FIELD_NAMES):
        if name not in reference:
            skipped.append(name)
            continue
        test = "ks" if name in CONTINUOUS_INPUTS else "chi2"
        bins = _bins(name, reference[name])
        inputs[name] = characteristic(bins, raw[:, j], n_reference, warn, alert, test)

    feature_results: dict[str, CharacteristicDrift] = {}
    wanted = [str(f["name"]) for f in metadata.get("features", []) if isinstance(f, Mapping)]
    complete = np.all(np.isfinite(raw), axis=1)
    if features is None:
        notes.append("engineered features skipped: the bundle's feature code could not be loaded")
    elif complete.any():
        names, matrix = features(raw[complete])
        index = {n: i for i, n in enumerate(names)}
        for name in wanted:
            key = FEATURE_PREFIX + name
            if key not in reference or name not in index:
                skipped.append(key)
                continue
            bins = _bins(key, reference[key])
            feature_results[name] = characteristic(
                bins, matrix[:, index[name]], n_reference, warn, alert
            )
        if int(complete.sum()) < len(rows):
            notes.append(
                f"{len(rows) - int(complete.sum())} rows with a missing input left out "
                "of the engineered features"
            )

    outputs: dict[str, CharacteristicDrift] = {}
    if PD_REFERENCE in reference:
        outputs["pd"] = characteristic(
            _bins(PD_REFERENCE, reference[PD_REFERENCE]),
            column("pd"),
            n_reference,
            warn,
            alert,
            "ks",
        )
        scaling = (metadata.get("policy") or {}).get("score_scaling")
        if scaling:
            outputs["score"] = characteristic(
                score_bins(reference[PD_REFERENCE], scaling),
                column("score"),
                n_reference,
                warn,
                alert,
                "ks",
            )
        else:
            skipped.append("score")
    else:
        skipped.extend(["pd", "score"])

    every = {
        **inputs,
        **{FEATURE_PREFIX + k: v for k, v in feature_results.items()},
        **outputs,
    }
    if not every:
        raise DriftInputError(
            "the bundle's reference_distributions describe no logged input, engineered "
            "feature or PD: nothing to compare"
        )
    alerts = [k for k, v in every.items() if v.status == ALERT]
    warnings = [k for k, v in every.items() if v.status == WARN]
    max_bins = max(v.bins for v in every.values())
    needed = minimum_rows(max_bins, n_reference, warn)
    too_small = any(v.window_too_small for v in every.values())
    if too_small:
        notes.append(
            f"window too small: {len(rows)} rows; under no drift the PSI of a {max_bins}-bin "
            f"characteristic exceeds the warn threshold {warn:g} 1% of the time or more "
            f"(expected PSI {expected_psi(max_bins, len(rows), n_reference):.4f}); "
            f"use at least {needed} rows"
            if needed
            else "window too small"
        )
    return DriftResult(
        n=len(rows),
        reference_n=n_reference,
        thresholds=Thresholds(warn, alert),
        window_too_small=too_small,
        min_rows=needed,
        expected_psi_no_drift=expected_psi(max_bins, len(rows), n_reference),
        inputs=inputs,
        features=feature_results,
        score=outputs.get("score"),
        pd=outputs.get("pd"),
        alerts=tuple(alerts),
        warnings=tuple(warnings),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def bundle_feature_fn(model_dir: Path) -> tuple[FeatureFn | None, str | None]:
    """The bundle's own feature code (names from its metadata), or None and why not."""
    from bankrisk.bundle.model_bundle import ModelBundle

    try:
        bundle = ModelBundle.load(model_dir)
    except BankRiskError as exc:
        return None, str(exc)
    names = [str(f["name"]) for f in bundle.describe().get("features", [])]

    def features(raw: np.ndarray) -> tuple[list[str], np.ndarray]:
        return names, np.asarray(bundle.features(raw), dtype=np.float64)

    return features, None


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


def run_drift(
    store: Any,
    model_dir: Path,
    since: datetime | None,
    until: datetime | None,
    warn: float,
    alert: float,
) -> DriftResult:
    """Read the window from the store and compare it with the bundle in `model_dir`.

    DriftInputError for a window that ends before it starts or thresholds out of order,
    MissingBundleError when `model_dir` is no folder, BundleError for a broken bundle."""
    from bankrisk.bundle.store import read_metadata

    check_window(since, until)
    check_thresholds(warn, alert)
    if not model_dir.is_dir():
        raise MissingBundleError(f"--model-dir {model_dir}: no such bundle folder")
    metadata = read_metadata(model_dir)
    features, why = bundle_feature_fn(model_dir)
    result = compute_drift(
        store.read_predictions(since, until), metadata, features, warn=warn, alert=alert
    )
    notes = (*result.notes, f"engineered features skipped: {why}") if why else result.notes
    return replace(
        result,
        notes=notes,
        model=ModelRef(metadata.get("name"), metadata.get("version")),
        window=Window(since.isoformat() if since else None, until.isoformat() if until else None),
    )
