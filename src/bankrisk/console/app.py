"""`create_console(state)`: the console's FastAPI app.

Every request gets a session (auth.py) from its cookie, or a new anonymous one; the cookie is
set again only when the session changed (signed in, signed out, new). Errors become pages:
not signed in (a GET goes to /sign-in, a POST is refused), a bad CSRF token, a malformed
request (naming the field), an unknown page, and any bug (a page that says so, never a
traceback: the traceback goes to the process's log).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bankrisk.console.auth import (
    COOKIE,
    SESSION_SECONDS,
    CsrfRefusedError,
    NotSignedInError,
    Sessions,
)
from bankrisk.console.pages import customer, models, monitoring, notice, portfolio, sign_in
from bankrisk.console.state import ConsoleState
from bankrisk.console.web import STATIC, NavLink, message_page

logger = logging.getLogger("bankrisk.console")

# Content-Security-Policy: no script at all, nothing from another origin, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_console(state: ConsoleState) -> FastAPI:
    app = FastAPI(title="bankrisk console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = state
    app.state.sessions = Sessions()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (sign_in, customer, notice, models, portfolio, monitoring):
        app.include_router(module.router)
    app.state.models_figures = models.LatestFigures()
    app.state.models_figures.get(state)  # the Models page's figures: computed from now on
    app.middleware("http")(_session_middleware)
    _add_error_pages(app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/customer", status_code=303)

    return app


async def _session_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    sessions: Sessions = request.app.state.sessions
    found = sessions.decode(request.cookies.get(COOKIE))
    request.state.session = found or sessions.issue(analyst=False)
    response = await call_next(request)
    if request.state.session != found:
        response.set_cookie(
            COOKIE,
            sessions.encode(request.state.session),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _add_error_pages(app: FastAPI) -> None:
    sign_in_link = NavLink("/sign-in", "Sign in")

    @app.exception_handler(NotSignedInError)
    async def not_signed_in(request: Request, _: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            return RedirectResponse("/sign-in", status_code=303)
        return message_page(
            request,
            "Not signed in",
            "This form was sent without a signed-in session (it may have ended): sign in "
            "again, then send it again.",
            status_code=403,
            link=sign_in_link,
        )

    @app.exception_handler(CsrfRefusedError)
    async def csrf_refused(request: Request, _: Exception) -> Response:
        return message_page(
            request,
            "Form refused",
            "This form's security token is missing or is not this session's (the page may be "
            "from an earlier session): open the page again and send the form from it.",
            status_code=403,
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in errors
        )
        return message_page(request, "Bad request", problems, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        detail = exc.detail if isinstance(exc, StarletteHTTPException) else ""
        title = "Page not found" if status == 404 else "Request refused"
        text = "There is no such page here." if status == 404 else str(detail)
        return message_page(request, title, text, status_code=status)

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        logger.exception("console page %s failed", request.url.path)
        return message_page(
            request,
            "Something went wrong",
            f"This page failed ({type(exc).__name__}); the console's log has the details.",
            status_code=500,
        )
