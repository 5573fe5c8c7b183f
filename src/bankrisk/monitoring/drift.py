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

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from bankrisk.errors import BankRiskError
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
    """The bundle or the window cannot be compared (missing reference, no rows)."""


def _ks(bins: FrozenBins, counts: Sequence[int], n_reference: int | None) -> dict[str, Any]:
    n = sum(counts)
    ref_cdf = np.cumsum(bins.proportions)[:-1]
    cur_cdf = np.cumsum(np.asarray(counts, dtype=np.float64) / n)[:-1]
    d = float(np.max(np.abs(cur_cdf - ref_cdf))) if ref_cdf.size else 0.0
    n_eff = n * n_reference / (n + n_reference) if n_reference else float(n)
    p = float(stats.kstwo.sf(d, max(1, round(n_eff))))
    return {"test": "ks", "statistic": d, "p_value": p}


def _chi_square(bins: FrozenBins, counts: Sequence[int]) -> dict[str, float | str]:
    n = sum(counts)
    expected = np.maximum(np.asarray(bins.proportions), EPSILON) * n
    observed = np.asarray(counts, dtype=np.float64)
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    dof = max(1, bins.bins - 1)
    return {
        "test": "chi2",
        "statistic": statistic,
        "dof": dof,
        "p_value": float(stats.chi2.sf(statistic, dof)),
    }


def characteristic(
    bins: FrozenBins,
    values: np.ndarray,
    n_reference: int | None,
    warn: float,
    alert: float,
    test: str | None = None,
) -> dict[str, Any]:
    """PSI, status, no-drift expectation and (optionally) a KS or chi-square test."""
    values = values[np.isfinite(values)]
    counts = bins.counts(values.tolist())
    n = int(values.size)
    value = psi_from_counts(bins.proportions, counts)
    q99 = (1.0 / max(n, 1) + (1.0 / n_reference if n_reference else 0.0)) * float(
        stats.chi2.ppf(SMALL_WINDOW_QUANTILE, max(1, bins.bins - 1))
    )
    result: dict[str, Any] = {
        "psi": value,
        "status": status(value, warn, alert),
        "n": n,
        "bins": bins.bins,
        "expected_psi": expected_psi(bins.bins, n, n_reference),
        "psi_99_no_drift": q99,
        "window_too_small": n == 0 or q99 >= warn,
        "edges": list(bins.edges),
        "reference": list(bins.proportions),
        "current": [c / n for c in counts] if n else [0.0] * bins.bins,
    }
    if n and test == "ks":
        result.update(_ks(bins, counts, n_reference))
    elif n and test == "chi2":
        result.update(_chi_square(bins, counts))
    return result


def score_bins(pd_profile: Mapping[str, Any], scaling: Mapping[str, Any]) -> FrozenBins:
    """The score's frozen bins: the PD's edges through the score scaling, reversed."""
    pd_bins = FrozenBins.from_profile(PD_REFERENCE, pd_profile)
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
) -> dict[str, Any]:
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
    inputs: dict[str, Any] = {}
    raw = np.column_stack([column(name) for name in FIELD_NAMES])
    for j, name in enumerate(FIELD_NAMES):
        if name not in reference:
            skipped.append(name)
            continue
        test = "ks" if name in CONTINUOUS_INPUTS else "chi2"
        bins = FrozenBins.from_profile(name, reference[name])
        inputs[name] = characteristic(bins, raw[:, j], n_reference, warn, alert, test)

    feature_results: dict[str, Any] = {}
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
            bins = FrozenBins.from_profile(key, reference[key])
            feature_results[name] = characteristic(
                bins, matrix[:, index[name]], n_reference, warn, alert
            )
        if int(complete.sum()) < len(rows):
            notes.append(
                f"{len(rows) - int(complete.sum())} rows with a missing input left out "
                "of the engineered features"
            )

    outputs: dict[str, Any] = {}
    if PD_REFERENCE in reference:
        outputs["pd"] = characteristic(
            FrozenBins.from_profile(PD_REFERENCE, reference[PD_REFERENCE]),
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
    alerts = [k for k, v in every.items() if v["status"] == ALERT]
    warnings = [k for k, v in every.items() if v["status"] == WARN]
    max_bins = max(v["bins"] for v in every.values())
    needed = minimum_rows(max_bins, n_reference, warn)
    too_small = any(v["window_too_small"] for v in every.values())
    if too_small:
        notes.append(
            f"window too small: {len(rows)} rows; under no drift the PSI of a {max_bins}-bin "
            f"characteristic exceeds the warn threshold {warn:g} 1% of the time or more "
            f"(expected PSI {expected_psi(max_bins, len(rows), n_reference):.4f}); "
            f"use at least {needed} rows"
            if needed
            else "window too small"
        )
    return {
        "n": len(rows),
        "reference_n": n_reference,
        "thresholds": {"warn": warn, "alert": alert},
        "window_too_small": too_small,
        "min_rows": needed,
        "expected_psi_no_drift": expected_psi(max_bins, len(rows), n_reference),
        "inputs": inputs,
        "features": feature_results,
        "score": outputs.get("score"),
        "pd": outputs.get("pd"),
        "alerts": alerts,
        "warnings": warnings,
        "skipped": skipped,
        "notes": notes,
    }


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


def run_drift(
    store: Any,
    model_dir: Path,
    since: datetime | None,
    until: datetime | None,
    warn: float,
    alert: float,
) -> dict[str, Any]:
    """Read the window from the store and compare it with the bundle in `model_dir`."""
    from bankrisk.bundle.store import read_metadata

    metadata = read_metadata(model_dir)
    features, why = bundle_feature_fn(model_dir)
    result = compute_drift(
        store.read_predictions(since, until), metadata, features, warn=warn, alert=alert
    )
    if why:
        result["notes"].append(f"engineered features skipped: {why}")
    result["model"] = {"name": metadata.get("name"), "version": metadata.get("version")}
    result["window"] = {
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    return result
