"""`bankrisk monitor performance`: realised performance and PD back-testing on logged traffic.

Predictions are matched to outcomes by customer id (`monitoring.outcomes`). When a customer
was scored more than once by the same model version and role, the latest prediction counts.
Overall metrics, grades and the back-test use the `champion` role (the decisions taken);
`by_model_version` shows every version and role.

- Realised ROC AUC, Brier, ECE and KS (`evaluation.metrics`): overall, by model version, by
  month (UTC month of the prediction).
- PD back-test per grade (Basel II para. 501): n, defaults, mean PD, observed default rate,
  the Jeffreys test p-value (one-sided: the CDF of Beta(D + 1/2, N - D + 1/2) at the mean PD;
  p < 0.05 flags an underestimated PD) with the Jeffreys 95% interval of the default rate, and
  an exact binomial test (greater); Hosmer-Lemeshow over grades: sum (D - N PD)^2 /
  (N PD (1 - PD)), chi-square with G degrees of freedom (out of sample). Both ignore default
  correlation, so they reject too often in a downturn.
- Fairness over time: approval rate (a decision other than `decline`) per SEX, age band and
  MARRIAGE group, and the adverse impact ratio (lowest / highest approval rate, groups of at
  least 30) against the four-fifths rule, overall and by month, on every logged champion
  prediction (approvals need no outcome).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from bankrisk.errors import BankRiskError
from bankrisk.evaluation.fairness import (
    AGE_BANDS,
    FOUR_FIFTHS,
    MARRIAGE_LABELS,
    MIN_GROUP_SIZE,
    SEX_LABELS,
    age_band,
)
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.monitoring.drift import fields_of, json_text

CHAMPION = "champion"
JEFFREYS_ALPHA = 0.05
METRICS = ("roc_auc", "gini", "ks", "brier", "log_loss", "ece", "pr_auc")


class PerformanceInputError(BankRiskError):
    """Nothing to back-test (no matched predictions)."""


@dataclass(frozen=True)
class RealisedMetrics:
    """Realised performance of matched predictions: counts, default rate, mean PD and the
    `evaluation.metrics` of `METRICS` (None where undefined, e.g. AUC with one class)."""

    n: int
    defaults: int
    default_rate: float
    mean_pd: float
    roc_auc: float | None
    gini: float | None
    ks: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None
    pr_auc: float | None

    def as_dict(self) -> dict[str, Any]:
        return fields_of(self)


@dataclass(frozen=True)
class VersionPerformance:
    """Realised performance of one model version in one role (`champion`, `shadow`, ...)."""

    model_version: str
    model_role: str
    metrics: RealisedMetrics

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "model_role": self.model_role,
            **self.metrics.as_dict(),
        }


@dataclass(frozen=True)
class MonthPerformance:
    """Realised performance of the champion's predictions of one UTC month (`YYYY-MM`)."""

    month: str
    metrics: RealisedMetrics

    def as_dict(self) -> dict[str, Any]:
        return {"month": self.month, **self.metrics.as_dict()}


@dataclass(frozen=True)
class GradeBacktest:
    """The PD back-test of one grade: Jeffreys test (`underestimated` when its p-value is
    below `JEFFREYS_ALPHA`) and 95% interval of the default rate, exact binomial test (None
    when the mean PD is 0 or 1)."""

    grade: str
    n: int
    defaults: int
    mean_pd: float
    default_rate: float
    jeffreys_p: float
    underestimated: bool
    ci_low: float
    ci_high: float
    binomial_p: float | None

    def as_dict(self) -> dict[str, Any]:
        return fields_of(self)


@dataclass(frozen=True)
class HosmerLemeshow:
    """Hosmer-Lemeshow over the grades with a mean PD strictly between 0 and 1 (`dof` of
    them); no p-value without such a grade."""

    statistic: float
    dof: int
    p_value: float | None

    def as_dict(self) -> dict[str, Any]:
        return fields_of(self)


@dataclass(frozen=True)
class GroupApproval:
    """Approval rate of one group; `included_in_ratio` when it has `MIN_GROUP_SIZE` rows."""

    n: int
    approval_rate: float
    included_in_ratio: bool

    def as_dict(self) -> dict[str, Any]:
        return fields_of(self)


@dataclass(frozen=True)
class AttributeFairness:
    """Approval by group of one protected attribute, the adverse impact ratio (None with
    fewer than two groups large enough) and the four-fifths rule's verdict on it."""

    groups: Mapping[str, GroupApproval]
    adverse_impact_ratio: float | None
    four_fifths_rule_passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": {g: v.as_dict() for g, v in self.groups.items()},
            "adverse_impact_ratio": self.adverse_impact_ratio,
            "four_fifths_rule_passed": self.four_fifths_rule_passed,
        }


@dataclass(frozen=True)
class MonthFairness:
    """Approval fairness of the champion's predictions of one UTC month, per attribute."""

    month: str
    attributes: Mapping[str, AttributeFairness]

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "attributes": {a: v.as_dict() for a, v in self.attributes.items()},
        }


