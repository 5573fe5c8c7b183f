"""How every console page is rendered: one Jinja2 environment (autoescape on, undefined names
are errors) and `page(request, template, **context)`.

`page` gives every template the navigation, whether the caller is signed in, and
`csrf_field()` (the hidden input every POST form must carry); its response is never cached
(`Cache-Control: no-store`: pages show customer data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from bankrisk.console.auth import CSRF_FIELD, session_of, sessions_of

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str


NAV = (
    NavLink("/customer", "Customer"),
    NavLink("/portfolio", "Portfolio"),
    NavLink("/monitoring", "Monitoring"),
    NavLink("/models", "Models"),
)


def percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def lower_first(text: str) -> str:
    """A sentence made the tail of another ("and bring the balance ...")."""
    return text[:1].lower() + text[1:]


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["percent"] = percent
environment.filters["number"] = number
environment.filters["lower_first"] = lower_first


def page(
    request: Request, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The template rendered with the shared context, as a response that is never cached."""
    session = session_of(request)
    token = sessions_of(request).csrf_token(session)

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, escape(token)
        )

    html = environment.get_template(template).render(
        nav=NAV,
        current_path=request.url.path,
        signed_in=session.analyst,
        csrf_field=csrf_field,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response


def message_page(
    request: Request, title: str, message: str, *, status_code: int, link: NavLink | None = None
) -> HTMLResponse:
    """A page that only says something: an error, a refusal, a missing thing."""
    return page(
        request, "message.html", status_code=status_code, title=title, message=message, link=link
    )
