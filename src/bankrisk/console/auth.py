"""Signing in to the console, and the two checks every page makes.

An analyst signs in with the console key (`settings.console_key`). The session is a signed
cookie (HMAC-SHA256 over a random session id, whether it is signed in, and its expiry; HttpOnly,
SameSite=Strict, Secure over HTTPS), so the server keeps no session table; signing out revokes
the id for the life of the process. Every visitor gets an anonymous session first, so that the
sign-in form too carries a CSRF token; signing in issues a new id (no session fixation).

- `AnalystDep`: every page takes it. Not signed in: a GET is redirected to /sign-in, a POST is
  refused with 403 and a page saying so (`NotSignedInError`, turned into a response by app.py).
- `verify_csrf`: every POST depends on it: the form's `csrf_token` must be the synchronizer
  token of the caller's session (an HMAC of its id), else 403 (`CsrfRefusedError`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

COOKIE = "bankrisk_console"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 8 * 3600  # a working day: then the analyst signs in again


class NotSignedInError(Exception):
    """A page was asked for without a signed-in session."""


class CsrfRefusedError(Exception):
    """A POST whose CSRF token is missing or not its session's."""


@dataclass(frozen=True)
class Session:
    """One visitor's session: `analyst` once signed in with the console key."""

    sid: str
    analyst: bool
    expires: int


@dataclass
class Sessions:
    """Issues, signs and checks sessions with a secret made at start (a restart signs everyone
    out); remembers the ids signed out since."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    revoked: set[str] = field(default_factory=set)

    def issue(self, *, analyst: bool) -> Session:
        expires = int(time.time()) + SESSION_SECONDS
        return Session(secrets.token_urlsafe(18), analyst, expires)

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self.secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def encode(self, session: Session) -> str:
        payload = f"{session.sid}.{int(session.analyst)}.{session.expires}"
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str | None) -> Session | None:
        """The session a cookie carries; None when absent, forged, expired or signed out."""
        parts = (value or "").split(".")
        if len(parts) != 4:
            return None
        sid, analyst, expires, signature = parts
        if not hmac.compare_digest(signature, self._sign(f"{sid}.{analyst}.{expires}")):
            return None
        if not expires.isdigit() or int(expires) < time.time() or sid in self.revoked:
            return None
        return Session(sid, analyst == "1", int(expires))

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}")

    def key_matches(self, given: str, key: str) -> bool:
        """Compared in constant time, as digests (so the length leaks nothing either)."""
        return bool(key) and hmac.compare_digest(
            hashlib.sha256(given.encode()).digest(), hashlib.sha256(key.encode()).digest()
        )


def sessions_of(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def session_of(request: Request) -> Session:
    """The caller's session (the middleware in app.py sets one; an error page rendered outside
    it gets an anonymous one)."""
    session: Session | None = getattr(request.state, "session", None)
    return session or sessions_of(request).issue(analyst=False)


def require_analyst(request: Request) -> Session:
    session = session_of(request)
    if not session.analyst:
        raise NotSignedInError
    return session


AnalystDep = Annotated[Session, Depends(require_analyst)]


async def verify_csrf(request: Request) -> None:
    """The form's CSRF token is its session's, else `CsrfRefusedError` (403)."""
    form = await request.form()  # Starlette keeps the parsed form: the route reads it again
    token = form.get(CSRF_FIELD)
    expected = sessions_of(request).csrf_token(session_of(request))
    if not isinstance(token, str) or not hmac.compare_digest(token, expected):
        raise CsrfRefusedError
