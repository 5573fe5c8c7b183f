"""The Monitoring page: drift over time per input and the score, the score's distribution
against the reference, the PD back-test per grade, realised AUC, approval rates and the
adverse impact ratio by month, and the alerts firing now.

The figures come from the console's cache (`monitoring_cache`): computed in a child process
when the console starts and when an analyst asks for a refresh, never while a page waits.
The alerts are asked of Prometheus (`settings.prometheus_url`) with a short timeout and kept
for a few seconds.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from bankrisk.console import charts
from bankrisk.console.auth import AnalystDep, verify_csrf
from bankrisk.console.monitoring_cache import CacheState, Job, Refresher
from bankrisk.console.monitoring_figures import MonitoringFigures, Performance
from bankrisk.console.state import ConsoleState, StateDep
from bankrisk.console.web import page

ALERTS_TIMEOUT_S = 0.25
ALERTS_KEPT_S = 15.0
WARM_RUNS = 2  # the latest recorded runs read with the figures (the Portfolio page's likely picks)

_refreshers: dict[Path, Refresher] = {}
_refreshers_lock = threading.Lock()


def refresher_for(state: ConsoleState) -> Refresher | None:
    """The console's one refresher (None: the log is off)."""
    if state.store is None:
        return None
    with _refreshers_lock:
        found = _refreshers.get(state.cache_dir)
        if found is None:
            settings = state.settings
            job = Job(
                log_url=state.store.url,
                pseudonymise=state.store.salt is not None,
                salt=state.store.salt,
                model_dir=state.model_dir,
                folder=state.cache_dir / "monitoring",
                warn=settings.drift_warn_psi,
                alert=settings.drift_alert_psi,
                runs_folder=state.portfolio_dir,
                warm_runs=WARM_RUNS,
            )
            found = _refreshers[state.cache_dir] = Refresher(job)
        return found


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start computing the figures with the console; stop a computation with it."""
    refresher = refresher_for(app.state.console)
    if refresher is not None:
        refresher.start()
    yield
    if refresher is not None:
        refresher.stop()


router = APIRouter(lifespan=lifespan)


# --- the alerts firing now --------------------------------------------------------------


@dataclass(frozen=True)
class FiringAlert:
    name: str
    severity: str
    summary: str
    since: str


@dataclass(frozen=True)
class Alerts:
    """The alerts firing now, or why they are not known (`problem`)."""

    source: str
    firing: tuple[FiringAlert, ...]
    problem: str | None


_alerts_kept: dict[str, tuple[float, Alerts]] = {}


def _firing(payload: object) -> tuple[FiringAlert, ...]:
    data = payload.get("data") if isinstance(payload, dict) else None
    items = data.get("alerts") if isinstance(data, dict) else None
    found = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("state") != "firing":
            continue
        labels, notes = item.get("labels") or {}, item.get("annotations") or {}
        found.append(
            FiringAlert(
                name=str(labels.get("alertname", "?")),
                severity=str(labels.get("severity", "")),
                summary=str(notes.get("summary") or notes.get("description") or ""),
                since=str(item.get("activeAt", ""))[:19].replace("T", " "),
            )
        )
    return tuple(found)


def alerts_now(prometheus_url: str) -> Alerts:
    """`GET {prometheus_url}/api/v1/alerts`'s firing alerts, kept `ALERTS_KEPT_S`."""
    base = prometheus_url.strip().rstrip("/")
    if not base:
        return Alerts("", (), "No Prometheus is configured (BANKRISK_PROMETHEUS_URL is empty).")
    kept = _alerts_kept.get(base)
    if kept is not None and time.monotonic() - kept[0] < ALERTS_KEPT_S:
        return kept[1]
    url = f"{base}/api/v1/alerts"
    try:
        with urllib.request.urlopen(url, timeout=ALERTS_TIMEOUT_S) as answer:
            found = Alerts(base, _firing(json.loads(answer.read())), None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        found = Alerts(base, (), f"Prometheus at {base} did not answer ({reason}).")
    _alerts_kept[base] = (time.monotonic(), found)
    return found


# --- the page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoringCharts:
    score: Markup | None
    backtest: Markup | None
    auc: Markup | None
    ratios: Markup | None
    heat: Markup | None


def _bin_labels(edges: tuple[float, ...]) -> list[str]:
    return [f"{lo:.0f}-{hi:.0f}" for lo, hi in itertools.pairwise(edges)]


def _ratio_chart(performance: Performance) -> Markup | None:
    months = sorted({a.month for a in performance.approvals})
    attributes = sorted({a.attribute for a in performance.approvals})
    if not months:
        return None
    ratio = {(a.month, a.attribute): a.adverse_impact_ratio for a in performance.approvals}
    series = [(name, [(m, ratio.get((m, name))) for m in months]) for name in attributes]
    return charts.line(
        "air",
        "Adverse impact ratio by month",
        series,
        fmt=lambda v: f"{v:.2f}",
        low=0.0,
        high=1.0,
        reference=(f"four-fifths ({performance.four_fifths:.2f})", performance.four_fifths),
    )


def _charts(figures: MonitoringFigures) -> MonitoringCharts:
    score = backtest = auc = ratios = heat = None
    if figures.score is not None:
        d = figures.score
        labels = _bin_labels(d.edges) if len(d.edges) == len(d.current) + 1 else []
        labels = labels or [str(k + 1) for k in range(len(d.current))]
        score = charts.grouped_bars(
            "score-distribution",
            "The score's distribution: this window against the reference (training)",
            labels,
            [("reference", list(d.reference)), ("logged", list(d.current))],
            fmt=charts.percent,
        )
    if figures.drift is not None:
        h = figures.drift
        heat = charts.heat_map(
            f"PSI by {h.by} (warn from {h.warn:g}, alert from {h.alert:g})",
            h.characteristics,
            h.periods,
            [[charts.HeatCell(c.psi, c.status) for c in row] for row in h.cells],
            fmt=lambda v: f"{v:.3f}",
        )
    p = figures.performance
    if p is not None:
        backtest = charts.intervals(
            "backtest",
            "Observed default rate per grade with its Jeffreys 95% interval, against the mean PD",
            [
                charts.Interval(g.grade, g.default_rate, g.ci_low, g.ci_high, g.mean_pd)
                for g in p.grades
            ],
            "observed default rate",
            "mean PD",
        )
        auc = charts.line(
            "auc",
            "Realised ROC AUC by month",
            [("ROC AUC", [(m.month, m.roc_auc) for m in p.by_month])],
            fmt=lambda v: f"{v:.2f}",
            low=0.5,
            high=1.0,
        )
        ratios = _ratio_chart(p)
    return MonitoringCharts(score, backtest, auc, ratios, heat)


def _render(request: Request, state: ConsoleState, cache: CacheState | None) -> HTMLResponse:
    figures = cache.figures if cache is not None else None
    return page(
        request,
        "monitoring.html",
        title="Monitoring",
        log_off=state.store is None,
        cache=cache,
        figures=figures,
        charts=_charts(figures) if figures is not None else None,
        alerts=alerts_now(state.settings.prometheus_url),
    )


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    refresher = refresher_for(state)
    return _render(request, state, refresher.state() if refresher is not None else None)


@router.post("/monitoring/refresh", dependencies=[Depends(verify_csrf)])
def refresh(state: StateDep, _: AnalystDep) -> RedirectResponse:
    """Start a computation (none if one is running); back to the page (303: a reload does
    not send the form again)."""
    refresher = refresher_for(state)
    if refresher is not None:
        refresher.start()
    return RedirectResponse("/monitoring", status_code=303)
