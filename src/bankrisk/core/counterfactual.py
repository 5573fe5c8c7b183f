"""What would change a customer's outcome: the smallest changes, in what the customer controls,
that move the decision one step (decline to review, review to approve) or the grade one band.

What a customer controls going forward is the most recent month only: its repayment status
(PAY_0: no late month), its payment (PAY_AMT1: pay the bill it settles, BILL_AMT2) and its
balance (BILL_AMT1: bring it under a level). Never the credit limit (the bank's), the earlier
months (history) or the protected and descriptive fields (`ACTIONABLE` is the whole list).

Each action moves one field from its current level towards its most favourable one (status
-1, the bill paid in full, a zero balance). The model's monotone constraints make the PD move
one way along that path for most features; not for all (a balance of zero can read as an
unused card), so the path is first scanned at a few levels (`SCAN_LEVELS`, every status) for
the one nearest the current level that reaches the goal, and the least change is then found
by bisection between it and the last level that does not. When no single action reaches a
goal, pairs are tried (at most two actions). Every suggestion returned has been scored with
the model and reaches its goal: where the model is not monotone a suggestion may be larger
than needed, never wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DECISIONS
from bankrisk.schema import FIELD_NAMES

Goal = Literal["decision", "grade"]
GOALS: tuple[Goal, ...] = ("decision", "grade")
ACTIONABLE = ("PAY_0", "PAY_AMT1", "BILL_AMT1")
_INDEX = {name: i for i, name in enumerate(FIELD_NAMES)}
PAID_IN_FULL = -1.0  # PAY_0's best status: the month's bill paid in full
MAX_STEPS = 60  # bisection steps: amounts to the dollar from any range in the schema
SCAN_LEVELS = 16  # levels tried along an amount's path before bisecting
STATUS_WORDS = {-2: "no consumption", -1: "paid in full", 0: "revolving credit, on time"}


@dataclass(frozen=True)
class Outcome:
    """A scored customer: PD, points, grade and decision, with the ranks of grade and
    decision (0 is the best: grade A1, approve)."""

    pd: float
    points: int
    grade: str
    decision: str
    grade_rank: int
    decision_rank: int

    def reaches(self, goal: Goal, start: Outcome) -> bool:
        """Better than `start` by at least one step of `goal`."""
        if goal == "decision":
            return self.decision_rank < start.decision_rank
        return self.grade_rank < start.grade_rank


@dataclass(frozen=True)
class Change:
    """One field moved from its current level to a proposed one, said in words."""

    field: str
    current: float
    proposed: float
    description: str


@dataclass(frozen=True)
class Counterfactual:
    """Changes (one or two) that, together, bring the customer from `before` to `after`,
    which reaches `goal`."""

    goal: Goal
    changes: tuple[Change, ...]
    before: Outcome
    after: Outcome


@dataclass(frozen=True)
class Counterfactuals:
    """The search's answer: the customer's outcome, the suggestions found, and the goals
    that no allowed change of at most two actions reaches (or that are already reached:
    an approved customer has no better decision)."""

    before: Outcome
    found: tuple[Counterfactual, ...]
    unreachable: tuple[Goal, ...]
    already_best: tuple[Goal, ...]


RowScorer = Callable[[Sequence[float]], Outcome]


def bundle_scorer(bundle: ModelBundle) -> RowScorer:
    """Score one raw row (FIELD_NAMES order) with the bundle, as an `Outcome`."""
    grades = bundle.policy.grades

    def score(values: Sequence[float]) -> Outcome:
        row = bundle.score_row(list(values))
        return Outcome(
            pd=row.probability,
            points=row.points,
            grade=row.grade,
            decision=row.decision,
            grade_rank=grades.index(row.grade),
            decision_rank=DECISIONS.index(row.decision),
        )

    return score


@dataclass(frozen=True)
class _Action:
    """One field's path from its current level to its best: `integer` levels for a status,
    else amounts to the dollar."""

    field: str
    current: float
    best: float
    integer: bool

    @property
    def has_room(self) -> bool:
        return self.best != self.current

    def rounded(self, level: float) -> float:
        """A level made whole, on the side of the best level (never less of a change)."""
        return float(math.floor(level) if self.best < self.current else math.ceil(level))

    def scan(self) -> list[float]:
        """Levels along the path, nearest the current one first, ending at the best."""
        if self.integer:
            step = -1.0 if self.best < self.current else 1.0
            count = int(abs(self.best - self.current))
            return [self.current + step * k for k in range(1, count + 1)]
        span = self.best - self.current
        return [self.current + span * k / SCAN_LEVELS for k in range(1, SCAN_LEVELS + 1)]


def actions_for(values: Sequence[float]) -> list[_Action]:
    """The actions open to this customer (those with room to move)."""
    status = values[_INDEX["PAY_0"]]
    owed = max(values[_INDEX["BILL_AMT2"]], 0.0)
    candidates = [
        _Action("PAY_0", status, min(status, PAID_IN_FULL) if status > -2 else status, True),
        _Action(
            "PAY_AMT1", values[_INDEX["PAY_AMT1"]], max(values[_INDEX["PAY_AMT1"]], owed), False
        ),
        _Action(
            "BILL_AMT1", values[_INDEX["BILL_AMT1"]], min(values[_INDEX["BILL_AMT1"]], 0.0), False
        ),
    ]
    return [a for a in candidates if a.has_room]


def _with(values: Sequence[float], levels: dict[str, float]) -> list[float]:
    changed = list(values)
    for name, level in levels.items():
        changed[_INDEX[name]] = level
    return changed


def _least_level(action: _Action, reaches: Callable[[float], bool]) -> float | None:
    """The level nearest the current one that reaches the goal (None: none on the path)."""
    fails = action.current
    for level in action.scan():
        if reaches(level):
            return _bisect(action, fails, level, reaches)
        fails = level
    return None


def _bisect(action: _Action, fails: float, works: float, reaches: Callable[[float], bool]) -> float:
    """Between a level that does not reach the goal and one that does: bisection, keeping a
    level that reaches it at every step."""
    for _ in range(MAX_STEPS):
        if abs(works - fails) <= 1.0:
            break
        middle = (fails + works) / 2
        if action.integer:
            middle = float(round(middle))
            if middle in (fails, works):
                break
        if reaches(middle):
            works = middle
        else:
            fails = middle
    rounded = action.rounded(works)
    return rounded if rounded != works and reaches(rounded) else works


def describe_change(field: str, current: float, proposed: float, values: Sequence[float]) -> str:
    """The change in an analyst's (and a customer's) words."""
    if field == "PAY_0":
        what = "No late payment" if proposed <= 0 else "A shorter delay"
        return (
            f"{what} in the latest month: status {proposed:g} "
            f"({status_words(proposed)}) instead of {current:g} ({status_words(current)})"
        )
    if field == "PAY_AMT1":
        owed = values[_INDEX["BILL_AMT2"]]
        return (
            f"Pay at least NT${proposed:,.0f} of the NT${owed:,.0f} bill "
            f"(paid now: NT${current:,.0f})"
        )
    limit = values[_INDEX["LIMIT_BAL"]]
    return (
        f"Bring the balance down to NT${proposed:,.0f} or less ({proposed / limit:.0%} of the "
        f"limit; now NT${current:,.0f}, {current / limit:.0%})"
    )


def status_words(status: float) -> str:
    code = int(status)
    return STATUS_WORDS.get(code, f"{code} month{'s' if code > 1 else ''} late")


def _suggestion(
    goal: Goal,
    values: Sequence[float],
    levels: dict[str, float],
    before: Outcome,
    score: RowScorer,
) -> Counterfactual:
    changes = tuple(
        Change(
            name,
            values[_INDEX[name]],
            level,
            describe_change(name, values[_INDEX[name]], level, values),
        )
        for name, level in levels.items()
    )
    return Counterfactual(goal, changes, before, score(_with(values, levels)))


def _single(
    goal: Goal, values: Sequence[float], action: _Action, before: Outcome, score: RowScorer
) -> Counterfactual | None:
    def reaches(level: float) -> bool:
        return score(_with(values, {action.field: level})).reaches(goal, before)

    level = _least_level(action, reaches)
    if level is None:
        return None
    return _suggestion(goal, values, {action.field: level}, before, score)


def _pair(
    goal: Goal,
    values: Sequence[float],
    first: _Action,
    second: _Action,
    before: Outcome,
    score: RowScorer,
) -> Counterfactual | None:
    """Both actions: the second at the nearest level of its path with which some level of
    the first reaches the goal, the first as little as needed there, then the second as
    little as needed with the first where it landed."""

    def reaches(one: float, two: float) -> bool:
        levels = {first.field: one, second.field: two}
        return score(_with(values, levels)).reaches(goal, before)

    def with_second_at(two: float) -> Callable[[float], bool]:
        return lambda one: reaches(one, two)

    def with_first_at(one: float) -> Callable[[float], bool]:
        return lambda two: reaches(one, two)

    for two in second.scan():
        one = _least_level(first, with_second_at(two))
        if one is not None:
            least_two = _least_level(second, with_first_at(one))
            levels = {first.field: one, second.field: two if least_two is None else least_two}
            return _suggestion(goal, values, levels, before, score)
    return None


def search(values: Sequence[float], score: RowScorer) -> Counterfactuals:
    """The least changes of allowed fields that improve the decision, and the grade, of the
    customer whose raw row (FIELD_NAMES order, validated) is `values`."""
    before = score(values)
    actions = actions_for(values)
    found: list[Counterfactual] = []
    unreachable: list[Goal] = []
    already_best: list[Goal] = []
    for goal in GOALS:
        if (before.decision_rank if goal == "decision" else before.grade_rank) == 0:
            already_best.append(goal)
            continue
        singles = [s for a in actions if (s := _single(goal, values, a, before, score))]
        pairs = (
            []
            if singles
            else [
                p
                for a, b in combinations(actions, 2)
                if (p := _pair(goal, values, a, b, before, score))
            ]
        )
        found.extend(singles or pairs)
        if not singles and not pairs:
            unreachable.append(goal)
    return Counterfactuals(before, tuple(found), tuple(unreachable), tuple(already_best))
