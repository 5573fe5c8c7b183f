"""The adverse-action notice: opened from the Customer page by a POST, printed without the
navigation; from a portfolio row's fields; the creditor's settings missing said plainly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.console.app import create_console
from bankrisk.console.notices import MAX_REASONS
from bankrisk.console.state import ConsoleState
from bankrisk.core.scorer import Scorer
from helpers.console import ConsoleServer, fields_of, serious_violations, signed_in_client
from helpers.factories import make_raw

LOGGED = make_raw(40, seed=11)[0]  # the log's customers C1000.. (tests/console/conftest.py)


def _first(bundle: ModelBundle, decision: str) -> tuple[str, list[float]]:
    return next(
        (f"C{1000 + i}", v)
        for i, v in enumerate(LOGGED.tolist())
        if bundle.score_row(v).decision == decision
    )


def test_a_declined_customer_s_notice_prints_without_navigation(
    analyst_page: Any, console: ConsoleServer, console_bundle_dir: Path
) -> None:
    bundle = ModelBundle.load(console_bundle_dir)
    customer, values = _first(bundle, "decline")
    page = analyst_page
    page.get_by_label("Customer id", exact=True).fill(customer)
    page.get_by_role("button", name="Look up").click()
    page.get_by_label("Applicant's name (optional: else a line to fill in)").fill("A. Customer")
    page.get_by_role("button", name="Open the adverse-action notice").click()
    assert page.url == f"{console.url}/notice"  # a POST: nothing in the URL
    letter = page.locator("article.letter").inner_text()
    assert "Example Bank, N.A." in letter and "1 Example Plaza" in letter
    assert "Consumer Financial Protection Bureau" in letter
    assert "Equal Credit Opportunity Act" in letter and "A. Customer" in letter
    reasons = [r["text"] for r in bundle.score_row(values).reasons][:MAX_REASONS]
    assert page.locator("article.letter ol li").all_inner_texts() == reasons
    assert page.get_by_role("alert").count() == 0  # configured: no warning
    assert serious_violations(page) == []
    page.emulate_media(media="print")
    assert not page.get_by_role("navigation").is_visible()
    assert not page.get_by_role("button", name="Sign out").is_visible()
    assert page.locator("article.letter").is_visible()
    assert page.pdf()[:4] == b"%PDF"


@pytest.fixture
def unconfigured(console_bundle_dir: Path, tmp_path: Path) -> TestClient:
    """The console in process, without the creditor's settings or a prediction log."""
    settings = Settings(console_key="k", prediction_log="off", data_dir=tmp_path)
    bundle = ModelBundle.load(console_bundle_dir)
    cache = tmp_path / "cache"
    state = ConsoleState(settings, Scorer(bundle), None, bundle, cache, console_bundle_dir)
    return TestClient(create_console(state), base_url="http://127.0.0.1")


def test_a_notice_from_posted_fields_says_what_is_not_configured(
    unconfigured: TestClient, console_bundle_dir: Path
) -> None:
    """The portfolio page posts a row's fields: the same notice, and the missing creditor
    settings named in a warning rather than invented."""
    bundle = ModelBundle.load(console_bundle_dir)
    _, values = _first(bundle, "decline")
    with unconfigured as client:
        token = signed_in_client(client, "k")
        answer = client.post("/notice", data={**fields_of(values), "csrf_token": token})
        assert answer.status_code == 200
        assert "Not configured:" in answer.text
        for name in ("BANKRISK_CREDITOR_NAME", "BANKRISK_CREDITOR_ADDRESS"):
            assert name in answer.text
        assert "supervising agency&#39;s name and address not configured" in answer.text
        assert answer.headers["cache-control"] == "no-store"


def test_no_notice_for_an_approved_customer_nor_without_a_token(
    unconfigured: TestClient, console_bundle_dir: Path
) -> None:
    bundle = ModelBundle.load(console_bundle_dir)
    _, approved = _first(bundle, "approve")
    with unconfigured as client:
        token = signed_in_client(client, "k")
        answer = client.post("/notice", data={**fields_of(approved), "csrf_token": token})
        assert answer.status_code == 200 and "no adverse action" in answer.text
        refused = client.post("/notice", data=fields_of(approved))
        assert refused.status_code == 403
