"""`bankrisk monitor performance`: realised performance and PD back-testing on logged traffic.

Which rows count (the same for every section, and said in the output): the selected rows
(`Selection`: a window, the `champion` role by default: the decisions taken), of which each
customer's latest prediction (by time, then row id; rows without a customer id count once
each). Their outcomes are joined by customer id (`monitoring.outcomes`). `by_model_version`
compares every version and role in the same window: each customer's latest prediction per
version and role. The database ranks and joins; the rows arrive in chunks, and what is kept
is about 12 bytes per customer with an outcome (an exact AUC needs every PD) and counts.

- Realised ROC AUC, Brier, ECE and KS (`evaluation.metrics`): overall, by model version, by
  month (UTC month of the prediction), on the customers with an outcome.
- PD back-test per grade (Basel II para. 501): n, defaults, mean PD, observed default rate,
  the Jeffreys test both ways (one-sided each: the CDF of Beta(D + 1/2, N - D + 1/2) at the
  mean PD, p < 0.05 flags an underestimated PD; its upper tail, p < 0.05 flags an
  overestimated one) with the Jeffreys 95% interval of the default rate, and an exact
  binomial test (greater); Hosmer-Lemeshow over grades: sum (D - N PD)^2 / (N PD (1 - PD)),
  chi-square with G degrees of freedom (out of sample). They ignore default correlation, so
  they reject too often in a downturn.
- Fairness over time: approval rate (a decision other than `decline`) per SEX, age band,
  MARRIAGE and EDUCATION group, and the adverse impact ratio (lowest / highest approval rate,
  groups of at least 30) against the four-fifths rule, overall and by month, on every customer
  counted (approvals need no outcome) that carries the attribute: the attributes are optional
  in scoring, so each attribute says how many customers carry it, and a demographics file
  (`monitoring.demographics`) may supply them by customer id. The verdict (`failed`) is on
  the protected attributes (SEX, age band, MARRIAGE), over the whole window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas
from scipy import stats
from sqlalchemy import Select, func, or_, select

from bankrisk.errors import BankRiskError
from bankrisk.evaluation.fairness import (
    AGE_BANDS,
    EDUCATION_LABELS,
    FOUR_FIFTHS,
    MARRIAGE_LABELS,
    MIN_GROUP_SIZE,
    SEX_LABELS,
    age_band,
)
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.monitoring.demographics import CUSTOMER_ID, Demographics
from bankrisk.monitoring.drift import fields_of, json_text
from bankrisk.prediction_log.columns import (
    PERIOD,
    Chunk,
    Selection,
    Unindexed,
    count_rows,
    model_versions,
    period_of,
    read_query,
)
from bankrisk.prediction_log.store import PredictionStore, predictions
from bankrisk.prediction_log.store import outcomes as outcomes_table

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
    jeffreys_p_over: float
    overestimated: bool

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
    """Approval by group of one attribute, on the customers that carry it (`carried` of
    `customers`), the adverse impact ratio (None with fewer than two groups large enough)
    and the four-fifths rule's verdict on it; `lowest` and `highest` name the groups the
    ratio compares."""

    groups: Mapping[str, GroupApproval]
    adverse_impact_ratio: float | None
    four_fifths_rule_passed: bool | None
    carried: int = 0
    customers: int = 0
    lowest: str | None = None
    highest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": {g: v.as_dict() for g, v in self.groups.items()},
            "adverse_impact_ratio": self.adverse_impact_ratio,
            "four_fifths_rule_passed": self.four_fifths_rule_passed,
            "customers_with_attribute": self.carried,
            "customers": self.customers,
            "lowest_group": self.lowest,
            "highest_group": self.highest,
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
    """Approval fairness over every logged champion prediction and by month; `demographics`
    names the file the attributes were joined from, if any."""

    overall: Mapping[str, AttributeFairness]
    by_month: tuple[MonthFairness, ...]
    four_fifths_threshold: float
    min_group_size: int
    demographics: str | None = None

    @property
    def failed(self) -> tuple[str, ...]:
        """The protected attributes failing the four-fifths rule over the whole window."""
        return tuple(
            a
            for a in VERDICT_ATTRIBUTES
            if a in self.overall and self.overall[a].four_fifths_rule_passed is False
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "overall": {a: v.as_dict() for a, v in self.overall.items()},
            "by_month": [m.as_dict() for m in self.by_month],
            "four_fifths_threshold": self.four_fifths_threshold,
            "min_group_size": self.min_group_size,
            "four_fifths_rule_failed": list(self.failed),
            "demographics": self.demographics,
        }


@dataclass(frozen=True)
class PerformanceResult:
    """`bankrisk monitor performance`: the champion's realised performance (`overall`, by
    month), every version's, the PD back-test per grade and approval fairness."""

    overall: RealisedMetrics
    rows: str  # which predictions count: the rule, in words
    customers: int  # how many (each customer's latest prediction in the selection)
    predictions_logged: int  # the selection's rows
    outcomes: int
    matched: int
    approval_rate: float
    by_model_version: tuple[VersionPerformance, ...]
    by_month: tuple[MonthPerformance, ...]
    grades: tuple[GradeBacktest, ...]
    underestimated_grades: tuple[str, ...]
    overestimated_grades: tuple[str, ...]
    hosmer_lemeshow: HosmerLemeshow
    fairness: FairnessReport

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.overall.as_dict(),
            "rows": self.rows,
            "customers": self.customers,
            "predictions_logged": self.predictions_logged,
            "outcomes": self.outcomes,
            "matched": self.matched,
            "approval_rate": self.approval_rate,
            "by_model_version": [v.as_dict() for v in self.by_model_version],
            "by_month": [m.as_dict() for m in self.by_month],
            "grades": [g.as_dict() for g in self.grades],
            "underestimated_grades": list(self.underestimated_grades),
            "overestimated_grades": list(self.overestimated_grades),
            "hosmer_lemeshow": self.hosmer_lemeshow.as_dict(),
            "fairness": self.fairness.as_dict(),
        }

    def to_json(self) -> str:
        """The JSON `bankrisk monitor performance --json` prints (NaN as null)."""
        return json_text(self.as_dict())


