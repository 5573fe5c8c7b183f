"""The Portfolio page: upload a file (scored by `bankrisk score`'s code, bounded by
`console_upload_rows`) or pick a recorded run; see its grades, decisions, expected defaults
and riskiest customers, download its scores, open a declined customer's notice; compare two
recorded runs (grade migration, largest PD rises).

Every choice is a POST (no run or customer in a URL); the download's URL carries an opaque
token only. Recorded runs are listed from `portfolio_runs` (fast on any log); a run's rows
are read once and kept in the cache folder (a run never changes).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bankrisk.bundle.policy import DECISIONS
from bankrisk.console import charts
from bankrisk.console.auth import AnalystDep, verify_csrf
from bankrisk.console.portfolio_data import (
    Migration,
    PdRise,
    PortfolioScores,
    PortfolioSummary,
    biggest_rises,
    load_scores,
    migration,
    new_token,
    run_token,
    save_scores,
    scores_csv,
    scores_path,
    summarise,
)
from bankrisk.console.portfolio_sources import (
    MAX_BYTES_PER_ROW,
    UploadError,
    check_upload_name,
    read_run,
    score_upload,
    too_many_rows,
    upload_name,
)
from bankrisk.console.state import ConsoleState, StateDep
from bankrisk.console.web import page
from bankrisk.errors import BankRiskError
from bankrisk.prediction_log.runs import RecordedRun, find_run, list_runs
from bankrisk.schema import FIELD_NAMES

router = APIRouter()

UPLOAD_FIELD = "portfolio_file"
RUN_FIELD = "run_id"
LAST_FIELD = "last_run"
THIS_FIELD = "this_run"
NOTICE_ROUTE = "/notice"
CUSTOMER_FIELD = "customer_id"


@dataclass(frozen=True)
class Shown:
    """A portfolio on the page: where it came from, its summary, charts and download."""

    source: str
    summary: PortfolioSummary
    token: str
    grade_chart: Markup
    decision_chart: Markup


@dataclass(frozen=True)
class Compared:
    last: RecordedRun
    this: RecordedRun
    migration: Migration
    rises: tuple[PdRise, ...]


# A recorded run never changes, nor do the scores kept under a token: what is derived from
# them is kept in memory for the next pages (a few portfolios of up to tens of thousands of
# rows: tens of MB at most).
KEPT = 8


@lru_cache(maxsize=KEPT)
def _kept_scores(folder: Path, token: str) -> PortfolioScores:
    """The scores kept under `token` (UploadError when they are gone: never cached)."""
    found = load_scores(folder, token)
    if found is None:
        raise UploadError("These scores are no longer kept: open the portfolio again.")
    return found


@lru_cache(maxsize=KEPT)
def _kept_summary(folder: Path, token: str, grades: tuple[str, ...]) -> PortfolioSummary:
    return summarise(_kept_scores(folder, token), grades, DECISIONS)


@lru_cache(maxsize=KEPT)
def _kept_comparison(
    folder: Path, last: str, this: str, grades: tuple[str, ...]
) -> tuple[Migration, tuple[PdRise, ...]]:
    before, after = _kept_scores(folder, last), _kept_scores(folder, this)
    return migration(before, after, grades), tuple(biggest_rises(before, after))


def _shown(state: ConsoleState, summary: PortfolioSummary, source: str, token: str) -> Shown:
    return Shown(
        source=source,
        summary=summary,
        token=token,
        grade_chart=charts.bars(
            "grades", "Customers by grade", [(c.label, c.count) for c in summary.grades]
        ),
        decision_chart=charts.bars(
            "decisions", "Customers by decision", [(c.label, c.count) for c in summary.decisions]
        ),
    )


def _runs(state: ConsoleState) -> tuple[list[RecordedRun], str | None]:
    """The recorded runs, or why none can be listed."""
    if state.store is None:
        return [], "The prediction log is off (BANKRISK_PREDICTION_LOG=off): no recorded runs."
    try:
        return list_runs(state.store), None
    except BankRiskError as exc:
        return [], str(exc)


def _render(
    request: Request,
    state: ConsoleState,
    *,
    status_code: int = 200,
    shown: Shown | None = None,
    compared: Compared | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    runs, runs_problem = _runs(state)
    return page(
        request,
        "portfolio.html",
        status_code=status_code,
        title="Portfolio",
        runs=runs,
        runs_problem=runs_problem,
        upload_rows=state.settings.console_upload_rows,
        shown=shown,
        compared=compared,
        problem=problem,
        fields=FIELD_NAMES,
        notice_route=NOTICE_ROUTE,
        customer_field=CUSTOMER_FIELD,
        upload_field=UPLOAD_FIELD,
        run_field=RUN_FIELD,
        last_field=LAST_FIELD,
        this_field=THIS_FIELD,
    )


@router.get("/portfolio", response_class=HTMLResponse)
def portfolio_page(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    return _render(request, state)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/portfolio/upload", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def upload(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    limit = state.settings.console_upload_rows
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit * MAX_BYTES_PER_ROW:
        return _render(request, state, status_code=413, problem=str(too_many_rows(None, limit)))
    form: Any = await request.form()
    sent = form.get(UPLOAD_FIELD)
    if not isinstance(sent, UploadFile) or not sent.filename:
        return _render(
            request, state, status_code=422, problem=f"{UPLOAD_FIELD}: choose a file to upload"
        )
    shown_name = upload_name(sent.filename)
    try:
        suffix = check_upload_name(sent.filename)
        with tempfile.TemporaryDirectory(prefix="bankrisk-upload-") as work:
            path = Path(work, f"upload{suffix}")
            path.write_bytes(await sent.read())
            scores = await run_in_threadpool(score_upload, state.model_dir, path, shown_name, limit)
    except UploadError as exc:
        return _render(request, state, status_code=422, problem=str(exc))
    token = new_token()
    await run_in_threadpool(save_scores, state.portfolio_dir, token, scores)
    source = f"Uploaded file {shown_name}, scored by {state.bundle.name} {state.bundle.version}"
    summary = summarise(scores, state.bundle.policy.grades, DECISIONS)
    return _render(request, state, shown=_shown(state, summary, source, token))


def _recorded(state: ConsoleState, run_id: str) -> tuple[RecordedRun, str]:
    """A recorded run and the token its scores are kept under: read from the log once (a
    scan of the log: seconds on a large one), then kept; UploadError (shown on the page)
    for an unknown run."""
    if state.store is None:
        raise UploadError("The prediction log is off: there are no recorded runs.")
    found = find_run(state.store, run_id)
    if found is None:
        raise UploadError(f"{RUN_FIELD}: no recorded run {run_id!r} in the log")
    token = run_token(state.store.url, run_id)
    if not scores_path(state.portfolio_dir, token).is_file():
        read = read_run(state.store, run_id)
        if read is None:
            raise UploadError(f"{RUN_FIELD}: no recorded run {run_id!r} in the log")
        save_scores(state.portfolio_dir, token, read[1])
    return found, token


def _summary(state: ConsoleState, token: str) -> PortfolioSummary:
    return _kept_summary(state.portfolio_dir, token, tuple(state.bundle.policy.grades))


def _describe(run: RecordedRun) -> str:
    return (
        f"Recorded run {run.run_id} as of {run.as_of:%Y-%m-%d}, scored by {run.model_name} "
        f"{run.model_version}"
    )


@router.post("/portfolio/run", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def show_run(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    form: Any = await request.form()
    run_id = _text(form, RUN_FIELD)
    if not run_id:
        return _render(request, state, status_code=422, problem=f"{RUN_FIELD}: choose a run")
    try:
        run, token = await run_in_threadpool(_recorded, state, run_id)
        summary = await run_in_threadpool(_summary, state, token)
    except BankRiskError as exc:
        return _render(request, state, status_code=422, problem=str(exc))
    return _render(request, state, shown=_shown(state, summary, _describe(run), token))


@router.post("/portfolio/compare", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def compare(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    form: Any = await request.form()
    last_id, this_id = _text(form, LAST_FIELD), _text(form, THIS_FIELD)
    if not last_id or not this_id:
        problem = f"{LAST_FIELD} and {THIS_FIELD}: choose two runs to compare"
        return _render(request, state, status_code=422, problem=problem)
    if last_id == this_id:
        problem = f"{THIS_FIELD}: choose a run other than the last run ({last_id})"
        return _render(request, state, status_code=422, problem=problem)
    grades = tuple(state.bundle.policy.grades)
    try:
        last, last_token = await run_in_threadpool(_recorded, state, last_id)
        this, token = await run_in_threadpool(_recorded, state, this_id)
        summary = await run_in_threadpool(_summary, state, token)
        found = await run_in_threadpool(
            _kept_comparison, state.portfolio_dir, last_token, token, grades
        )
    except BankRiskError as exc:
        return _render(request, state, status_code=422, problem=str(exc))
    compared = Compared(last=last, this=this, migration=found[0], rises=found[1])
    shown = _shown(state, summary, _describe(this), token)
    return _render(request, state, shown=shown, compared=compared)


@router.get("/portfolio/download/{token}")
async def download(token: str, state: StateDep, _: AnalystDep) -> Response:
    data = await run_in_threadpool(scores_csv, state.portfolio_dir, token)
    if data is None:
        return Response(
            "These scores are no longer kept: open the portfolio again.",
            status_code=404,
            media_type="text/plain",
        )
    return Response(
        data,
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="portfolio-scores.csv"',
            "Cache-Control": "no-store",
        },
    )
