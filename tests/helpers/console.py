"""The console's browser tests: a real `bankrisk console` process, signing a page in, the
accessibility check, and the prediction log rows the console reads.

Playwright drives Debian's /usr/bin/chromium (tests/console/conftest.py); nothing downloads a
browser. axe-core comes bundled with axe-playwright-python.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.prediction_log.store import Row
from bankrisk.schema import FIELD_NAMES
from helpers.log_rows import row_of
from helpers.processes import BANKRISK, WAIT_S, clean_env, free_port, wait_answering

CONSOLE_KEY = "test-console-key-7f3a"
SERIOUS = ("serious", "critical")
# The log's rows start five weeks ago: inside every window the pages show by default.
LOG_START = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
    days=35
)
MODEL_NAME = "bank-default-risk"
FAIRNESS_FINDINGS = "AGE_BAND 0.73 < 0.8 (55+ 61% vs 35-44 83%)"
# A fairness report as training writes it into the bundle's metadata (`fairness_report`).
FAIRNESS_REPORT: dict[str, Any] = {
    "threshold": 0.3,
    "attributes": {
        "SEX": {
            "groups": {
                "male": {"n": 412, "approval_rate": 0.712, "included_in_ratio": True},
                "female": {"n": 588, "approval_rate": 0.745, "included_in_ratio": True},
            },
            "adverse_impact_ratio": 0.956,
            "four_fifths_rule_passed": True,
            "reference_group": "female",
            "notes": [],
        }
    },
}
MODEL_CARD = """# Model card: test-model

## Overview

A <b>small</b> test model.

## Fairness