def _defined(value: float) -> float | None:
    return None if math.isnan(value) else value


def _metrics(y: np.ndarray, p: np.ndarray, *, last_use: bool = False) -> RealisedMetrics:
    """The realised metrics; `last_use`: the caller no longer needs `p` in its order, and
    the ranking sorts it in place (no copy of a window's PDs)."""
    mean_pd = float(p.mean())
    # The threshold only moves counts we drop.
    full = classification_metrics(y, p, 0.5, sort_in_place=last_use)
    return RealisedMetrics(
        n=int(y.size),
        defaults=int(y.sum()),
        default_rate=float(y.mean()),
        mean_pd=mean_pd,
        roc_auc=_defined(full["roc_auc"]),
        gini=_defined(full["gini"]),
        ks=_defined(full["ks"]),
        brier=_defined(full["brier"]),
        log_loss=_defined(full["log_loss"]),
        ece=_defined(full["ece"]),
        pr_auc=_defined(full["pr_auc"]),
    )


def grade_backtest(
    grades: Sequence[str], y: np.ndarray, p: np.ndarray
) -> tuple[list[GradeBacktest], HosmerLemeshow]:
    """Per-grade back-test and Hosmer-Lemeshow over grades."""
    labels = Labels()
    return _backtest(labels.codes(np.asarray(grades, dtype=object)), labels, y, p)


