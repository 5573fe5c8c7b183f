"""The Customer page in a real browser: by the form, by id, bad input, privacy, axe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import OPTIONAL
from helpers.console import ConsoleServer, fields_of, fill_customer_form, serious_violations
from helpers.factories import make_raw

LOGGED = make_raw(40, seed=11)[0]  # the log's customers C1000.. (tests/console/conftest.py)


def _declined(bundle: ModelBundle) -> tuple[int, list[float]]:
    return next(
        (i, v) for i, v in enumerate(LOGGED.tolist()) if bundle.score_row(v).decision == "decline"
    )


def _watch_urls(page: Any) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def test_a_customer_from_the_form_without_the_optional_fields(
    analyst_page: Any, console: ConsoleServer, console_bundle_dir: Path
) -> None:
    bundle = ModelBundle.load(console_bundle_dir)
    _, values = _declined(bundle)
    expected = bundle.score_row(values)
    urls = _watch_urls(analyst_page)
    fill_customer_form(analyst_page, fields_of(values, leave_out=OPTIONAL))
    summary = analyst_page.locator("dl.summary").inner_text()
    assert f"{expected.probability * 100:.2f}%" in summary
    assert expected.grade in summary and "decline" in summary
    reasons = analyst_page.get_by_role("table").first.locator("tbody tr")
    assert reasons.count() == len(expected.reasons)
    assert reasons.first.inner_text().startswith(expected.reasons[0]["code"])
    assert analyst_page.get_by_role("heading", name="A better decision").is_visible()
    assert serious_violations(analyst_page) == []
    assert all("LIMIT_BAL" not in u and f"{values[0]:g}" not in u for u in urls), urls


def test_a_customer_by_id_with_the_scores_over_time(
    analyst_page: Any, console: ConsoleServer
) -> None:
    urls = _watch_urls(analyst_page)
    analyst_page.get_by_label("Customer id", exact=True).fill("C1000")
    analyst_page.get_by_role("button", name="Look up").click()
    # Waits for the answer (`is_visible` would not: under load the page is still loading).
    expect(analyst_page.get_by_role("heading", name="Customer C1000")).to_be_visible()
    assert "No feature store is configured" in analyst_page.locator("main").inner_text()
    history = analyst_page.get_by_role("table", name="The customer's scores in the prediction log")
    assert history.locator("tbody tr").count() == 4  # scored four times (conftest)
    assert analyst_page.locator("svg[role=img]").count() == 1  # the PD over time
    assert serious_violations(analyst_page) == []
    assert urls and not any("C1000" in u for u in urls)


def test_an_unknown_id_gets_a_clear_message(analyst_page: Any, console: ConsoleServer) -> None:
    analyst_page.get_by_label("Customer id", exact=True).fill("NO-SUCH-CUSTOMER")
    analyst_page.get_by_role("button", name="Look up").click()
    alert = analyst_page.get_by_role("alert").inner_text()
    assert "No customer 'NO-SUCH-CUSTOMER' in the prediction log" in alert
    assert "no feature store is configured" in alert
    assert analyst_page.get_by_label("Customer id", exact=True).input_value() == "NO-SUCH-CUSTOMER"
    assert analyst_page.url == f"{console.url}/customer"


def test_bad_fields_are_named_on_the_page(analyst_page: Any, console: ConsoleServer) -> None:
    fields = fields_of(LOGGED[0].tolist())
    fields.update({"LIMIT_BAL": "lots", "PAY_0": "12"})
    fill_customer_form(analyst_page, fields)
    alert = analyst_page.get_by_role("alert").inner_text()
    assert "LIMIT_BAL: 'lots' is not a number" in alert
    assert "PAY_0" in alert
    assert analyst_page.locator("#f-LIMIT_BAL").get_attribute("aria-invalid") == "true"
    assert analyst_page.locator("#f-LIMIT_BAL").input_value() == "lots"  # kept to correct
    assert "Traceback" not in analyst_page.content()
    assert serious_violations(analyst_page) == []