@dataclass(frozen=True)
class FairnessReport:
    """Approval fairness over every logged champion prediction and by month."""

    overall: Mapping[str, AttributeFairness]
    by_month: tuple[MonthFairness, ...]
    four_fifths_threshold: float
    min_group_size: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": {a: v.as_dict() for a, v in self.overall.items()},
            "by_month": [m.as_dict() for m in self.by_month],
            "four_fifths_threshold": self.four_fifths_threshold,
            "min_group_size": self.min_group_size,
        }


@dataclass(frozen=True)
class PerformanceResult:
    """`bankrisk monitor performance`: the champion's realised performance (`overall`, by
    month), every version's, the PD back-test per grade and approval fairness."""

    overall: RealisedMetrics
    predictions_logged: int
    outcomes: int
    matched: int
    approval_rate: float
    by_model_version: tuple[VersionPerformance, ...]
    by_month: tuple[MonthPerformance, ...]
    grades: tuple[GradeBacktest, ...]
    underestimated_grades: tuple[str, ...]
    hosmer_lemeshow: HosmerLemeshow
    fairness: FairnessReport

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.overall.as_dict(),
            "predictions_logged": self.predictions_logged,
            "outcomes": self.outcomes,
            "matched": self.matched,
            "approval_rate": self.approval_rate,
            "by_model_version": [v.as_dict() for v in self.by_model_version],
            "by_month": [m.as_dict() for m in self.by_month],
            "grades": [g.as_dict() for g in self.grades],
            "underestimated_grades": list(self.underestimated_grades),
            "hosmer_lemeshow": self.hosmer_lemeshow.as_dict(),
            "fairness": self.fairness.as_dict(),
        }

    def to_json(self) -> str:
        """The JSON `bankrisk monitor performance --json` prints (NaN as null)."""
        return json_text(self.as_dict())


def _month(row: Mapping[str, Any]) -> str:
    return str(row["time"].strftime("%Y-%m"))


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value


def _metrics(y: np.ndarray, p: np.ndarray) -> RealisedMetrics:
    full = classification_metrics(y, p, 0.5)  # the threshold only moves counts we drop
    return RealisedMetrics(
        n=int(y.size),
        defaults=int(y.sum()),
        default_rate=float(y.mean()),
        mean_pd=float(p.mean()),
        roc_auc=_defined(full["roc_auc"]),
        gini=_defined(full["gini"]),
        ks=_defined(full["ks"]),
        brier=_defined(full["brier"]),
        log_loss=_defined(full["log_loss"]),
        ece=_defined(full["ece"]),
        pr_auc=_defined(full["pr_auc"]),
    )


def latest_matched(
    rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, int]
) -> list[tuple[Mapping[str, Any], int]]:
    """(prediction, defaulted) pairs: the latest prediction per customer, version and role."""
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for row in rows:  # oldest first: later rows replace earlier ones
        customer = row.get("customer_id")
        if customer is not None and customer in outcomes:
            latest[(str(customer), str(row["model_version"]), str(row["model_role"]))] = row
    ordered = sorted(latest.values(), key=lambda r: (r["time"], r.get("id") or 0))
    return [(r, outcomes[str(r["customer_id"])]) for r in ordered]


def grade_backtest(
    grades: Sequence[str], y: np.ndarray, p: np.ndarray
) -> tuple[list[GradeBacktest], HosmerLemeshow]:
    """Per-grade back-test and Hosmer-Lemeshow over grades."""
    out: list[GradeBacktest] = []
    hl = 0.0
    used = 0
    labels = np.asarray(grades, dtype=object)
    for grade in sorted(set(grades)):
        mask = labels == grade
        n = int(mask.sum())
        d = int(y[mask].sum())
        mean_pd = float(p[mask].mean())
        a, b = d + 0.5, n - d + 0.5
        jeffreys = float(stats.beta.cdf(mean_pd, a, b))
        out.append(
            GradeBacktest(
                grade=grade,
                n=n,
                defaults=d,
                mean_pd=mean_pd,
                default_rate=d / n,
                jeffreys_p=jeffreys,
                underestimated=jeffreys < JEFFREYS_ALPHA,
                ci_low=float(stats.beta.ppf(0.025, a, b)),
                ci_high=float(stats.beta.ppf(0.975, a, b)),
                binomial_p=float(stats.binomtest(d, n, mean_pd, alternative="greater").pvalue)
                if 0.0 < mean_pd < 1.0
                else None,
            )
        )
        if 0.0 < mean_pd < 1.0:
            hl += (d - n * mean_pd) ** 2 / (n * mean_pd * (1.0 - mean_pd))
            used += 1
    hosmer = HosmerLemeshow(
        statistic=hl, dof=used, p_value=float(stats.chi2.sf(hl, used)) if used else None
    )
    return out, hosmer


