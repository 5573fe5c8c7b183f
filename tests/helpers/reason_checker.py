"""An independent checker of reason codes: is every stated reason true of the customer?

Written from the README's definitions, in plain Python over one customer's raw fields, never
calling `bankrisk.features.reasons`: for each answer's reason it re-derives the condition its
attribute states (e.g. UTILIZATION `high`: the six bills average at least half the limit)
and the numbers its text and value must show. Used by the tests and by
`benchmarks/reason_truth.py`, so the benchmark counts exactly what the tests assert.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

MONTHS = ("September", "August", "July", "June", "May", "April")
STATUS = ("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6")
BILLS = tuple(f"BILL_AMT{m}" for m in range(1, 7))
PAID = tuple(f"PAY_AMT{m}" for m in range(1, 7))
FAVOURABLE = {
    ("R01", "paid_in_full"),
    ("R02", "never_late"),
    ("R04", "paid"),
    ("R09", "paid_in_full"),
}
NEVER_GROUPS = ("PROTECTED", "EDUCATION")
NEVER_WORDS = re.compile(r"\b(sex|marri\w*|age|education)\b", re.IGNORECASE)


def _delay(months: int) -> str:
    if months >= 9:
        return "9 or more months"
    return "1 month" if months == 1 else f"{months} months"


def _expected(
    code: str, attribute: str, c: Mapping[str, float], low_limit: float
) -> tuple[bool, list[str], str | None]:
    """(does the attribute's condition hold, substrings the text must contain, the exact
    value string or None when not checked)."""
    limit = c["LIMIT_BAL"]
    status = [int(c[s]) for s in STATUS]
    if code == "R01":
        s = status[0]
        if attribute == "late":
            return s >= 1, [f"{_delay(s)} late in September"], f"PAY_0 = {s}"
        if attribute == "revolving":
            return s == 0, ["revolving", "September"], None
        if attribute == "no_use":
            return s == -2, ["No use", "September"], None
    if code == "R02":
        late = [i for i, s in enumerate(status) if s >= 1]
        revolving = sum(s == 0 for s in status[1:])
        if attribute == "late":
            worst = max(status)
            return (
                bool(late),
                [
                    f"Late in {len(late)} of the last six months",
                    f"up to {_delay(worst)} late",
                    f"most recently in {MONTHS[late[0]] if late else '?'}",
                ],
                None,
            )
        if attribute == "revolving":
            return not late and revolving > 0, [f"in {revolving} of the five months"], None
    if code == "R03":
        mean = sum(c[b] / limit for b in BILLS) / 6
        shown = f"average balance {mean:.1%} of the limit"
        if attribute == "credit_balance":
            return mean < 0, ["in credit", f"{mean:.1%}"], shown
        if attribute == "low_use":
            return 0 <= mean < 0.10, ["Little use", f"{mean:.1%}"], shown
        if attribute == "moderate":
            return 0.10 <= mean < 0.50, [f"Average balance {mean:.0%}"], shown
        if attribute == "high":
            return mean >= 0.50, ["Balance high", f"average {mean:.0%}"], shown
    if code == "R04":
        missed, ratios = 0, []
        for month in range(5):
            owed, paid = c[BILLS[month + 1]], c[PAID[month]]
            missed += owed > 0 and paid == 0
            ratios.append(min(max(paid / max(owed, 1.0), 0.0), 2.0) if owed > 0 else 1.0)
        ratio = sum(ratios) / 5
        if attribute == "missed":
            return missed > 0, [f"Nothing paid against the bill in {missed} of"], None
        if attribute == "part_paid":
            return missed == 0 and ratio < 0.9, [f"Paid on average {ratio:.0%}"], None
    if code == "R05":
        if attribute == "low":
            return limit <= low_limit, ["Low credit limit", f"NT$ {limit:,.0f}"], None
        if attribute == "other":
            return limit > low_limit, [f"NT$ {limit:,.0f}"], f"NT$ {limit:,.0f}"
    if code == "R06":
        start, end = c["BILL_AMT6"] / limit, c["BILL_AMT1"] / limit
        numbers = [f"{start:.1%}", f"{end:.1%}"]
        if attribute == "rising":
            return end - start >= 0.01, ["rose", *numbers], None
        if attribute == "falling":
            return start - end >= 0.01, ["fell", *numbers], None
        if attribute == "steady":
            return abs(end - start) < 0.01, ["about the same", *numbers], None
    if code == "R07":
        total = sum(c[p] for p in PAID)
        if attribute == "none":
            return total == 0, ["No payments"], "NT$ 0"
        if attribute == "some":
            return total > 0, [f"NT$ {total / 6:,.0f}"], f"NT$ {total / 6:,.0f} a month"
    if code == "R09":
        no_use, full = status.count(-2), status.count(-1)
        if attribute == "no_use":
            return no_use > 0, [f"No use of the card in {no_use} of"], None
        if attribute == "some_paid_in_full":
            return no_use == 0 and 0 < full < 6, [f"paid in full in {full} of"], None
        if attribute == "never_paid_in_full":
            return no_use == 0 and full == 0, ["not paid in full in any"], None
    return False, [], None  # an unknown or favourable (never stated) attribute


def contradictions(
    customer: Mapping[str, float], reasons: Sequence[Mapping[str, Any]], low_limit: float
) -> list[str]:
    """What is wrong with one answer's reasons: each untrue reason, and any breach of the
    rules (at most four, contributions > 0 and decreasing, no favourable attribute, never a
    protected attribute or EDUCATION)."""
    problems = []
    if len(reasons) > 4:
        problems.append(f"{len(reasons)} reasons")
    contributions = [r["contribution"] for r in reasons]
    if contributions != sorted(contributions, reverse=True) or any(x <= 0 for x in contributions):
        problems.append(f"contributions not positive and decreasing: {contributions}")
    for r in reasons:
        holds, needed, value = _expected(r["code"], r["attribute"], customer, low_limit)
        missing = [s for s in needed if s not in r["text"]]
        if (r["code"], r["attribute"]) in FAVOURABLE:
            problems.append(f"favourable attribute given: {r}")
        elif not holds or missing or (value is not None and r["value"] != value):
            problems.append(f"untrue: {r} (missing {missing}, value {value!r})")
        if r["group"] in NEVER_GROUPS or NEVER_WORDS.search(r["text"]):
            problems.append(f"protected or EDUCATION reason: {r}")
    return problems


def tally(
    customers: Sequence[Mapping[str, float]],
    answers: Sequence[Sequence[Mapping[str, Any]]],
    low_limit: float,
) -> tuple[Counter[str], Counter[str], list[str]]:
    """(reasons given per code, untrue reasons per code, the first problems found)."""
    given: Counter[str] = Counter()
    untrue: Counter[str] = Counter()
    problems: list[str] = []
    for customer, reasons in zip(customers, answers, strict=True):
        for r in reasons:
            given[r["code"]] += 1
            if contradictions(customer, [r], low_limit):
                untrue[r["code"]] += 1
        found = contradictions(customer, reasons, low_limit)
        if found and len(problems) < 20:
            problems.append(f"{dict(customer)}: {found}")
    return given, untrue, problems
