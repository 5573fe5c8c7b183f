"""An independent checker of reason codes: is every stated reason true of the customer, and
does it read as a reason against them?

Written from the README's definitions, in plain Python over one customer's raw fields, never
calling `bankrisk.features.reasons`: for each answer's reason it re-derives the condition its
attribute states (e.g. UTILIZATION `high`: the six bills average at least half the limit)
and the numbers its text and value must show (`contradictions`). Separately, it checks that
every stated (code, attribute) is one of an explicit list of adverse attributes and that its
text is worded as an adverse statement (`non_adverse`, `ADVERSE_PHRASINGS`). Used by the tests
and by `benchmarks/reason_truth.py`, so the benchmark counts exactly what the tests assert.
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
# Little use of the credit line (mean balance share below this) and small payments (mean
# monthly payment, NT$, above 0 and below this): the README's definitions.
LITTLE_USE = 0.05
SMALL_PAYMENT = 2000.0
NEVER_GROUPS = ("PROTECTED", "EDUCATION")
NEVER_WORDS = re.compile(r"\b(sex|marri\w*|age|education)\b", re.IGNORECASE)


def _percent(share: float) -> str:
    """One decimal, and a share just below zero shown as 0.0%, never "-0.0%"."""
    text = f"{share:.1%}"
    return "0.0%" if text == "-0.0%" else text


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
        shown = f"average balance {_percent(mean)} of the limit"
        if attribute == "credit_balance":
            return mean < 0, ["in credit", _percent(mean)], shown
        if attribute == "low_use":
            return 0 <= mean < LITTLE_USE, ["Little use", _percent(mean)], shown
        if attribute == "moderate":
            return LITTLE_USE <= mean < 0.50, [f"Average balance {mean:.0%}"], shown
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
            return missed == 0 and ratio < 0.9, [f"on average {ratio:.0%} of the bill"], None
    if code == "R05":
        if attribute == "low":
            return (
                limit <= low_limit,
                ["Low credit limit", f"NT$ {limit:,.0f}", f"NT$ {low_limit:,.0f} or less"],
                f"NT$ {limit:,.0f}",
            )
        if attribute == "other":
            return limit > low_limit, [f"NT$ {limit:,.0f}"], f"NT$ {limit:,.0f}"
    if code == "R06":
        start, end = c["BILL_AMT6"] / limit, c["BILL_AMT1"] / limit
        numbers = [_percent(start), _percent(end)]
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
        mean, shown = total / 6, f"NT$ {total / 6:,.0f} a month"
        if attribute == "small":
            return 0 < mean < SMALL_PAYMENT, ["Small payments", f"NT$ {mean:,.0f}"], shown
        if attribute == "some":
            return mean >= SMALL_PAYMENT, [f"NT$ {mean:,.0f}"], shown
    if code == "R09":
        no_use, full = status.count(-2), status.count(-1)
        if attribute == "no_use":
            return no_use > 0, [f"No use of the card in {no_use} of"], None
        if attribute == "some_paid_in_full":
            return no_use == 0 and 0 < full < 6, [f"not paid in full in {6 - full} of"], None
        if attribute == "never_paid_in_full":
            return no_use == 0 and full == 0, ["not paid in full in any"], None
    return False, [], None  # an unknown or favourable (never stated) attribute


_DELAY = r"(1 month|[2-8] months|9 or more months)"
_MONTH = "(" + "|".join(MONTHS) + ")"
_SHARE = r"(-?[1-9]\d*|-?0|\d+)\.\d%"  # one decimal, "-0.0%" excluded below
_NT = r"NT\$ [1-9][\d,]*"
# The only (code, attribute)s that may be stated, each with the adverse wording its text must
# have in full: what counted against the customer, said as such. Anything else (a credit limit
# that is not low, a balance that fell or stayed the same, a moderate balance, payments that
# are not small, months without use, any favourable attribute) is not a reason.
ADVERSE_PHRASINGS: dict[tuple[str, str], re.Pattern[str]] = {
    key: re.compile(pattern)
    for key, pattern in {
        ("R01", "late"): rf"Payment {_DELAY} late in September",
        ("R01", "revolving"): r"Only part of the bill was paid in September \(revolving credit\)",
        ("R02", "late"): rf"Late in [1-6] of the last six months, up to {_DELAY} late "
        rf"\(most recently in {_MONTH}\)",
        ("R02", "revolving"): r"Only part of the bill paid \(revolving credit\) in [1-5] of the "
        r"five months before September",
        ("R03", "credit_balance"): r"Little use of the credit limit: card in credit on average "
        rf"over the last six months \(average balance {_SHARE} of the limit\)",
        ("R03", "low_use"): rf"Little use of the credit limit: average balance {_SHARE} of the "
        r"limit over the last six months",
        ("R03", "high"): r"Balance high relative to the credit limit: average \d+% over the last "
        r"six months",
        ("R04", "missed"): r"Nothing paid against the bill in [1-5] of the last five months",
        ("R04", "part_paid"): r"Only part of each bill paid: on average \d+% of the bill over "
        r"the last five months",
        ("R05", "low"): rf"Low credit limit: {_NT} \(a limit of {_NT} or less counts as low\)",
        ("R06", "rising"): rf"Growing balance: it rose from {_SHARE} to {_SHARE} of the credit "
        r"limit from April to September",
        ("R07", "none"): r"No payments in the last six months",
        ("R07", "small"): rf"Small payments: on average NT\$ [\d,]+ a month over the last six "
        rf"months \({_SHARE} of the credit limit\)",
        ("R09", "never_paid_in_full"): r"Bill not paid in full in any of the last six months",
        ("R09", "some_paid_in_full"): r"Bill not paid in full in [1-5] of the last six months",
    }.items()
}


def non_adverse(reasons: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each stated reason of one answer that does not read as a reason against the customer:
    a (code, attribute) outside `ADVERSE_PHRASINGS`, a text not worded as its adverse
    phrasing, or a number shown as "-0.0%"."""
    problems = []
    for r in reasons:
        phrasing = ADVERSE_PHRASINGS.get((r["code"], r["attribute"]))
        if phrasing is None:
            problems.append(f"not an adverse attribute: {r}")
        elif not phrasing.fullmatch(r["text"]):
            problems.append(f"not worded as adverse: {r}")
        if "-0.0%" in r["text"] or "-0.0%" in r["value"]:
            problems.append(f"negative zero shown: {r}")
    return problems


def tally_adverse(
    answers: Sequence[Sequence[Mapping[str, Any]]],
) -> tuple[Counter[tuple[str, str]], int, list[str]]:
    """(non-adverse reasons per (code, attribute), answers with at least one, the first
    problems found)."""
    found: Counter[tuple[str, str]] = Counter()
    answers_with = 0
    problems: list[str] = []
    for reasons in answers:
        bad = [r for r in reasons if non_adverse([r])]
        found.update((r["code"], r["attribute"]) for r in bad)
        answers_with += bool(bad)
        if bad and len(problems) < 20:
            problems += non_adverse(bad)
    return found, answers_with, problems


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
        if r.get("group") in NEVER_GROUPS or NEVER_WORDS.search(r["text"]):
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
