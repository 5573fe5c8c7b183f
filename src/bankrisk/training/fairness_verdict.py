"""The four-fifths verdict of a trained model, read from its fairness report, in the words the
training summary, the promotion gate, the registry and `bankrisk models` use.

The report itself (`evaluation.fairness.fairness_report`, kept in the bundle's metadata) is
computed on the test split at training. This module only reads it: per protected attribute,
the adverse impact ratio and the two approval rates behind it (the least and the most approved
group), and whether the rule passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bankrisk.evaluation.fairness import FOUR_FIFTHS

# Model version tags (and training run tags) of the verdict.
FAIRNESS_PASSED_TAG = "fairness.passed"
FAIRNESS_FINDINGS_TAG = "fairness.findings"
FAIRNESS_POLICY_TAG = "fairness.policy"
NO_FINDINGS = "none"
NO_REPORT = "no fairness report"


def _ratio_text(ratio: float) -> str:
    """Two decimals, unless rounding would put the ratio on the other side of the rule."""
    text = f"{ratio:.2f}"
    if (float(text) >= FOUR_FIFTHS) != (ratio >= FOUR_FIFTHS):
        text = f"{ratio:.4f}"
    return text


@dataclass(frozen=True)
class AttributeVerdict:
    """The four-fifths rule on one protected attribute: the ratio of the least approved
    group's approval rate to the most approved group's."""

    attribute: str
    ratio: float | None  # None: undefined (fewer than two groups large enough, no approvals)
    passed: bool | None  # None: undefined
    lowest_group: str | None = None
    lowest_approval: float | None = None
    reference_group: str | None = None
    reference_approval: float | None = None

    @property
    def failed(self) -> bool:
        return self.passed is False

    def _rates(self, against: str) -> str:
        if self.lowest_approval is None or self.reference_approval is None:
            return ""
        return (
            f"{self.lowest_group} {self.lowest_approval:.0%}{against}"
            f"{self.reference_group} {self.reference_approval:.0%}"
        )

    def sentence(self) -> str:
        """E.g. `AGE_BAND: adverse impact ratio 0.73 (approval 61% for 60+ against 83% for
        30-39): FAILS the four-fifths rule`."""
        if self.ratio is None:
            return f"{self.attribute}: adverse impact ratio undefined (groups too small to compare)"
        rates = ""
        if self.lowest_approval is not None and self.reference_approval is not None:
            rates = (
                f" (approval {self.lowest_approval:.0%} for {self.lowest_group} against "
                f"{self.reference_approval:.0%} for {self.reference_group})"
            )
        verdict = "FAILS" if self.failed else "passes"
        return (
            f"{self.attribute}: adverse impact ratio {_ratio_text(self.ratio)}{rates}: "
            f"{verdict} the four-fifths rule"
        )

    def finding(self) -> str:
        """One short line for the registry, e.g. `AGE_BAND 0.73 < 0.8 (60+ 61% vs 30-39 83%)`."""
        if self.ratio is None:
            return f"{self.attribute} undefined"
        sign = "<" if self.failed else ">="
        rates = self._rates(" vs ")
        return f"{self.attribute} {_ratio_text(self.ratio)} {sign} {FOUR_FIFTHS:g}" + (
            f" ({rates})" if rates else ""
        )


@dataclass(frozen=True)
class FairnessVerdict:
    """The four-fifths rule on every protected attribute of a model's fairness report."""

    attributes: tuple[AttributeVerdict, ...]

    @property
    def known(self) -> bool:
        """False when the model carries no fairness report (an old or hand-made bundle)."""
        return bool(self.attributes)

    @property
    def failures(self) -> tuple[AttributeVerdict, ...]:
        return tuple(a for a in self.attributes if a.failed)

    @property
    def passed(self) -> bool | None:
        """True: no attribute fails; False: one at least does; None: no report."""
        return None if not self.known else not self.failures

    def findings(self) -> str:
        """The failing attributes, one short clause each; `none` if none fails."""
        if not self.known:
            return NO_REPORT
        return "; ".join(a.finding() for a in self.failures) or NO_FINDINGS

    def sentences(self) -> list[str]:
        """One line per attribute, for the training summary."""
        if not self.known:
            return [f"Fairness: {NO_REPORT} in this model's metadata."]
        return [a.sentence() for a in self.attributes]

    def tags(self, policy: str) -> dict[str, str]:
        passed = self.passed
        return {
            FAIRNESS_PASSED_TAG: "unknown" if passed is None else str(passed).lower(),
            FAIRNESS_FINDINGS_TAG: self.findings()[:4900],
            FAIRNESS_POLICY_TAG: policy,
        }

    @classmethod
    def from_report(cls, report: Mapping[str, Any] | None) -> FairnessVerdict:
        """Read `evaluation.fairness.fairness_report`'s output (as stored in the bundle)."""
        if not isinstance(report, Mapping):
            return cls(())
        attributes = report.get("attributes")
        if not isinstance(attributes, Mapping):
            return cls(())
        return cls(tuple(_attribute(name, a) for name, a in attributes.items()))

    @classmethod
    def of_metadata(cls, metadata: Mapping[str, Any]) -> FairnessVerdict:
        """The verdict of a bundle's metadata (its `fairness` entry)."""
        return cls.from_report(metadata.get("fairness"))


def _approval(groups: Any, label: Any) -> float | None:
    if not isinstance(groups, Mapping) or label is None:
        return None
    rate = groups.get(label, {}).get("approval_rate")
    return float(rate) if isinstance(rate, int | float) else None


def _attribute(name: str, report: Any) -> AttributeVerdict:
    if not isinstance(report, Mapping):
        return AttributeVerdict(str(name), None, None)
    ratio = report.get("adverse_impact_ratio")
    passed = report.get("four_fifths_rule_passed")
    groups = report.get("groups")
    lowest, reference = report.get("lowest_group"), report.get("reference_group")
    return AttributeVerdict(
        attribute=str(name),
        ratio=float(ratio) if isinstance(ratio, int | float) else None,
        passed=passed if isinstance(passed, bool) else None,
        lowest_group=None if lowest is None else str(lowest),
        lowest_approval=_approval(groups, lowest),
        reference_group=None if reference is None else str(reference),
        reference_approval=_approval(groups, reference),
    )
