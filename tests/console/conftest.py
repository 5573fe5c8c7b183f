"""The console's fixtures: one real `bankrisk console` process per session over the small
test bundle and a SQLite prediction log holding champion and shadow rows, and Playwright on
Debian's chromium (one browser for these tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.prediction_log.opening import open_reader
from helpers.console import (
    FAIRNESS_REPORT,
    MODEL_CARD,
    ConsoleServer,
    RegistryInTheMaking,
    console_log_rows,
    console_server,
    sign_in,
    start_registry,
)
from helpers.console_portfolio import RecordedRuns, record_two_runs
from helpers.factories import make_raw

CREDITOR = {
    "BANKRISK_CREDITOR_NAME": "Example Bank, N.A.",
    "BANKRISK_CREDITOR_ADDRESS": "1 Example Plaza, Springfield, IL 62701",
    "BANKRISK_CREDITOR_AGENCY": "Consumer Financial Protection Bureau, 1700 G Street NW, "
    "Washington, DC 20552",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium (Playwright downloads no browser), one per test module and closed
    after it: while Playwright's sync API runs, its event loop counts as running in this
    thread, and `asyncio.run` would refuse in every other test of the session."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in a context of its own (no cookie of another test)."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def console_log_url(
    tmp_path_factory: pytest.TempPathFactory, small_bundle_dir: Path, challenger_dir: Path
) -> str:
    """A SQLite prediction log of 40 customers scored by the champion (the small bundle) and
    by a shadow (the challenger) for the same requests; customer C1000 four times."""
    url = f"sqlite:///{tmp_path_factory.mktemp('console-log') / 'predictions.db'}"
    store = open_reader(url)
    assert store is not None
    raw, _ = make_raw(40, seed=11)
    champion, shadow = ModelBundle.load(small_bundle_dir), ModelBundle.load(challenger_dir)
    store.insert_predictions(console_log_rows(champion, shadow, raw))
    store.close()
    return url


@pytest.fixture(scope="session")
def console_bundle_dir(tmp_path_factory: pytest.TempPathFactory, small_bundle_dir: Path) -> Path:
    """The small bundle (with its reference distributions) carrying a model card and a
    fairness report, as training writes them."""
    bundle = ModelBundle.load(small_bundle_dir)
    bundle.metadata["fairness"] = FAIRNESS_REPORT
    directory = tmp_path_factory.mktemp("console-bundle")
    bundle.save(directory, model_card=MODEL_CARD)
    return directory


@pytest.fixture(scope="session")
def console_registry(tmp_path_factory: pytest.TempPathFactory) -> RegistryInTheMaking:
    """An MLflow tracking URI whose registry holds two versions (helpers.console), being
    made in a child process: `.ready()` waits for it and gives the URI."""
    return start_registry(f"sqlite:///{tmp_path_factory.mktemp('console-mlflow') / 'mlflow.db'}")


@pytest.fixture(scope="session")
def console(
    console_registry: RegistryInTheMaking,  # first: it is made while the rest is built
    tmp_path_factory: pytest.TempPathFactory,
    console_bundle_dir: Path,
    console_log_url: str,
) -> Iterator[ConsoleServer]:
    """`bankrisk console` over the bundle, the log and the registry, with a creditor
    configured."""
    workdir = tmp_path_factory.mktemp("console")
    with console_server(
        console_bundle_dir,
        cwd=workdir,
        BANKRISK_DATA_DIR=str(workdir / "data"),
        BANKRISK_PREDICTION_LOG=console_log_url,
        MLFLOW_TRACKING_URI=console_registry.ready(),
        **CREDITOR,
    ) as server:
        yield server


@pytest.fixture
def analyst_page(page: Any, console: ConsoleServer) -> Any:
    """A Playwright page signed in to the console."""
    sign_in(page, console)
    page.wait_for_url(f"{console.url}/customer")
    return page


@pytest.fixture(scope="session")
def console_runs(
    tmp_path_factory: pytest.TempPathFactory, console_log_url: str, console_bundle_dir: Path
) -> RecordedRuns:
    """Two portfolio runs recorded in the console's log (helpers.console_portfolio)."""
    store = open_reader(console_log_url)
    assert store is not None
    try:
        folder = tmp_path_factory.mktemp("console-runs")
        return record_two_runs(store, console_bundle_dir, folder)
    finally:
        store.close()
