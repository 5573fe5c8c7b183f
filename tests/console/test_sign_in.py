"""Signing in to the console: the key, the refusals, CSRF, and the session cookie."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from bankrisk.console.auth import Session, Sessions
from helpers.console import ConsoleServer, console_server, csrf_token, serious_violations, sign_in


def test_the_key_signs_in_and_pages_need_it(page: Any, console: ConsoleServer) -> None:
    page.goto(f"{console.url}/models")
    assert page.url == f"{console.url}/sign-in"  # not signed in: sent to sign in
    assert serious_violations(page) == []
    sign_in(page, console)
    page.wait_for_url(f"{console.url}/customer")
    cookie = next(c for c in page.context.cookies() if c["name"] == "bankrisk_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_a_wrong_or_missing_key_is_refused_clearly(page: Any, console: ConsoleServer) -> None:
    sign_in(page, console, key="not-the-key")
    assert page.get_by_role("alert").inner_text().startswith("That is not the console key")
    sign_in(page, console, key="")
    assert "the field is empty" in page.get_by_role("alert").inner_text()
    assert page.url == f"{console.url}/sign-in"
    assert serious_violations(page) == []


def test_a_post_without_its_csrf_token_is_refused(console: ConsoleServer) -> None:
    with httpx.Client(base_url=console.url) as client:
        client.get("/sign-in")  # an anonymous session
        refused = client.post("/sign-in", data={"key": console.key})
        assert refused.status_code == 403
        assert "security token" in refused.text
        forged = client.post("/sign-in", data={"key": console.key, "csrf_token": "forged"})
        assert forged.status_code == 403


def test_a_post_without_a_session_is_refused(console: ConsoleServer) -> None:
    refused = httpx.post(f"{console.url}/customer", data={"csrf_token": "x", "LIMIT_BAL": "1"})
    assert refused.status_code == 403
    assert "<h1>" in refused.text and "Traceback" not in refused.text


def test_signing_out_ends_the_session(analyst_page: Any, console: ConsoleServer) -> None:
    analyst_page.get_by_role("button", name="Sign out").click()
    analyst_page.wait_for_url(f"{console.url}/sign-in")
    analyst_page.goto(f"{console.url}/customer")
    assert analyst_page.url == f"{console.url}/sign-in"


def test_without_a_configured_key_one_is_made_and_printed(
    console_bundle_dir: Path, tmp_path: Path
) -> None:
    with console_server(
        console_bundle_dir, cwd=tmp_path, BANKRISK_CONSOLE_KEY="", BANKRISK_PREDICTION_LOG="off"
    ) as made:
        assert len(made.key) >= 20
        with httpx.Client(base_url=made.url) as client:
            token = csrf_token(client.get("/sign-in").text)
            signed = client.post("/sign-in", data={"key": made.key, "csrf_token": token})
            assert signed.status_code == 303 and signed.headers["location"] == "/customer"
            assert client.get("/customer").status_code == 200


def test_the_log_holds_no_customer_data(analyst_page: Any, console: ConsoleServer) -> None:
    analyst_page.get_by_label("Customer id", exact=True).fill("C1003")
    analyst_page.get_by_role("button", name="Look up").click()
    # Waits for the answer (`is_visible` would not: under load the page is still loading).
    expect(analyst_page.get_by_role("heading", name="Customer C1003")).to_be_visible()
    assert "C1003" not in console.log.read_text()


def test_a_session_cookie_cannot_be_forged_or_reused_after_sign_out() -> None:
    sessions = Sessions()
    analyst = sessions.issue(analyst=True)
    cookie = sessions.encode(analyst)
    assert sessions.decode(cookie) == analyst
    sid, _, expires, signature = cookie.split(".")
    assert sessions.decode(f"{sid}.1.{int(expires) + 3600}.{signature}") is None  # extended
    assert sessions.decode(sessions.encode(analyst).replace(".1.", ".0.", 1)) is None
    assert Sessions().decode(cookie) is None  # another process's secret
    expired = Session(analyst.sid, True, int(time.time()) - 1)
    assert sessions.decode(sessions.encode(expired)) is None
    sessions.revoked.add(analyst.sid)
    assert sessions.decode(cookie) is None
    assert sessions.csrf_token(analyst) != sessions.csrf_token(sessions.issue(analyst=True))