def _group_labels(
    rows: Sequence[Mapping[str, Any]],
) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    def coded(name: str, labels: Mapping[int, str]) -> list[str]:
        out = []
        for r in rows:
            value = r.get(name)
            if value is None or not math.isfinite(float(value)):
                out.append("missing")
            elif float(value).is_integer() and int(value) in labels:
                out.append(labels[int(value)])
            else:
                out.append(f"code {float(value):g}")
        return out

    ages = np.asarray([np.nan if r.get("AGE") is None else float(r["AGE"]) for r in rows])
    bands = ["missing"] * len(rows)
    finite = np.isfinite(ages)
    if finite.any():
        for i, band in zip(np.flatnonzero(finite), age_band(ages[finite]), strict=True):
            bands[int(i)] = str(band)
    return {
        "SEX": (coded("SEX", SEX_LABELS), tuple(SEX_LABELS.values())),
        "AGE_BAND": (bands, AGE_BANDS),
        "MARRIAGE": (coded("MARRIAGE", MARRIAGE_LABELS), tuple(MARRIAGE_LABELS.values())),
    }


def approval_fairness(rows: Sequence[Mapping[str, Any]]) -> dict[str, AttributeFairness]:
    """Approval rate per group and adverse impact ratio, per protected attribute."""
    approved = [r["decision"] != "decline" for r in rows]
    result: dict[str, AttributeFairness] = {}
    for attribute, (labels, known) in _group_labels(rows).items():
        groups: dict[str, GroupApproval] = {}
        order = [g for g in known if g in set(labels)] + sorted(set(labels) - set(known))
        for group in order:
            picks = [a for a, g in zip(approved, labels, strict=True) if g == group]
            groups[group] = GroupApproval(
                n=len(picks),
                approval_rate=sum(picks) / len(picks),
                included_in_ratio=len(picks) >= MIN_GROUP_SIZE,
            )
        eligible = {g: v.approval_rate for g, v in groups.items() if v.included_in_ratio}
        ratio = None
        if len(eligible) >= 2 and max(eligible.values()) > 0:
            ratio = min(eligible.values()) / max(eligible.values())
        result[attribute] = AttributeFairness(
            groups=groups,
            adverse_impact_ratio=ratio,
            four_fifths_rule_passed=None if ratio is None else ratio >= FOUR_FIFTHS,
        )
    return result


def compute_performance(
    rows: Sequence[Mapping[str, Any]], outcomes: Mapping[str, int]
) -> PerformanceResult:
    """The performance report of logged rows (`read_predictions`) and outcomes."""
    pairs = latest_matched(rows, outcomes)
    champion = [(r, y) for r, y in pairs if r["model_role"] == CHAMPION]
    if not champion:
        raise PerformanceInputError(
            f"no logged champion prediction has an outcome yet ({len(rows)} predictions, "
            f"{len(outcomes)} outcomes): ingest outcomes with `bankrisk monitor outcomes`"
        )
    y = np.asarray([o for _, o in champion], dtype=np.int64)
    p = np.asarray([float(r["pd"]) for r, _ in champion])
    overall = _metrics(y, p)
    by_month: dict[str, list[int]] = defaultdict(list)
    for i, (r, _) in enumerate(champion):
        by_month[_month(r)].append(i)
    by_version: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (r, _) in enumerate(pairs):
        by_version[(str(r["model_version"]), str(r["model_role"]))].append(i)
    y_all = np.asarray([o for _, o in pairs], dtype=np.int64)
    p_all = np.asarray([float(r["pd"]) for r, _ in pairs])
    grades, hosmer = grade_backtest([str(r["grade"]) for r, _ in champion], y, p)
    logged_champion = [r for r in rows if r["model_role"] == CHAMPION]
    months = sorted({_month(r) for r in logged_champion})
    fairness_by_month = tuple(
        MonthFairness(
            month=m,
            attributes=approval_fairness([r for r in logged_champion if _month(r) == m]),
        )
        for m in months
    )
    return PerformanceResult(
        overall=overall,
        predictions_logged=len(rows),
        outcomes=len(outcomes),
        matched=len(pairs),
        approval_rate=float(np.mean([r["decision"] != "decline" for r, _ in champion])),
        by_model_version=tuple(
            VersionPerformance(v, role, _metrics(y_all[ix], p_all[ix]))
            for (v, role), ix in sorted(by_version.items())
        ),
        by_month=tuple(
            MonthPerformance(m, _metrics(y[ix], p[ix])) for m, ix in sorted(by_month.items())
        ),
        grades=tuple(grades),
        underestimated_grades=tuple(g.grade for g in grades if g.underestimated),
        hosmer_lemeshow=hosmer,
        fairness=FairnessReport(
            overall=approval_fairness(logged_champion),
            by_month=fairness_by_month,
            four_fifths_threshold=FOUR_FIFTHS,
            min_group_size=MIN_GROUP_SIZE,
        ),
    )


def run_performance(store: Any) -> PerformanceResult:
    """The performance report of everything the store holds (predictions and outcomes)."""
    return compute_performance(store.read_predictions(), store.read_outcomes())
