"""The counterfactual search: every suggestion, applied and scored, reaches its goal and
touches only what the customer controls; the least change is found; pairs when needed."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pytest

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.core.counterfactual import (
    ACTIONABLE,
    Counterfactual,
    Outcome,
    bundle_scorer,
    search,
)
from bankrisk.schema import FIELD_NAMES
from helpers.factories import make_raw

INDEX = {name: i for i, name in enumerate(FIELD_NAMES)}
BETTER = {"PAY_0": -1, "PAY_AMT1": 1, "BILL_AMT1": -1}  # the direction of a favourable change


def applied(values: Sequence[float], option: Counterfactual) -> list[float]:
    changed = list(values)
    for change in option.changes:
        changed[INDEX[change.field]] = change.proposed
    return changed


def test_every_suggestion_reaches_its_goal_with_allowed_changes(bundle: ModelBundle) -> None:
    score = bundle_scorer(bundle)
    raw, _ = make_raw(300, seed=21)
    rows = [v for v in raw.tolist() if bundle.score_row(v).decision != "approve"][:60]
    assert len(rows) >= 30
    suggestions = 0
    for values in rows:
        result = search(values, score)
        for option in result.found:
            suggestions += 1
            assert 1 <= len(option.changes) <= 2
            after = score(applied(values, option))
            assert after == option.after
            assert after.reaches(option.goal, result.before), (values, option)
            for change in option.changes:
                assert change.field in ACTIONABLE
                assert change.current == values[INDEX[change.field]]
                assert math.copysign(1, change.proposed - change.current) == BETTER[change.field]
                assert change.description
        for goal in result.unreachable:
            assert not any(o.goal == goal for o in result.found)
    assert suggestions >= len(rows)  # most customers have at least one way forward


def test_an_approved_customer_has_no_better_decision(bundle: ModelBundle) -> None:
    score = bundle_scorer(bundle)
    raw, _ = make_raw(300, seed=21)
    values = next(v for v in raw.tolist() if bundle.score_row(v).decision == "approve")
    result = search(values, score)
    assert "decision" in result.already_best
    assert not any(o.goal == "decision" for o in result.found)


# A scorer whose PD is known in closed form: the least change can be computed by hand.
CUT_REVIEW, CUT_DECLINE = 0.15, 0.3
GRADE_BOUNDS = (0.05, 0.1, 0.2, 0.4)


def outcome(pd: float) -> Outcome:
    decision = int(pd >= CUT_REVIEW) + int(pd >= CUT_DECLINE)
    grade = sum(pd >= b for b in GRADE_BOUNDS)
    return Outcome(pd, 0, f"G{grade}", ("approve", "review", "decline")[decision], grade, decision)


def linear(pd_of: Callable[[Sequence[float]], float]) -> Callable[[Sequence[float]], Outcome]:
    return lambda values: outcome(min(max(pd_of(values), 0.0), 1.0))


def customer(**fields: float) -> list[float]:
    values = [0.0] * len(FIELD_NAMES)
    values[INDEX["LIMIT_BAL"]] = 100_000.0
    values[INDEX["BILL_AMT2"]] = 50_000.0
    for name, value in fields.items():
        values[INDEX[name]] = value
    return values


def test_the_least_payment_is_found_to_the_dollar() -> None:
    # PD falls by 0.1 for every NT$10,000 paid: from 0.35 (decline), paying 5,000 reaches
    # 0.30 (still decline) and just over 5,000 reaches review.
    score = linear(lambda v: 0.35 - v[INDEX["PAY_AMT1"]] / 100_000)
    values = customer(PAY_AMT1=0.0, PAY_0=-1.0, BILL_AMT1=0.0)
    result = search(values, score)
    (option,) = [o for o in result.found if o.goal == "decision"]
    (change,) = option.changes
    assert change.field == "PAY_AMT1"
    assert 5_000 < change.proposed <= 5_001
    assert option.after.decision == "review"
    assert score(customer(PAY_AMT1=change.proposed - 2, PAY_0=-1.0)).decision == "decline"


def test_two_actions_when_neither_alone_is_enough() -> None:
    # Paying the bill or clearing the balance each takes 0.1 off a PD of 0.38: together 0.2.
    def pd(v: Sequence[float]) -> float:
        paid = min(v[INDEX["PAY_AMT1"]] / 50_000, 1.0)
        balance = v[INDEX["BILL_AMT1"]] / 40_000
        return 0.28 + 0.1 * (1 - paid) + 0.1 * balance

    values = customer(PAY_AMT1=0.0, BILL_AMT1=40_000.0, PAY_0=-1.0)
    assert outcome(pd(values)).decision == "decline"
    result = search(values, linear(pd))
    decision = [o for o in result.found if o.goal == "decision"]
    assert decision and all(len(o.changes) == 2 for o in decision)
    for option in decision:
        assert pd(applied(values, option)) < CUT_DECLINE


@pytest.mark.parametrize("field", ["LIMIT_BAL", "PAY_2", "AGE", "BILL_AMT2"])
def test_what_the_customer_does_not_control_is_never_suggested(field: str) -> None:
    """A model that only reads a field the customer does not control: no suggestion."""
    score = linear(lambda v: 0.5 - v[INDEX[field]] / 1e9)
    values = customer(PAY_0=2.0, PAY_AMT1=0.0, BILL_AMT1=30_000.0)
    result = search(values, score)
    assert result.found == ()
    assert set(result.unreachable) == {"decision", "grade"}


def test_a_late_status_is_brought_down_step_by_step() -> None:
    # Each month late adds 0.1: at 3 months (0.4) decline; at 1 month (0.2) review.
    score = linear(lambda v: 0.1 + 0.1 * max(v[INDEX["PAY_0"]], 0.0))
    values = customer(PAY_0=3.0, PAY_AMT1=50_000.0, BILL_AMT1=0.0)
    result = search(values, score)
    (option,) = [o for o in result.found if o.goal == "decision"]
    assert [(c.field, c.proposed) for c in option.changes] == [("PAY_0", 1.0)]
    assert "1 month late" in option.changes[0].description


def test_a_goal_reached_midway_along_the_path_is_found() -> None:
    """A model not monotone in the balance (zero reads as an unused card): the best end of
    the path does not reach the goal, a level midway does."""
    score = linear(lambda v: 0.25 + 0.1 * abs(v[INDEX["BILL_AMT1"]] - 20_000) / 20_000)
    values = customer(BILL_AMT1=40_000.0, PAY_0=-1.0, PAY_AMT1=50_000.0)
    assert score(customer(BILL_AMT1=0.0)).decision == "decline"
    result = search(values, score)
    (option,) = [o for o in result.found if o.goal == "decision"]
    (change,) = option.changes
    assert change.field == "BILL_AMT1" and 29_999 <= change.proposed < 30_000