| Group | Approval rate |
| --- | --- |
| male | 0.7120 |
| female | 0.7450 |
"""


@dataclass(frozen=True)
class ConsoleServer:
    url: str
    key: str
    log: Path  # what the process wrote (stdout and stderr)


@contextmanager
def console_server(model_dir: Path, cwd: Path, **env: str) -> Iterator[ConsoleServer]:
    """`bankrisk console` on a free port of 127.0.0.1 with `env` settings (the console key is
    `CONSOLE_KEY` unless `env` sets one; set empty, the key is the one the console prints),
    ready; stopped when the block ends. What it writes goes to `ConsoleServer.log`."""
    port = free_port()
    settings = {"BANKRISK_CONSOLE_KEY": CONSOLE_KEY, **env}
    log = cwd / "console.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BANKRISK), "console", "--model-dir", str(model_dir), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=clean_env(**settings),
            cwd=cwd,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(process, f"{url}/sign-in", "console")
        key = settings["BANKRISK_CONSOLE_KEY"] or _printed_key(log)
        yield ConsoleServer(url, key, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _printed_key(log: Path) -> str:
    """The key `bankrisk console` printed when none is configured (before it served)."""
    found = re.search(r"console key \(BANKRISK_CONSOLE_KEY is empty\): (\S+)", log.read_text())
    assert found, f"no key printed: {log.read_text()!r}"
    return found.group(1)


def sign_in(page: Any, server: ConsoleServer, key: str | None = None) -> None:
    """Sign the Playwright page in with the console key (or `key`)."""
    page.goto(f"{server.url}/sign-in")
    page.get_by_label("Console key").fill(server.key if key is None else key)
    page.get_by_role("button", name="Sign in").click()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (id: what)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]


def logged_row(
    bundle: ModelBundle,
    values: Sequence[float],
    *,
    request_id: str,
    customer_id: str | None,
    when: datetime,
    role: str = "champion",
) -> Row:
    """One customer scored by `bundle`, as the service logs it."""
    scores = bundle.score(np.array([values], dtype=float))
    fields: Mapping[str, Any] = dict(zip(FIELD_NAMES, values, strict=True))
    return row_of(
        {
            "request_id": request_id,
            "time": when,
            "model_name": bundle.name,
            "model_version": bundle.version,
            "model_role": role,
            "customer_id": customer_id,
            **fields,
            "pd": float(scores.pd[0]),
            "score": float(scores.points[0]),
            "grade": scores.grades[0],
            "decision": scores.decisions[0],
            "reason_codes": scores.reasons[0],
            "latency_ms": 2.0,
        }
    )


def console_log_rows(
    champion: ModelBundle, shadow: ModelBundle, raw: np.ndarray, *, history: int = 4
) -> list[Row]:
    """Rows for the console's log: each raw customer (id `C<1000+i>`) scored by the
    champion and, for the same request, by the shadow; the first customer scored `history`
    times a week apart (a history to show)."""
    rows: list[Row] = []
    for i, values in enumerate(raw.tolist()):
        customer = f"C{1000 + i}"
        times = [
            LOG_START + timedelta(days=7 * k, hours=i) for k in range(history if i == 0 else 1)
        ]
        for k, when in enumerate(times):
            request = f"req-{i}-{k}"
            rows.append(
                logged_row(champion, values, request_id=request, customer_id=customer, when=when)
            )
            rows.append(
                logged_row(
                    shadow,
                    values,
                    request_id=request,
                    customer_id=customer,
                    when=when,
                    role="shadow",
                )
            )
    return rows


@dataclass(frozen=True)
class RegistryInTheMaking:
    """A registry being made by a child process (MLflow's import and its database's set-up
    take seconds: they run while the other fixtures are built)."""

    uri: str
    process: subprocess.Popen[bytes]

    def ready(self) -> str:
        assert self.process.wait(timeout=120) == 0, "registering the test versions failed"
        return self.uri


def start_registry(tracking_uri: str) -> RegistryInTheMaking:
    """`register_versions` in a child process."""
    code = (
        "import sys; from helpers.console import register_versions; register_versions(sys.argv[1])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, tracking_uri],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return RegistryInTheMaking(tracking_uri, process)


def register_versions(tracking_uri: str) -> None:
    """Two registered versions as the gate tags them: 1 the champion (fairness passed, same
    inputs), 2 a challenger held back by fairness whose inputs changed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    client.create_registered_model(MODEL_NAME)
    common = {"model_family": "gbm", "test_roc_auc": "0.7812", "test_brier": "0.1334"}
    client.create_model_version(
        MODEL_NAME,
        source="bundle",
        tags={
            **common,
            "gate.decision": "champion",
            "gate.reason": "first version",
            "fairness.passed": "true",
            "gate.inputs_changed": "false",
        },
    )
    client.create_model_version(
        MODEL_NAME,
        source="bundle",
        tags={
            **common,
            "gate.decision": "challenger",
            "gate.reason": "AUC gain not significant",
            "gate.held_by": "fairness,inputs",
            "fairness.passed": "false",
            "fairness.findings": FAIRNESS_FINDINGS,
            "gate.inputs_changed": "true",
            "gate.inputs_change": "EDUCATION added",
        },
    )
    client.set_registered_model_alias(MODEL_NAME, "champion", "1")
    client.set_registered_model_alias(MODEL_NAME, "challenger", "2")


def csrf_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def signed_in_client(client: Any, key: str) -> str:
    """Sign an httpx-like client in; returns the session's CSRF token."""
    token = csrf_token(client.get("/sign-in").text)
    answer = client.post("/sign-in", data={"key": key, "csrf_token": token})
    assert answer.status_code in (200, 303), answer.text
    return csrf_token(client.get("/customer").text)


def fields_of(values: Sequence[float], *, leave_out: Sequence[str] = ()) -> dict[str, str]:
    """A customer's fields as a form sends them (those in `leave_out` left empty)."""
    return {
        name: "" if name in leave_out else f"{value:g}"
        for name, value in zip(FIELD_NAMES, values, strict=True)
    }


def fill_customer_form(page: Any, fields: Mapping[str, str]) -> None:
    """Type the fields into the Customer page's form and send it."""
    for name, text in fields.items():
        page.locator(f"#f-{name}").fill(text)
    page.get_by_role("button", name="Score").click()
    page.wait_for_load_state()
