"""The Monitoring page's figures, computed from the prediction log by the monitoring code
(`monitoring.drift`, `monitoring.performance`: no metric is computed here) and kept as typed
values that round-trip through JSON (the page renders them from the console's cache:
`console.monitoring_cache`).

One pass over the champion's rows counts every period's drift bins (`BinCounts`, as
`run_drift_over_time` does); the whole window's drift (the score's distribution against the
reference) is the periods' counts merged, so it costs no second pass. Then one
`run_performance` for the back-test, the realised AUC and approval fairness by month.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import TypeAdapter
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bankrisk.errors import BankRiskError
from bankrisk.monitoring.drift import (
    DRIFT_COLUMNS,
    BinCounts,
    CharacteristicDrift,
    DriftOverTime,
    DriftResult,
    drift_of,
    drift_over_time_of,
    prepare_drift,
)
from bankrisk.monitoring.performance import VERDICT_ATTRIBUTES, PerformanceResult, run_performance
from bankrisk.prediction_log.columns import PERIOD, Period, Selection, read_columns
from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    as_utc,
    predictions,
    short_error,
)

# The periods of the heat map: the span of the log decides (at most about two dozen columns).
DAYS_BY_WEEK = 21
DAYS_BY_MONTH = 120
OUTPUTS = ("pd", "score")


@dataclass(frozen=True)
class DriftCell:
    psi: float | None
    status: str


@dataclass(frozen=True)
class DriftHeat:
    """PSI per characteristic (rows) and period (columns), with each period's row count."""

    by: str
    periods: tuple[str, ...]
    rows: tuple[int, ...]
    characteristics: tuple[str, ...]
    cells: tuple[tuple[DriftCell, ...], ...]
    warn: float
    alert: float
    latest_alerts: tuple[str, ...]


@dataclass(frozen=True)
class Distribution:
    """The score's shares per frozen bin, in the window and at training (the reference)."""

    name: str
    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    psi: float | None
    status: str
    n: int


@dataclass(frozen=True)
class GradeCheck:
    """A grade's back-test: mean PD against the observed rate and its Jeffreys interval."""

    grade: str
    n: int
    defaults: int
    mean_pd: float
    default_rate: float
    ci_low: float
    ci_high: float
    underestimated: bool
    overestimated: bool


@dataclass(frozen=True)
class MonthAuc:
    month: str
    n: int
    defaults: int
    roc_auc: float | None


@dataclass(frozen=True)
class GroupRate:
    group: str
    n: int
    approval_rate: float
    included_in_ratio: bool


@dataclass(frozen=True)
class MonthApproval:
    """One protected attribute in one month: approval rate per group, the adverse impact
    ratio and the four-fifths rule's verdict."""

    month: str
    attribute: str
    groups: tuple[GroupRate, ...]
    adverse_impact_ratio: float | None
    passed: bool | None


@dataclass(frozen=True)
class Performance:
    """What `run_performance` says, as the page shows it."""

    rows: str
    customers: int
    matched: int
    approval_rate: float
    roc_auc: float | None
    grades: tuple[GradeCheck, ...]
    by_month: tuple[MonthAuc, ...]
    approvals: tuple[MonthApproval, ...]
    overall: tuple[MonthApproval, ...]
    four_fifths: float


@dataclass(frozen=True)
class MonitoringFigures:
    """Everything the Monitoring page shows from the log, when it was computed and in how
    long; a section that could not be computed says why (`*_note`)."""

    computed_at: datetime
    seconds: float
    rows: int
    selection: str
    model: str
    drift: DriftHeat | None
    score: Distribution | None
    drift_note: str | None
    performance: Performance | None
    performance_note: str | None


FIGURES = TypeAdapter(MonitoringFigures)


def to_json(figures: MonitoringFigures) -> bytes:
    return FIGURES.dump_json(figures)


def from_json(data: bytes | str) -> MonitoringFigures:
    return FIGURES.validate_json(data)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def choose_period(store: PredictionStore, selection: Selection) -> Period:
    """Days, weeks or months, by the span of the selected rows' times."""
    c = predictions.c
    query = select(func.min(c.time), func.max(c.time)).where(selection.condition())
    try:
        with store.engine.connect() as connection:
            first, last = connection.execute(query).one()
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from exc
    if first is None or last is None:
        return "month"
    span = as_utc(last) - as_utc(first)
    if span > timedelta(days=DAYS_BY_MONTH):
        return "month"
    return "week" if span > timedelta(days=DAYS_BY_WEEK) else "day"


def _heat(over_time: DriftOverTime) -> DriftHeat:
    first = over_time.periods[0].result
    names = [*first.inputs, *(n for n in OUTPUTS if getattr(first, n) is not None)]
    cells = []
    for name in names:
        row = []
        for period in over_time.periods:
            item = _characteristic(period.result, name)
            row.append(
                DriftCell(None, "none")
                if item is None or (item.window_too_small and item.n == 0)
                else DriftCell(_finite(item.psi), item.status)
            )
        cells.append(tuple(row))
    return DriftHeat(
        by=over_time.by,
        periods=tuple(p.period for p in over_time.periods),
        rows=tuple(p.result.n for p in over_time.periods),
        characteristics=tuple(names),
        cells=tuple(cells),
        warn=over_time.thresholds.warn,
        alert=over_time.thresholds.alert,
        latest_alerts=over_time.latest_alerts,
    )