def _backtest(
    codes: np.ndarray, labels: Labels, y: np.ndarray, p: np.ndarray
) -> tuple[list[GradeBacktest], HosmerLemeshow]:
    """`grade_backtest` of grades given as `labels` codes."""
    out: list[GradeBacktest] = []
    hl = 0.0
    used = 0
    for code, grade in labels.in_order(codes):
        mask = codes == code
        n = int(mask.sum())
        d = int(y[mask].sum())
        mean_pd = float(p[mask].mean())
        a, b = d + 0.5, n - d + 0.5
        jeffreys = float(stats.beta.cdf(mean_pd, a, b))
        jeffreys_over = float(stats.beta.sf(mean_pd, a, b))
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
                jeffreys_p_over=jeffreys_over,
                overestimated=jeffreys_over < JEFFREYS_ALPHA,
            )
        )
        if 0.0 < mean_pd < 1.0:
            hl += (d - n * mean_pd) ** 2 / (n * mean_pd * (1.0 - mean_pd))
            used += 1
    hosmer = HosmerLemeshow(
        statistic=hl, dof=used, p_value=float(stats.chi2.sf(hl, used)) if used else None
    )
    return out, hosmer


# The protected attributes approvals are compared by: each row's group label, and the
# labels known in order (others follow, sorted).
def _coded(values: np.ndarray, labels: Mapping[int, str]) -> tuple[list[str], np.ndarray]:
    """Each distinct code's label (`missing` for NaN, `code X` for an undocumented code) and
    each row's index into them."""
    unique, inverse = np.unique(values, return_inverse=True)
    names = []
    for value in unique.tolist():
        if not math.isfinite(value):
            names.append(MISSING)
        elif float(value).is_integer() and int(value) in labels:
            names.append(labels[int(value)])
        else:
            names.append(f"code {value:g}")
    return names, inverse.reshape(-1)


def _age_bands(ages: np.ndarray) -> tuple[list[str], np.ndarray]:
    bands = np.full(ages.shape[0], MISSING, dtype=object)
    finite = np.isfinite(ages)
    if finite.any():
        bands[finite] = age_band(ages[finite])
    inverse, names = pandas.factorize(bands)
    return [str(n) for n in names], np.asarray(inverse)


ATTRIBUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "SEX": ("SEX", tuple(SEX_LABELS.values())),
    "AGE_BAND": ("AGE", AGE_BANDS),
    "MARRIAGE": ("MARRIAGE", tuple(MARRIAGE_LABELS.values())),
    "EDUCATION": ("EDUCATION", tuple(EDUCATION_LABELS.values())),
}
# The attributes the four-fifths verdict is on: the protected ones (not EDUCATION).
VERDICT_ATTRIBUTES = ("SEX", "AGE_BAND", "MARRIAGE")
# The group of the customers without the attribute: counted, never compared.
MISSING = "missing"


def _group_labels(chunk: Mapping[str, np.ndarray]) -> dict[str, tuple[list[str], np.ndarray]]:
    return {
        "SEX": _coded(chunk["SEX"], SEX_LABELS),
        "AGE_BAND": _age_bands(chunk["AGE"]),
        "MARRIAGE": _coded(chunk["MARRIAGE"], MARRIAGE_LABELS),
        "EDUCATION": _coded(chunk["EDUCATION"], EDUCATION_LABELS),
    }


def _attribute_fairness(
    counts: Mapping[str, tuple[int, int]], known: tuple[str, ...]
) -> AttributeFairness:
    """Approval by group from (customers, approved) per group, over the customers that carry
    the attribute (those without it are only counted)."""
    customers = sum(n for n, _ in counts.values())
    counts = {g: v for g, v in counts.items() if g != MISSING}
    order = [g for g in known if g in counts] + sorted(set(counts) - set(known))
    groups = {
        g: GroupApproval(
            n=counts[g][0],
            approval_rate=counts[g][1] / counts[g][0],
            included_in_ratio=counts[g][0] >= MIN_GROUP_SIZE,
        )
        for g in order
    }
    eligible = {g: v.approval_rate for g, v in groups.items() if v.included_in_ratio}
    ratio = lowest = highest = None
    if len(eligible) >= 2 and max(eligible.values()) > 0:
        lowest = min(eligible, key=lambda g: eligible[g])
        highest = max(eligible, key=lambda g: eligible[g])
        ratio = eligible[lowest] / eligible[highest]
    return AttributeFairness(
        groups=groups,
        adverse_impact_ratio=ratio,
        four_fifths_rule_passed=None if ratio is None else ratio >= FOUR_FIFTHS,
        carried=sum(g.n for g in groups.values()),
        customers=customers,
        lowest=lowest,
        highest=highest,
    )


