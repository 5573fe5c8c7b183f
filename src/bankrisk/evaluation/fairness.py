"""Group fairness of PD decisions by protected attribute (sex, age band, marital status).

The protected attributes are not model inputs by default, but they are kept to check how
outcomes differ by group. For each attribute the report gives per-group default rates, mean
PD, AUC and approval rate, and the adverse impact ratio (lowest / highest group approval rate)
with the four-fifths rule verdict. The output is plain JSON-serialisable Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bankrisk.evaluation.metrics import (
    both_classes,
    check_positive_int,
    check_threshold,
    ranking_metrics,
    validate_scores,
)

# Age bands, youngest first, and the lower age bound of every band after the first.
AGE_BANDS: tuple[str, ...] = ("<25", "25-34", "35-44", "45-54", "55+")
AGE_BAND_EDGES: tuple[float, ...] = (25.0, 35.0, 45.0, 55.0)

SEX_LABELS: dict[int, str] = {1: "male", 2: "female"}
MARRIAGE_LABELS: dict[int, str] = {1: "married", 2: "single", 3: "others", 0: "unknown"}
# EDUCATION is not a protected attribute: monitoring reports its approval rates, for a
# fairness review, but it does not enter the four-fifths verdict.
EDUCATION_LABELS: dict[int, str] = {
    1: "graduate school",
    2: "university",
    3: "high school",
    4: "others",
}

# Groups smaller than this are reported but left out of the adverse impact ratio.
MIN_GROUP_SIZE = 30
FOUR_FIFTHS = 0.8


def age_band(age: np.ndarray) -> np.ndarray:
    """The AGE_BANDS label of each age (`<25`, `25-34`, `35-44`, `45-54`, `55+`)."""
    values = _as_float(age, "age")
    index = np.digitize(values, AGE_BAND_EDGES, right=False)
    labels: np.ndarray = np.asarray(AGE_BANDS, dtype=object)[index]
    return labels


def _as_float(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    try:
        result = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if not np.all(np.isfinite(result)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return result


def _coded_labels(codes: np.ndarray, labels: dict[int, str], name: str) -> np.ndarray:
    """Map integer codes to labels; an undocumented code becomes 'code <value>'."""
    values = _as_float(codes, name)
    out = np.empty(values.shape[0], dtype=object)
    for i, value in enumerate(values.tolist()):
        label = labels.get(int(value)) if float(value).is_integer() else None
        out[i] = label if label is not None else f"code {value:g}"
    return out


def _group_order(groups: np.ndarray, known: tuple[str, ...]) -> list[str]:
    present = {str(g) for g in groups.tolist()}
    return [g for g in known if g in present] + sorted(present.difference(known))


def _attribute_report(
    y: np.ndarray,
    p: np.ndarray,
    declined: np.ndarray,
    groups: np.ndarray,
    known: tuple[str, ...],
    min_group_size: int,
) -> dict[str, Any]:
    report: dict[str, dict[str, Any]] = {}
    for label in _group_order(groups, known):
        mask = groups == label
        y_g, p_g = y[mask], p[mask]
        n = int(mask.sum())
        report[label] = {
            "n": n,
            "default_rate": float(y_g.mean()),
            "mean_pd": float(p_g.mean()),
            "roc_auc": ranking_metrics(y_g, p_g).roc_auc if both_classes(y_g) else None,
            "approval_rate": float(np.mean(~declined[mask])),
            "included_in_ratio": n >= min_group_size,
        }
    eligible = {k: v["approval_rate"] for k, v in report.items() if v["included_in_ratio"]}
    excluded = [k for k, v in report.items() if not v["included_in_ratio"]]
    notes: list[str] = []
    if excluded:
        notes.append(
            f"Groups with fewer than {min_group_size} rows excluded from the ratio: "
            + ", ".join(excluded)
        )
    ratio: float | None = None
    passed: bool | None = None
    reference: str | None = None
    lowest: str | None = None
    if len(eligible) < 2:
        notes.append("Fewer than two groups large enough to compare: ratio undefined")
    else:
        reference = max(eligible, key=lambda k: eligible[k])
        lowest = min(eligible, key=lambda k: eligible[k])
        if eligible[reference] == 0.0:
            notes.append("No group has any approvals: ratio undefined")
        else:
            ratio = eligible[lowest] / eligible[reference]
            passed = ratio >= FOUR_FIFTHS
    return {
        "groups": report,
        "adverse_impact_ratio": ratio,
        "four_fifths_rule_passed": passed,
        "reference_group": reference,
        "lowest_group": lowest,
        "excluded_groups": excluded,
        "notes": notes,
    }


def fairness_report(
    y_true: np.ndarray,
    probabilities: np.ndarray,
    threshold: float,
    *,
    sex: np.ndarray,
    age: np.ndarray,
    marriage: np.ndarray | None = None,
    min_group_size: int = MIN_GROUP_SIZE,
) -> dict[str, Any]:
    """Per-group outcomes and the adverse impact ratio by SEX, AGE_BAND and (if given) MARRIAGE.

    A row is approved when its PD < threshold. Returns {"threshold", "min_group_size",
    "four_fifths_threshold", "attributes": {attribute: {"groups": {label: {n, default_rate,
    mean_pd, roc_auc, approval_rate, included_in_ratio}}, "adverse_impact_ratio",
    "four_fifths_rule_passed", "reference_group", "lowest_group", "excluded_groups",
    "notes"}}}; undefined values are None.
    """
    y, p = validate_scores(y_true, probabilities)
    cut = check_threshold(threshold)
    check_positive_int(min_group_size, "min_group_size")
    attributes: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {
        "SEX": (_coded_labels(sex, SEX_LABELS, "sex"), tuple(SEX_LABELS.values())),
        "AGE_BAND": (age_band(age), AGE_BANDS),
    }
    if marriage is not None:
        attributes["MARRIAGE"] = (
            _coded_labels(marriage, MARRIAGE_LABELS, "marriage"),
            tuple(MARRIAGE_LABELS.values()),
        )
    for name, (groups, _) in attributes.items():
        if groups.shape[0] != y.shape[0]:
            raise ValueError(
                f"{name} has {groups.shape[0]} rows but y_true and the PDs have {y.shape[0]}"
            )
    declined = p >= cut
    return {
        "threshold": cut,
        "min_group_size": min_group_size,
        "four_fifths_threshold": FOUR_FIFTHS,
        "attributes": {
            name: _attribute_report(y, p, declined, groups, known, min_group_size)
            for name, (groups, known) in attributes.items()
        },
    }
