"""Every reason the trained champion states is true of the customer's own inputs.

All 24,000 shared rows are scored through the real API (batches of up to 10,000, in-process)
and through the bundle; an independent checker (`tests/helpers/reason_checker.py`) re-derives, from
each customer's raw fields, the condition every reason's attribute states and the numbers its
text and value show, and the rules (positive contributions, largest first, at most four, no
favourable attribute, never AGE, SEX, MARRIAGE or EDUCATION).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import MODEL_CARD_FILE
from bankrisk.config import Settings
from bankrisk.core.scorer import Scorer
from bankrisk.data.training_data import read_training_data
from bankrisk.features.reasons import REASON_CODES
from bankrisk.schema import FIELD_NAMES
from bankrisk.serving.app import create_app
from bankrisk.serving.observability import JsonLogger
from helpers.api import TestClient, batch_reason_codes
from helpers.reason_checker import tally

if TYPE_CHECKING:
    from helpers.trained import Trained

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_rows(shared_csv: Path) -> np.ndarray:
    return read_training_data(shared_csv).raw


def customers_of(raw: np.ndarray) -> list[dict[str, Any]]:
    return [dict(zip(FIELD_NAMES, row.tolist(), strict=True)) for row in raw]


def test_all_shared_rows_through_the_api_and_the_bundle(
    champion: ModelBundle, shared_rows: np.ndarray
) -> None:
    assert shared_rows.shape[0] == 24_000
    customers = customers_of(shared_rows)
    low_limit = champion.reason_policy.low_credit_limit
    answers = batch_reason_codes(champion, shared_rows)
    given, untrue, problems = tally(customers, answers, low_limit)
    assert sum(given.values()) > 24_000, given
    assert not untrue and not problems, (untrue, problems)
    # Every characteristic is used, none dominates every answer.
    assert set(given) == {r.code for r in REASON_CODES}, given

    bundle_answers = champion.score(shared_rows).reasons
    assert bundle_answers == answers
    _, untrue, problems = tally(customers, bundle_answers, low_limit)
    assert not untrue and not problems, problems


def test_the_single_row_path_gives_the_same_reasons(
    champion: ModelBundle, shared_rows: np.ndarray
) -> None:
    sample = shared_rows[::40]
    assert [champion.score_row(r.tolist()).reasons for r in sample] == champion.score(
        sample
    ).reasons


def test_low_use_customer_paying_in_full_is_not_told_of_a_high_balance_or_a_late_payment(
    champion: ModelBundle,
) -> None:
    # The example: limit 500,000, paid duly every month, bills under 1% of the limit,
    # each bill paid in full the month after.
    bills = [2_000, 3_000, 4_000, 2_500, 3_500, 3_000]
    fields: dict[str, float] = {
        "LIMIT_BAL": 500_000, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 35,
        **{f"PAY_{m}": -1 for m in (0, 2, 3, 4, 5, 6)},
        **{f"BILL_AMT{m + 1}": b for m, b in enumerate(bills)},
        **{f"PAY_AMT{m + 1}": b for m, b in enumerate([*bills[1:], 3_000])},
    }  # fmt: skip
    app = create_app(Settings(), Scorer(champion), logger=JsonLogger(io.StringIO()))
    with TestClient(app) as client:
        body = client.post("/v1/predict", json=fields).json()
    reasons = body["reason_codes"]
    row = [fields[name] for name in FIELD_NAMES]
    assert reasons == champion.score_row(row).reasons
    _, untrue, problems = tally([fields], [reasons], champion.reason_policy.low_credit_limit)
    assert not untrue and not problems, problems
    stated = {(r["code"], r["attribute"]) for r in reasons}
    # Low use of the limit, a growing balance and small payments are what this customer's
    # record can show; a high balance, a late payment or revolving credit it does not.
    assert stated <= {("R03", "low_use"), ("R06", "rising"), ("R07", "small")}, reasons
    for reason in reasons:
        assert "high" not in reason["text"] and "late" not in reason["text"].lower(), reason
    if ("R03", "low_use") in stated:
        low_use = next(r for r in reasons if r["code"] == "R03")
        assert low_use["text"].startswith("Little use of the credit limit: average balance 0.")


def test_the_model_card_lists_every_reason_with_its_frequency(
    trained_here: Trained, champion: ModelBundle, shared_csv: Path
) -> None:
    trained = trained_here
    card = (trained.report.model_dir / MODEL_CARD_FILE).read_text(encoding="utf-8")
    assert "## Reason codes" in card and "did not default" in card
    assert "EDUCATION is not an input" in card
    test_rows = read_training_data(shared_csv).raw[trained.report.test_index]
    counts = champion.reason_frequencies(test_rows)
    for code in REASON_CODES:
        for attribute in code.attributes:
            c = counts[(code.code, attribute.key)]
            adverse = "yes" if attribute.adverse else "no (never given)"
            line = f"| `{code.code}` | {code.group} | "
            cells = f"| `{attribute.key}` | {adverse} | "
            matching = [ln for ln in card.splitlines() if ln.startswith(line) and cells in ln]
            assert len(matching) == 1, (code.code, attribute.key)
            assert matching[0].endswith(f"| {c['given']} | {c['suppressed']} |"), matching
            if not attribute.adverse:
                assert c["given"] == 0
    assert sum(c["given"] for c in counts.values()) > len(test_rows)
