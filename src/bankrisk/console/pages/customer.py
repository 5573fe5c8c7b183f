"""The Customer page: look a customer up by id or enter the 23 fields; see the PD, points,
grade, decision, reasons and warnings, what would change the outcome, the customer's scores
over time, and open an adverse-action notice. Look-ups are POSTs: no customer data in URLs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from bankrisk.console import charts
from bankrisk.console.auth import AnalystDep, verify_csrf
from bankrisk.console.customers import (
    CUSTOMER_ID,
    SECTIONS,
    CustomerError,
    CustomerView,
    by_id,
    form_text,
    from_form,
    history_labels,
    view,
)
from bankrisk.console.state import ConsoleState, StateDep
from bankrisk.console.web import page
from bankrisk.errors import BankRiskError
from bankrisk.schema import FIELDS_BY_NAME, OPTIONAL

router = APIRouter()


def _render(
    request: Request,
    state: ConsoleState,
    *,
    status_code: int = 200,
    shown: CustomerView | None = None,
    entered: dict[str, str] | None = None,
    problem: CustomerError | None = None,
    typed_id: str = "",
) -> HTMLResponse:
    chart = None
    if shown is not None and len(shown.history) > 1:
        chart = charts.line(
            "history",
            "The customer's PD over time",
            [("PD", history_labels(shown.history))],
            fmt=charts.percent,
            low=0.0,
            high=1.0,
            reference=("decline from", state.bundle.policy.threshold),
        )
    return page(
        request,
        "customer.html",
        status_code=status_code,
        title="Customer",
        sections=SECTIONS,
        specs=FIELDS_BY_NAME,
        optional=OPTIONAL,
        entered=entered or (shown.fields if shown else {}),
        customer_id=(shown.found.customer_id if shown else typed_id) or "",
        shown=shown,
        problem=problem,
        history_chart=chart,
        policy=state.bundle.policy,
        model_name=state.bundle.name,
        model_version=state.bundle.version,
    )


@router.get("/customer", response_class=HTMLResponse)
def customer_page(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    return _render(request, state)


@router.post("/customer", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def look_up(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    form: Any = await request.form()
    entered = {name: form_text(form, name) for name in FIELDS_BY_NAME}
    try:
        if form_text(form, "source") == "id":
            found = await run_in_threadpool(by_id, form_text(form, CUSTOMER_ID), state)
        else:
            found = from_form(form, state)
        shown = await run_in_threadpool(view, found, state)
    except BankRiskError as exc:  # a bad field, an unknown id, a log or store that fails
        problem = exc if isinstance(exc, CustomerError) else CustomerError(str(exc))
        typed_id = form_text(form, CUSTOMER_ID)
        return _render(
            request, state, status_code=422, entered=entered, problem=problem, typed_id=typed_id
        )
    return _render(request, state, shown=shown)
