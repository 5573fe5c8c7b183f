"""The Models page: the registered versions with their aliases and the gate's verdicts,
champion against challenger from the prediction log, and the champion's model card with its
fairness table.

The registry (MLflow, over the network) and the comparison (a join over the log's window) take
seconds on a large log: they are computed in a background thread when the console starts and
again once the last figures are older than `REFRESH`, never while the page waits; the page shows
the last ones with their time (none yet: it says they are being computed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from bankrisk.console import charts
from bankrisk.console.auth import AnalystDep
from bankrisk.console.comparison import Comparison, compare
from bankrisk.console.registry import Registry, fairness_table, model_card, registered
from bankrisk.console.state import ConsoleState, StateDep
from bankrisk.console.web import page
from bankrisk.errors import BankRiskError

router = APIRouter()
WINDOW = timedelta(days=90)
REFRESH = timedelta(minutes=5)


@dataclass(frozen=True)
class ModelsFigures:
    """What the page shows from the registry and the log, and when it was computed."""

    registry: Registry
    comparison: Comparison | None
    comparison_problem: str
    computed_at: datetime


def _comparison(state: ConsoleState) -> tuple[Comparison | None, str]:
    if state.store is None:
        return None, "The prediction log is off (BANKRISK_PREDICTION_LOG=off): nothing to compare."
    try:
        return compare(state.store, datetime.now(UTC) - WINDOW), ""
    except BankRiskError as exc:
        return None, str(exc)


def _compute(state: ConsoleState) -> ModelsFigures:
    comparison, problem = _comparison(state)
    return ModelsFigures(registered(state.settings), comparison, problem, datetime.now(UTC))


class LatestFigures:
    """The last `ModelsFigures` of one console (kept on its app: `app.create_console`),
    refreshed by one thread at a time."""

    def __init__(self) -> None:
        self.figures: ModelsFigures | None = None
        self._running = False
        self._lock = threading.Lock()

    def get(self, state: ConsoleState) -> ModelsFigures | None:
        """The last figures (None before the first), starting a refresh when they are due."""
        with self._lock:
            figures = self.figures
            due = figures is None or datetime.now(UTC) - figures.computed_at >= REFRESH
            if due and not self._running:
                self._running = True
                threading.Thread(target=self._refresh, args=(state,), daemon=True).start()
        return figures

    def _refresh(self, state: ConsoleState) -> None:
        try:
            figures = _compute(state)
        finally:
            with self._lock:
                self._running = False
        with self._lock:
            self.figures = figures


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    latest: LatestFigures = request.app.state.models_figures
    figures = latest.get(state)
    comparison = figures.comparison if figures else None
    scatters = {
        s.version: charts.scatter(
            f"pd-{s.version}",
            f"PD of the champion against shadow version {s.version}",
            [charts.Point(a, b) for a, b in s.points],
            "champion PD",
            f"shadow {s.version} PD",
            fmt=charts.percent,
        )
        for s in (comparison.shadows if comparison else [])
    }
    return page(
        request,
        "models.html",
        title="Models",
        figures=figures,
        registry=figures.registry if figures else None,
        settings=state.settings,
        bundle=state.bundle,
        comparison=comparison,
        comparison_problem=figures.comparison_problem if figures else "",
        window_days=WINDOW.days,
        scatters=scatters,
        card=model_card(state.model_dir),
        fairness=fairness_table(state.bundle.metadata),
        decisions=("approve", "review", "decline"),
        refresh_minutes=int(REFRESH.total_seconds() // 60),
    )
