"""The adverse-action notice: a printable page (print stylesheet: no navigation), opened by a
POST carrying the customer's fields (the Customer page's, or a portfolio row's) or id, never
anything in the URL. Printing to PDF is the browser's: the server makes no PDF."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from bankrisk.console.auth import AnalystDep, verify_csrf
from bankrisk.console.customers import CUSTOMER_ID, Found, by_id, form_text, from_form
from bankrisk.console.notices import ECOA_NOTICE, build_notice
from bankrisk.console.state import StateDep
from bankrisk.console.web import NavLink, message_page, page
from bankrisk.errors import BankRiskError
from bankrisk.schema import FIELD_NAMES

router = APIRouter()
BACK = NavLink("/customer", "Back to the Customer page")


@router.get("/notice", response_class=HTMLResponse)
def notice_help(request: Request, _: AnalystDep) -> HTMLResponse:
    return message_page(
        request,
        "Adverse-action notice",
        "A notice is opened from a declined customer on the Customer page (or from a "
        "portfolio row): look the customer up first.",
        status_code=200,
        link=BACK,
    )


def _customer(form: Any, state: Any) -> Found:
    if any(form_text(form, name) for name in FIELD_NAMES):
        return from_form(form, state)
    return by_id(form_text(form, CUSTOMER_ID), state)


@router.post("/notice", response_class=HTMLResponse, dependencies=[Depends(verify_csrf)])
async def notice(request: Request, state: StateDep, _: AnalystDep) -> HTMLResponse:
    form: Any = await request.form()
    try:
        found = await run_in_threadpool(_customer, form, state)
    except BankRiskError as exc:
        return message_page(request, "No notice", str(exc), status_code=422, link=BACK)
    prediction = state.scorer.predict_one(found.values, found.customer_id)
    if prediction["decision"] == "approve":
        return message_page(
            request,
            "No notice",
            "This customer is approved: there is no adverse action to give notice of.",
            status_code=200,
            link=BACK,
        )
    letter = build_notice(
        state.settings,
        prediction,
        applicant_name=form_text(form, "applicant_name"),
        applicant_address=form_text(form, "applicant_address"),
    )
    return page(
        request, "notice.html", title="Adverse-action notice", notice=letter, ecoa=ECOA_NOTICE
    )