# Counts of customers and approvals by (month or OVERALL, attribute, group).
_OVERALL = ""
Approvals = dict[tuple[str, str, str], tuple[int, int]]


def _count_approvals(
    approvals: Approvals, months: np.ndarray, approved: np.ndarray, chunk: Mapping[str, np.ndarray]
) -> None:
    month_of, month_names = pandas.factorize(months)
    for attribute, (group_names, group_of) in _group_labels(chunk).items():
        cell = month_of * len(group_names) + group_of
        size = len(month_names) * len(group_names)
        customers = np.bincount(cell, minlength=size)
        approvals_in = np.bincount(cell, weights=approved, minlength=size)
        for k in np.flatnonzero(customers).tolist():
            month = str(month_names[k // len(group_names)])
            group = group_names[k % len(group_names)]
            for key in ((month, attribute, group), (_OVERALL, attribute, group)):
                n, a = approvals.get(key, (0, 0))
                approvals[key] = (n + int(customers[k]), a + int(approvals_in[k]))


def _fairness_of(approvals: Approvals, month: str) -> dict[str, AttributeFairness]:
    return {
        attribute: _attribute_fairness(
            {g: v for (m, a, g), v in approvals.items() if m == month and a == attribute}, known
        )
        for attribute, (_, known) in ATTRIBUTES.items()
    }


class Labels:
    """Text labels (grades, months) as small integer codes shared by every chunk: two bytes
    a customer instead of a Python string (tens of millions of customers fit)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}

    def codes(self, values: np.ndarray) -> np.ndarray:
        local, uniques = pandas.factorize(values)
        mapping = np.array([self._code(str(u)) for u in uniques], dtype=np.int16)
        return mapping[local] if mapping.size else np.empty(0, dtype=np.int16)

    def _code(self, name: str) -> int:
        if name not in self._codes:
            self._codes[name] = len(self.names)
            self.names.append(name)
        return self._codes[name]

    def in_order(self, codes: np.ndarray) -> list[tuple[int, str]]:
        """(code, label) of the labels among `codes`, by label."""
        present = np.flatnonzero(np.bincount(codes, minlength=len(self.names)))
        return sorted(((int(c), self.names[c]) for c in present), key=lambda item: item[1])


class _Outcomes:
    """Predictions with an outcome, collected chunk by chunk: about 13 bytes a customer (an
    exact AUC needs every PD). With `capacity` (an upper bound on the customers, e.g. the
    selection's rows) the arrays are allocated once and filled: joining chunks at the end
    would hold every PD twice, and the allocator keeps what the chunks freed."""

    def __init__(self, capacity: int = 0) -> None:
        self.grades = Labels()
        self.months = Labels()
        self.n = 0
        self._y = np.empty(capacity, dtype=np.int8)
        self._pd = np.empty(capacity, dtype=np.float64)
        self._grade = np.empty(capacity, dtype=np.int16)
        self._month = np.empty(capacity, dtype=np.int16)

    def add(self, chunk: Mapping[str, np.ndarray]) -> None:
        known = np.isfinite(chunk["defaulted"])
        count = int(known.sum())
        end = self.n + count
        if end > self._pd.shape[0]:  # past the bound given (or none): grow, doubling
            size = max(end, 2 * self._pd.shape[0])
            for name in ("_y", "_pd", "_grade", "_month"):
                grown = np.empty(size, dtype=getattr(self, name).dtype)
                grown[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, grown)
        self._y[self.n : end] = chunk["defaulted"][known]
        self._pd[self.n : end] = chunk["pd"][known]
        self._grade[self.n : end] = self.grades.codes(chunk["grade"][known])
        self._month[self.n : end] = self.months.codes(chunk[PERIOD][known])
        self.n = end

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The outcomes (0/1), PDs, grade codes and month codes of every customer held
        (views: no copies)."""
        n = self.n
        return self._y[:n], self._pd[:n], self._grade[:n], self._month[:n]


def _latest(selection: Selection, per_version: bool, with_ids: bool = False) -> Select[Any]:
    """Each customer's latest selected prediction (per model version and role with
    `per_version`; rows without a customer id each count), its outcome (NaN if none) and
    its UTC month (and its customer id, `with_ids`): the query, for `read_query`."""
    c = predictions.c
    customer = Unindexed(c.customer_id)
    partition = [customer, c.model_version, c.model_role] if per_version else [customer]
    rank = func.row_number().over(partition_by=partition, order_by=(c.time.desc(), c.id.desc()))
    ranked = (
        select(
            c.pd,
            c.SEX,
            c.MARRIAGE,
            c.AGE,
            c.EDUCATION,
            c.grade,
            c.decision,
            c.model_version,
            c.model_role,
            c.customer_id,
            period_of(c.time, "month").label(PERIOD),
            rank.label("rank"),
        )
        .where(selection.condition())
        .subquery()
    )
    r = ranked.c
    return (
        select(
            r.pd,
            outcomes_table.c.defaulted.label("defaulted"),
            r.SEX,
            r.MARRIAGE,
            r.AGE,
            r.EDUCATION,
            r.grade,
            r.decision,
            r[PERIOD],
            r.model_version,
            r.model_role,
            *([r.customer_id] if with_ids else []),
        )
        .select_from(
            ranked.outerjoin(outcomes_table, outcomes_table.c.customer_id == r.customer_id)
        )
        .where(or_(r.rank == 1, r.customer_id.is_(None)))
    )


# The columns of the chunks performance counts, in order (as `_latest` selects them): the
# first `LATEST_NUMERIC` numbers (NaN for a missing outcome), then texts; the customer id
# after them only to join a demographics file (`LATEST_WITH_IDS`).
LATEST_COLUMNS = (
    *("pd", "defaulted", "SEX", "MARRIAGE", "AGE", "EDUCATION"),
    *("grade", "decision", PERIOD, "model_version", "model_role"),
)
LATEST_WITH_IDS = (*LATEST_COLUMNS, CUSTOMER_ID)
LATEST_NUMERIC = 6
VersionPairs = Callable[[], Sequence[tuple[str, str]]]


def _by_version(
    selection: Selection,
    selected: _Outcomes,
    pairs: VersionPairs,
    latest_per_version: Callable[[], Iterable[Chunk]],
) -> dict[tuple[str, str], _Outcomes]:
    """Each model version and role in the window (whatever the selection's role): the
    outcomes of each customer's latest prediction by it. When the window holds one version
    of the selected role alone (`pairs`), that is what was `selected`, and the rows are not
    read again."""
    held = pairs()
    if len(held) == 1 and held[0][1] == selection.role:
        return {held[0]: selected}
    versions: dict[tuple[str, str], _Outcomes] = defaultdict(_Outcomes)
    for chunk in latest_per_version():
        for version in np.unique(chunk["model_version"]).tolist():
            of_version = chunk["model_version"] == version
            for role in np.unique(chunk["model_role"][of_version]).tolist():
                rows = of_version & (chunk["model_role"] == role)
                versions[(str(version), str(role))].add({k: v[rows] for k, v in chunk.items()})
    return versions


def run_performance(
    store: PredictionStore, selection: Selection, demographics: Demographics | None = None
) -> PerformanceResult:
    """The performance report of the selected predictions and the outcomes the store holds,
    read in chunks (see the module's docstring for which rows count); the protected
    attributes from `demographics` where it has them."""
    from bankrisk.monitoring.drift import check_window

    check_window(selection.since, selection.until)
    every_role = replace(selection, role=None)
    latest = _latest(selection, per_version=False, with_ids=demographics is not None)
    return performance_from(
        selection,
        read_query(store, latest, numeric=LATEST_NUMERIC),
        lambda: model_versions(store, every_role),
        lambda: read_query(store, _latest(every_role, per_version=True), numeric=LATEST_NUMERIC),
        lambda: (count_rows(store, selection), store.count_outcomes()),
        demographics,
    )


def performance_from(
    selection: Selection,
    latest: Iterable[Chunk],
    pairs: VersionPairs,
    latest_per_version: Callable[[], Iterable[Chunk]],
    counts: Callable[[], tuple[int, int]],
    demographics: Demographics | None = None,
) -> PerformanceResult:
    """The performance report from chunks of `LATEST_COLUMNS`, wherever they are ranked and
    joined (the log's database here, Spark for a run record: `spark_monitor`): `latest`,
    each customer's latest selected prediction with its outcome (`LATEST_WITH_IDS` with
    `demographics`, whose attributes then take the log's place); `pairs`, the (version,
    role) pairs of the window in every role; `latest_per_version`, the same rows per version
    and role in every role; `counts`, the selection's rows and the outcomes stored."""
    approvals: Approvals = {}
    logged, stored_outcomes = counts()
    matched_champion = _Outcomes(capacity=logged)
    customers = approved = 0
    for chunk in latest:
        if demographics is not None:
            chunk = demographics.applied(chunk)
        month_labels, approved_rows = chunk[PERIOD], chunk["decision"] != "decline"
        customers += len(month_labels)
        approved += int(approved_rows.sum())
        _count_approvals(approvals, month_labels, approved_rows.astype(np.float64), chunk)
        matched_champion.add(chunk)
    versions = _by_version(selection, matched_champion, pairs, latest_per_version)
    y, p, grade_of, month_of = matched_champion.arrays()
    if not y.size:
        raise PerformanceInputError(
            f"none of the {selection.describe()} has an outcome yet ({logged} "
            f"predictions, {stored_outcomes} outcomes): ingest outcomes with "
            "`bankrisk monitor outcomes`"
        )
    grades, hosmer = _backtest(grade_of, matched_champion.grades, y, p)
    by_month = tuple(
        MonthPerformance(m, _metrics(y[month_of == c], p[month_of == c]))
        for c, m in matched_champion.months.in_order(month_of)
    )
    overall = _metrics(y, p, last_use=True)  # after every use of the PDs in their order
    version_metrics = []
    for (version, role), held in sorted(versions.items()):
        if held is matched_champion:  # the selection's own rows: computed above
            version_metrics.append(VersionPerformance(version, role, overall))
            continue
        vy, vp, _, _ = held.arrays()
        if vy.size:
            version_metrics.append(VersionPerformance(version, role, _metrics(vy, vp)))
    months = sorted({m for m, _, _ in approvals if m != _OVERALL})
    return PerformanceResult(
        overall=overall,
        rows=f"each customer's latest prediction among the {selection.describe()}",
        customers=customers,
        predictions_logged=logged,
        outcomes=stored_outcomes,
        matched=sum(v.metrics.n for v in version_metrics),
        approval_rate=approved / customers,
        by_model_version=tuple(version_metrics),
        by_month=by_month,
        grades=tuple(grades),
        underestimated_grades=tuple(g.grade for g in grades if g.underestimated),
        overestimated_grades=tuple(g.grade for g in grades if g.overestimated),
        hosmer_lemeshow=hosmer,
        fairness=FairnessReport(
            overall=_fairness_of(approvals, _OVERALL),
            by_month=tuple(MonthFairness(m, _fairness_of(approvals, m)) for m in months),
            four_fifths_threshold=FOUR_FIFTHS,
            min_group_size=MIN_GROUP_SIZE,
            demographics=None if demographics is None else demographics.source,
        ),
    )
