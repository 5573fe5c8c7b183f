"""The Monitoring page in a real browser against a real `bankrisk console`: the figures its
background computation leaves (polled for, never timed), a refresh, no Prometheus
configured, and axe."""

from __future__ import annotations

import time
from typing import Any

from bankrisk.prediction_log.columns import Selection, count_rows
from bankrisk.prediction_log.opening import open_reader
from helpers.console import ConsoleServer, serious_violations

COMPUTED_WITHIN_S = 120  # a generous bound on a busy machine: the page is polled until then


def _open_when_computed(page: Any, console: ConsoleServer) -> None:
    """The Monitoring page once figures exist and none is being computed."""
    deadline = time.monotonic() + COMPUTED_WITHIN_S
    while True:
        page.goto(f"{console.url}/monitoring")
        if page.locator("#row-count").count() and not page.locator("#computing").count():
            return
        assert time.monotonic() < deadline, page.locator("#status").inner_text()
        time.sleep(0.5)


def test_the_monitoring_page_shows_the_computed_figures(
    analyst_page: Any, console: ConsoleServer, console_log_url: str
) -> None:
    page = analyst_page
    _open_when_computed(page, console)
    store = open_reader(console_log_url, create=False)
    assert store is not None
    champion_rows = count_rows(store, Selection())
    store.close()
    assert page.locator("#row-count").inner_text() == f"{champion_rows:,}"
    heat = page.locator("table.heat-map")
    assert heat.locator("tbody th").first.inner_text() == "LIMIT_BAL"
    assert heat.locator("tbody tr", has_text="score").count() == 1
    assert page.get_by_role("img", name="The score's distribution").count() == 1
    main = page.locator("main").inner_text()
    assert "No Prometheus is configured" in main
    assert "has an outcome yet" in main  # the console's log holds no outcome
    assert "Traceback" not in page.content()
    assert serious_violations(page) == []


def test_a_refresh_starts_a_computation(analyst_page: Any, console: ConsoleServer) -> None:
    """The Refresh form starts a computation; the page says so (or, had it finished at
    once, shows the new figures), and the button is disabled meanwhile."""
    page = analyst_page
    _open_when_computed(page, console)
    before = page.locator("#computed-at").get_attribute("data-computed")
    page.get_by_role("button", name="Refresh the figures").click()
    page.wait_for_url(f"{console.url}/monitoring")
    after = page.locator("#computed-at").get_attribute("data-computed")
    if page.locator("#computing").count():
        assert page.locator("#computing").inner_text().startswith("Computing, started at")
        assert page.get_by_role("button", name="Refresh the figures").is_disabled()
    else:
        assert before is not None and after is not None and after > before
