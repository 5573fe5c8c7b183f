"""The catalogue: every reason code (a characteristic), its attributes and their templates.

A characteristic is a reason group of features (`engineering.feature_groups`); each of its
attributes is a bin of the customer's own raw values, named by a stable `key` ("late",
"revolving", "never_late", ...). The attribute rules (`reasons.attributes`) choose attributes by
these keys, never by position: `ATTRIBUTE_INDEX[code][key]` is the position of an attribute in
`ReasonCode.attributes`, the index `measure` returns and the order the bundle lists them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bankrisk.features.engineering import FeatureSet, feature_groups


@dataclass(frozen=True)
class Attribute:
    """One bin of a characteristic: a stable `key`, and `text` and `value` templates over the
    characteristic's named values (`str.format` syntax plus the specs of `reasons.texts`);
    `adverse` is False for an attribute that does not read as a reason against the customer
    (favourable or neutral), never stated as a reason."""

    key: str
    text: str
    value: str
    adverse: bool = True


@dataclass(frozen=True)
class ReasonCode:
    """A characteristic: a stable code, its reason group, the raw fields behind it and its
    attributes (their order is the attribute index of `reasons.attributes.Measured`)."""

    code: str
    group: str
    feature: str
    attributes: tuple[Attribute, ...]

    def attribute(self, key: str) -> Attribute:
        return next(a for a in self.attributes if a.key == key)


# Every attribute that may be stated reads as a reason against the customer: it says what
# about the record counted against them ("late", "high", "low", "small", "not paid in full").
# An attribute that does not (a limit that is not low, a falling or steady balance, a
# moderate balance, payments that are not small) is `adverse=False` and never stated, even
# when its characteristic's contribution is positive: the next adverse reason is taken
# instead. So is an attribute whose direction the model's monotone constraints make
# favourable (no use of the card: fewer months with use never raise the PD). Percentages that
# can be negative use `{x:percent}` (one decimal, never "-0.0%", `reasons.texts`).
REASON_CODES: tuple[ReasonCode, ...] = (
    ReasonCode(
        "R01",
        "RECENT_STATUS",
        "PAY_0",
        (
            Attribute("late", "Payment {status:delay} late in September", "PAY_0 = {status:.0f}"),
            Attribute(
                "revolving",
                "Only part of the bill was paid in September (revolving credit)",
                "PAY_0 = 0 (revolving)",
            ),
            Attribute("no_use", "No use of the card in September", "PAY_0 = -2 (no use)", False),
            Attribute("paid_in_full", "Bill paid in full in September", "PAY_0 = -1 (paid)", False),
        ),
    ),
    ReasonCode(
        "R02",
        "DELINQUENCY_HISTORY",
        "PAY_0..PAY_6",
        (
            Attribute(
                "late",
                "Late in {late:.0f} of the last six months, up to {worst:delay} late "
                "(most recently in {recent:month})",
                "{late:.0f} of 6 months late, worst {worst:delay}",
            ),
            Attribute(
                "revolving",
                "Only part of the bill paid (revolving credit) in {revolving:.0f} of the five "
                "months before September",
                "{revolving:.0f} of 5 months revolving, never late",
            ),
            Attribute(
                "never_late",
                "Never late in the last six months",
                "0 of 6 months late",
                False,
            ),
        ),
    ),
    ReasonCode(
        "R03",
        "UTILIZATION",
        "BILL_AMT1..6, LIMIT_BAL",
        (
            # The model scores little use of the line as riskier than a moderate balance.
            Attribute(
                "credit_balance",
                "Little use of the credit limit: card in credit on average over the last six "
                "months (average balance {mean:percent} of the limit)",
                "average balance {mean:percent} of the limit",
            ),
            Attribute(
                "low_use",
                "Little use of the credit limit: average balance {mean:percent} of the limit "
                "over the last six months",
                "average balance {mean:percent} of the limit",
            ),
            Attribute(
                "moderate",
                "Average balance {mean:.0%} of the credit limit over the last six months",
                "average balance {mean:percent} of the limit",
                False,
            ),
            Attribute(
                "high",
                "Balance high relative to the credit limit: average {mean:.0%} over the last "
                "six months",
                "average balance {mean:percent} of the limit",
            ),
        ),
    ),
    ReasonCode(
        "R04",
        "PAYMENT_RATIO",
        "PAY_AMT1..5, BILL_AMT2..6, LIMIT_BAL",
        (
            Attribute(
                "missed",
                "Nothing paid against the bill in {missed:.0f} of the last five months",
                "{missed:.0f} of 5 bills with nothing paid",
            ),
            Attribute(
                "part_paid",
                "Only part of each bill paid: on average {ratio:.0%} of the bill over the last "
                "five months",
                "average payment {ratio:.0%} of the bill",
            ),
            Attribute(
                "paid",
                "Bills paid: on average {ratio:.0%} of each bill over the last five months",
                "average payment {ratio:.0%} of the bill",
                False,
            ),
        ),
    ),
    ReasonCode(
        "R05",
        "CREDIT_LIMIT",
        "LIMIT_BAL",
        (
            Attribute(
                "low",
                "Low credit limit: NT$ {limit:,.0f} (a limit of NT$ {cut:,.0f} or less counts "
                "as low)",
                "NT$ {limit:,.0f}",
            ),
            Attribute("other", "Credit limit of NT$ {limit:,.0f}", "NT$ {limit:,.0f}", False),
        ),
    ),
    ReasonCode(
        "R06",
        "BALANCE_TREND",
        "BILL_AMT1, BILL_AMT4, BILL_AMT6, LIMIT_BAL",
        (
            Attribute(
                "falling",
                "Balance fell from {start:percent} to {end:percent} of the credit limit from "
                "April to September",
                "{start:percent} of the limit in April, {end:percent} in September",
                False,
            ),
            Attribute(
                "steady",
                "Balance about the same share of the credit limit in April and September "
                "({start:percent} and {end:percent})",
                "{start:percent} of the limit in April, {end:percent} in September",
                False,
            ),
            Attribute(
                "rising",
                "Growing balance: it rose from {start:percent} to {end:percent} of the credit "
                "limit from April to September",
                "{start:percent} of the limit in April, {end:percent} in September",
            ),
        ),
    ),
    ReasonCode(
        "R07",
        "PAYMENT_ACTIVITY",
        "PAY_AMT1..6, LIMIT_BAL",
        (
            Attribute("none", "No payments in the last six months", "NT$ 0"),
            Attribute(
                "small",
                "Small payments: on average NT$ {mean:,.0f} a month over the last six months "
                "({share:percent} of the credit limit)",
                "NT$ {mean:,.0f} a month",
            ),
            Attribute(
                "some",
                "Average monthly payment NT$ {mean:,.0f} ({share:percent} of the credit limit) "
                "over the last six months",
                "NT$ {mean:,.0f} a month",
                False,
            ),
        ),
    ),
    # R08 (EDUCATION) is retired: EDUCATION is never a reason on its own (README).
    ReasonCode(
        "R09",
        "CARD_USE",
        "PAY_0..PAY_6",
        (
            Attribute(
                "no_use",
                "No use of the card in {no_use:.0f} of the last six months",
                "{no_use:.0f} of 6 months without use",
                False,
            ),
            Attribute(
                "some_paid_in_full",
                "Bill not paid in full in {unpaid:.0f} of the last six months",
                "{full:.0f} of 6 months paid in full",
            ),
            Attribute(
                "never_paid_in_full",
                "Bill not paid in full in any of the last six months",
                "0 of 6 months paid in full",
            ),
            Attribute(
                "paid_in_full",
                "Bill paid in full every month of the last six",
                "6 of 6 months paid in full",
                False,
            ),
        ),
    ),
)

# ATTRIBUTE_INDEX[code][key]: the position of attribute `key` in the code's `attributes`.
ATTRIBUTE_INDEX: dict[str, dict[str, int]] = {
    r.code: {a.key: i for i, a in enumerate(r.attributes)} for r in REASON_CODES
}
# The most attributes of any code (the width of the padded per-attribute arrays).
N_ATTRIBUTES = max(len(r.attributes) for r in REASON_CODES)


def reason_group_matrix(features: FeatureSet) -> np.ndarray:
    """Feature-to-reason-group incidence (k, len(REASON_CODES)); AGE and EDUCATION get an
    all-zero row, so they can never surface as a reason."""
    return np.array(
        [[1.0 if g == r.group else 0.0 for r in REASON_CODES] for g in feature_groups(features)]
    )
