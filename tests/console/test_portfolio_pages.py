"""The Portfolio page in a real browser against a real `bankrisk console`: upload a file
(good, malformed, over the row bound), download its scores, open a declined row's notice,
compare two recorded runs; no customer data in any URL; axe finds nothing serious."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.schema import FIELD_NAMES
from helpers.console import ConsoleServer, serious_violations
from helpers.console_portfolio import RecordedRuns, migration_counts, portfolio_frame

UPLOAD_ROWS = 50_000  # the default bound (BANKRISK_CONSOLE_UPLOAD_ROWS)


def _watch_urls(page: Any) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _upload(page: Any, console: ConsoleServer, path: Path) -> None:
    page.goto(f"{console.url}/portfolio")
    page.get_by_label("Portfolio file (.csv or .parquet)").set_input_files(str(path))
    page.get_by_role("button", name="Score the file").click()
    page.wait_for_load_state()


def test_an_uploaded_portfolio_is_summarised_downloaded_and_noticed(
    analyst_page: Any, console: ConsoleServer, console_bundle_dir: Path, tmp_path: Path
) -> None:
    frame = portfolio_frame(40, seed=31, prefix="UPLOADED-CUSTOMER-")
    path = tmp_path / "book.csv"
    frame.to_csv(path, index=False)
    scores = ModelBundle.load(console_bundle_dir).score(frame[list(FIELD_NAMES)].to_numpy(float))
    urls = _watch_urls(analyst_page)
    _upload(analyst_page, console, path)

    page = analyst_page
    assert page.locator("#rows").inner_text() == "40"
    assert page.locator("#expected-defaults").inner_text() == f"{scores.pd.sum():,.1f}"
    riskiest = page.locator("#riskiest tbody tr")
    assert (
        riskiest.first.locator("td").first.inner_text()
        == frame["customer_id"][int(np.argmax(scores.pd))]
    )
    grades = page.get_by_role("table", name="Grade distribution").locator("tbody tr")
    counted = {
        row.locator("th").inner_text(): row.locator("td").first.inner_text() for row in grades.all()
    }
    for grade in set(scores.grades):
        assert counted[grade] == str(list(scores.grades).count(grade))
    assert serious_violations(page) == []

    with page.expect_download() as info:
        page.locator("#download").click()
    rows = list(csv.DictReader(info.value.path().open()))
    urls.append(info.value.url)
    assert [r["customer_id"] for r in rows] == list(frame["customer_id"])
    assert [r["risk_grade"] for r in rows] == list(scores.grades)

    declined = page.locator("#riskiest tbody tr", has_text="decline").first
    declined.get_by_role("button").click()
    page.wait_for_load_state()
    assert (
        page.get_by_role("heading", level=1).inner_text().startswith("Statement of credit denial")
    )

    sent = [u for u in urls if u.startswith(console.url)]
    assert any("/portfolio/download/" in u for u in sent)  # an opaque token only
    assert not any(cid in u for u in sent for cid in frame["customer_id"]), sent


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("missing", "book.csv: missing required columns: PAY_0"),
        ("bad_age", "row 3: AGE: must be between 18 and 100, got 7"),
    ],
)
def test_a_malformed_upload_says_which_field_and_why(
    analyst_page: Any, console: ConsoleServer, tmp_path: Path, broken: str, message: str
) -> None:
    frame = portfolio_frame(5, seed=32)
    if broken == "missing":
        frame = frame.drop(columns=["PAY_0"])
    else:
        frame.loc[2, "AGE"] = 7
    path = tmp_path / "book.csv"
    frame.to_csv(path, index=False)
    _upload(analyst_page, console, path)
    problem = analyst_page.get_by_role("alert").inner_text()
    assert message in problem
    assert str(tmp_path) not in problem and "Traceback" not in analyst_page.content()


def test_an_upload_over_the_row_bound_points_to_bankrisk_score(
    analyst_page: Any, console: ConsoleServer, tmp_path: Path
) -> None:
    path = tmp_path / "large.csv"
    portfolio_frame(UPLOAD_ROWS + 1, seed=33).to_csv(path, index=False)
    _upload(analyst_page, console, path)
    problem = analyst_page.get_by_role("alert").inner_text()
    assert f"has {UPLOAD_ROWS + 1:,} rows; the console scores at most {UPLOAD_ROWS:,}" in problem
    assert "bankrisk score" in problem and "--engine spark" in problem


def test_two_recorded_runs_compared(
    analyst_page: Any,
    console: ConsoleServer,
    console_runs: RecordedRuns,
    console_bundle_dir: Path,
) -> None:
    page = analyst_page
    page.goto(f"{console.url}/portfolio")
    page.get_by_label("Last run").select_option(console_runs.last_id)
    page.get_by_label("This run").select_option(console_runs.this_id)
    page.get_by_role("button", name="Compare the runs").click()
    page.wait_for_load_state()

    bundle = ModelBundle.load(console_bundle_dir)
    expected = migration_counts(bundle, console_runs.last, console_runs.this)
    cells = page.locator("#migration td[data-from]")
    shown = {
        (cell.get_attribute("data-from"), cell.get_attribute("data-to")): int(cell.inner_text())
        for cell in cells.all()
    }
    assert {k: n for k, n in shown.items() if n} == dict(expected)
    assert page.locator("#matched").inner_text() == str(sum(expected.values()))

    last = dict(zip(console_runs.last["customer_id"], _pds(bundle, console_runs.last), strict=True))
    this = dict(zip(console_runs.this["customer_id"], _pds(bundle, console_runs.this), strict=True))
    top = max((c for c in this if c in last), key=lambda c: this[c] - last[c])
    assert page.locator("#rises tbody tr").first.locator("td").first.inner_text() == top
    assert serious_violations(page) == []


def _pds(bundle: ModelBundle, frame: Any) -> list[float]:
    return [float(p) for p in bundle.score(frame[list(FIELD_NAMES)].to_numpy(float)).pd]


def test_a_run_compared_with_itself_is_refused_with_a_message(
    analyst_page: Any, console: ConsoleServer, console_runs: RecordedRuns
) -> None:
    page = analyst_page
    page.goto(f"{console.url}/portfolio")
    page.get_by_label("Last run").select_option(console_runs.this_id)
    page.get_by_label("This run").select_option(console_runs.this_id)
    page.get_by_role("button", name="Compare the runs").click()
    page.wait_for_load_state()
    problem = page.get_by_role("alert").inner_text()
    assert problem == f"this_run: choose a run other than the last run ({console_runs.this_id})"
