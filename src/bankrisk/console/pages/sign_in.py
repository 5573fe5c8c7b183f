"""Signing in and out with the console key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bankrisk.console.auth import session_of, sessions_of, verify_csrf
from bankrisk.console.state import StateDep
from bankrisk.console.web import page

router = APIRouter()


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    if session_of(request).analyst:
        return RedirectResponse("/customer", status_code=303)
    return page(request, "sign_in.html", problem="")


@router.post("/sign-in", dependencies=[Depends(verify_csrf)])
def sign_in(request: Request, state: StateDep, key: Annotated[str, Form()] = "") -> Response:
    sessions = sessions_of(request)
    if not key.strip():
        problem = "Enter the console key: the field is empty."
    elif not sessions.key_matches(key.strip(), state.settings.console_key.get_secret_value()):
        problem = "That is not the console key. Ask whoever started the console for it."
    else:
        request.state.session = sessions.issue(analyst=True)
        return RedirectResponse("/customer", status_code=303)
    return page(request, "sign_in.html", status_code=401, problem=problem)


@router.post("/sign-out", dependencies=[Depends(verify_csrf)])
def sign_out(request: Request) -> Response:
    sessions = sessions_of(request)
    sessions.revoked.add(session_of(request).sid)
    request.state.session = sessions.issue(analyst=False)
    return RedirectResponse("/sign-in", status_code=303)