def _characteristic(result: DriftResult, name: str) -> CharacteristicDrift | None:
    if name in OUTPUTS:
        found: CharacteristicDrift | None = getattr(result, name)
        return found
    return result.inputs.get(name)


def _distribution(name: str, item: CharacteristicDrift) -> Distribution:
    return Distribution(
        name=name,
        edges=tuple(item.edges),
        reference=tuple(item.reference),
        current=tuple(item.current),
        psi=_finite(item.psi),
        status=item.status,
        n=item.n,
    )


def _verdict(attribute: str, passed: bool | None) -> bool | None:
    """The four-fifths verdict of a protected attribute; None (not judged) for EDUCATION,
    reported but not protected (`performance.VERDICT_ATTRIBUTES`)."""
    return passed if attribute in VERDICT_ATTRIBUTES else None


def _performance(result: PerformanceResult) -> Performance:
    approvals = tuple(
        MonthApproval(
            month.month,
            attribute,
            tuple(
                GroupRate(g, v.n, v.approval_rate, v.included_in_ratio)
                for g, v in fairness.groups.items()
            ),
            _finite(fairness.adverse_impact_ratio),
            _verdict(attribute, fairness.four_fifths_rule_passed),
        )
        for month in result.fairness.by_month
        for attribute, fairness in month.attributes.items()
    )
    overall = tuple(
        MonthApproval(
            "all",
            attribute,
            tuple(
                GroupRate(g, v.n, v.approval_rate, v.included_in_ratio)
                for g, v in fairness.groups.items()
            ),
            _finite(fairness.adverse_impact_ratio),
            _verdict(attribute, fairness.four_fifths_rule_passed),
        )
        for attribute, fairness in result.fairness.overall.items()
    )
    return Performance(
        rows=result.rows,
        customers=result.customers,
        matched=result.overall.n,
        approval_rate=result.approval_rate,
        roc_auc=_finite(result.overall.roc_auc),
        grades=tuple(
            GradeCheck(
                g.grade,
                g.n,
                g.defaults,
                g.mean_pd,
                g.default_rate,
                g.ci_low,
                g.ci_high,
                g.underestimated,
                g.overestimated,
            )
            for g in result.grades
        ),
        by_month=tuple(
            MonthAuc(m.month, m.metrics.n, m.metrics.defaults, _finite(m.metrics.roc_auc))
            for m in result.by_month
        ),
        approvals=approvals,
        overall=overall,
        four_fifths=result.fairness.four_fifths_threshold,
    )


@dataclass(frozen=True)
class Drifts:
    over_time: DriftOverTime
    whole: DriftResult


def drifts(
    store: PredictionStore, model_dir: Path, selection: Selection, warn: float, alert: float
) -> Drifts:
    """Each period's drift and the whole window's, from one pass over the log (the loop of
    `run_drift_over_time`, its counts merged for the window)."""
    by = choose_period(store, selection)
    prepared = prepare_drift(model_dir, selection, warn, alert)
    per_period: dict[str, BinCounts] = {}
    for chunk in read_columns(store, DRIFT_COLUMNS, selection, by=by):
        labels = chunk[PERIOD]
        for period in set(labels.tolist()):
            counts = per_period.setdefault(str(period), BinCounts(prepared.plan))
            counts.add_chunk(chunk, labels == period)
    whole = BinCounts(prepared.plan)
    for counts in per_period.values():
        whole.merge(counts)
    over_time = drift_over_time_of(prepared, per_period, selection, by, warn, alert)
    return Drifts(over_time, drift_of(prepared, whole, selection, warn, alert))


def compute_figures(
    store: PredictionStore, model_dir: Path, warn: float, alert: float
) -> MonitoringFigures:
    """The page's figures over the champion's logged rows; a section that cannot be computed
    (no rows, no outcomes yet) carries the monitoring code's message instead."""
    start = time.monotonic()
    selection = Selection()
    heat = score = None
    drift_note = performance_note = None
    rows = 0
    model = ""
    try:
        found = drifts(store, model_dir, selection, warn, alert)
        heat = _heat(found.over_time)
        rows = found.whole.n
        model = f"{found.over_time.model.name} version {found.over_time.model.version}"
        if found.whole.score is not None:
            score = _distribution("score", found.whole.score)
    except BankRiskError as exc:
        drift_note = str(exc)
    performance = None
    try:
        performance = _performance(run_performance(store, selection))
    except BankRiskError as exc:
        performance_note = str(exc)
    return MonitoringFigures(
        computed_at=datetime.now(UTC),
        seconds=time.monotonic() - start,
        rows=rows,
        selection=selection.describe(),
        model=model,
        drift=heat,
        score=score,
        drift_note=drift_note,
        performance=performance,
        performance_note=performance_note,
    )
