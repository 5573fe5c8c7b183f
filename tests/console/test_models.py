"""The Models page: registered versions with aliases and gate verdicts, champion against
shadow from the log, the champion's fairness table and model card; an unreachable registry
said plainly."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.console.app import create_console
from bankrisk.console.state import ConsoleState
from bankrisk.core.scorer import Scorer
from helpers.console import (
    FAIRNESS_FINDINGS,
    ConsoleServer,
    serious_violations,
    signed_in_client,
)
from helpers.factories import make_raw

WAIT_S = 60.0
COMPUTING = "being computed in the background"


def _expected_pairs(champion: ModelBundle, shadow: ModelBundle) -> tuple[int, int]:
    """Pairs and differing decisions in the console's log (conftest: C1000 four times)."""
    raw, _ = make_raw(40, seed=11)
    mine, theirs = champion.score(raw).decisions, shadow.score(raw).decisions
    weights = [4] + [1] * (len(mine) - 1)
    differ = sum(w for w, a, b in zip(weights, mine, theirs, strict=True) if a != b)
    return sum(weights), differ


def test_the_models_page(
    analyst_page: Any, console: ConsoleServer, console_bundle_dir: Path, challenger_dir: Path
) -> None:
    page = analyst_page
    page.get_by_role("link", name="Models").click()
    page.wait_for_url(f"{console.url}/models")
    deadline = time.monotonic() + WAIT_S  # the figures are computed in the background
    while COMPUTING in page.locator("main").inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        page.reload()
    versions = page.get_by_role("table", name="every registered version")
    rows = versions.locator("tbody tr")
    assert rows.count() == 2
    newest, oldest = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert "challenger" in newest and FAIRNESS_FINDINGS in newest
    assert "held by fairness, inputs" in newest and "CHANGED: EDUCATION added" in newest
    assert "champion" in oldest and "passed" in oldest and "same" in oldest

    pairs, differ = _expected_pairs(
        ModelBundle.load(console_bundle_dir), ModelBundle.load(challenger_dir)
    )
    main = page.locator("main").inner_text()
    assert f"of {pairs} paired decisions differ ({differ})" in main
    crosstab = page.get_by_role("table", name="Decisions: champion (rows) against shadow")
    cells = [int(t) for t in crosstab.locator("tbody td").all_inner_texts()]
    assert len(cells) == 9 and sum(cells) == pairs
    assert page.get_by_role("img", name="PD of the champion against shadow version").count() == 1

    fairness = page.get_by_role("table", name="SEX: ratio 0.956").inner_text()
    assert "71.2%" in fairness and "74.5%" in fairness
    card = page.locator(".model-card")
    assert card.get_by_role("heading", name="Fairness").is_visible()
    assert "<b>small</b>" in card.inner_text()  # the card's raw HTML is shown, not run
    assert page.locator("h1").count() == 1
    assert serious_violations(page) == []


@pytest.fixture
def refused_uri() -> Iterator[str]:
    """An HTTP URI on 127.0.0.1 whose port is bound but not listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_an_unreachable_registry_is_a_message(
    refused_uri: str, console_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    settings = Settings(
        console_key="k", prediction_log="off", data_dir=tmp_path, mlflow_tracking_uri=refused_uri
    )
    bundle = ModelBundle.load(console_bundle_dir)
    cache = tmp_path / "cache"
    state = ConsoleState(settings, Scorer(bundle), None, bundle, cache, console_bundle_dir)
    with TestClient(create_console(state), base_url="http://127.0.0.1") as client:
        signed_in_client(client, "k")
        answer = client.get("/models")
        deadline = time.monotonic() + WAIT_S
        while COMPUTING in answer.text and time.monotonic() < deadline:
            time.sleep(0.1)
            answer = client.get("/models")
    assert answer.status_code == 200
    assert f"The model registry at {refused_uri} cannot be read" in answer.text
    assert "The prediction log is off" in answer.text
    assert "Traceback" not in answer.text
