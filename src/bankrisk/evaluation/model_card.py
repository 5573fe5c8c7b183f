"""The model card: a Markdown summary of what a trained PD model is, how good and how fair."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMITATIONS: tuple[str, ...] = (
    "Trained on the UCI 'default of credit card clients' data: 30,000 card holders of one "
    "Taiwanese bank in 2005. Behaviour, products and the economy have changed since.",
    "Only six months of repayment history (April to September 2005) are available; longer "
    "histories, bureau data and income are not used.",
    "Population shift: applicants of another bank, country, period or credit cycle may differ "
    "from the training population; monitor input and score drift before relying on the PDs.",
    "Protected attributes (sex, marital status and, by default, age) are excluded from the "
    "model inputs, but proxies for them (credit limit, education, payment behaviour) may "
    "remain; check the fairness section and re-check on each new population.",
    "The PDs are calibrated for this population and default definition (payment default the "
    "next month); recalibrate before using them elsewhere or for another horizon.",
    "Declined applicants are not observed in the data (reject inference is not addressed).",
)

EDUCATION_OFF = (
    "EDUCATION is not an input (the default): dropping it cost 0.0010 ROC AUC in 5-fold "
    "cross-validation (0.7845 with it, 0.7835 without), within the 0.002 allowed, and it is a "
    "characteristic a customer cannot act on. `BANKRISK_USE_EDUCATION=true` brings it back."
)
EDUCATION_ON = (
    "EDUCATION is an input (`BANKRISK_USE_EDUCATION=true`) but never a reason code: it is not "
    "the customer's conduct on the account, a customer cannot act on it, and as a proxy for "
    "protected attributes it may not be stated as a principal reason for a decline on its own."
)

_COUNT_KEYS = frozenset({"tn", "fp", "fn", "tp", "n"})
_METRIC_LABELS: dict[str, str] = {
    "roc_auc": "ROC AUC",
    "gini": "Gini (2·AUC − 1)",
    "ks": "KS statistic",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "ece": "Expected calibration error (10 bins)",
    "pr_auc": "PR AUC (average precision)",
    "threshold": "Decision threshold (decline if PD ≥)",
    "tn": "True negatives (good, approved)",
    "fp": "False positives (good, declined)",
    "fn": "False negatives (default, approved)",
    "tp": "True positives (default, declined)",
    "approval_rate": "Approval rate",
    "default_rate": "Observed default rate",
    "n": "Rows",
}


@dataclass
class ModelCardInput:
    """Everything the model card shows; the dicts come from the evaluation functions."""

    name: str
    version: str
    model_family: str
    trained_at: str
    data_fingerprint: dict[str, Any]
    features: list[str]
    excluded_inputs: list[str]
    metrics: dict[str, float]
    validation_metrics: dict[str, float] | None
    fairness: dict[str, Any]
    threshold: float
    costs: dict[str, float]
    score_scaling: dict[str, float]
    grade_bands: list[dict[str, Any]]
    limitations: list[str] = field(default_factory=lambda: list(DEFAULT_LIMITATIONS))
    use_education: bool = False
    # One row per (reason code, attribute): code, group, feature, attribute, adverse, text,
    # and how often it was given / suppressed (favourable) on the test split.
    reason_codes: list[dict[str, Any]] = field(default_factory=list)
    reason_policy: dict[str, Any] = field(default_factory=dict)


def _fmt(value: object) -> str:
    """4-decimal floats, integers as such, n/a for missing or NaN; pipes escaped for tables."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _fmt_count(value: object) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return _fmt(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _metric_rows(metrics: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            _METRIC_LABELS.get(key, key),
            f"`{key}`",
            _fmt_count(value) if key in _COUNT_KEYS or key.endswith("_rows") else _fmt(value),
        ]
        for key, value in metrics.items()
    ]


def _section_overview(card: ModelCardInput) -> list[str]:
    return [
        "## Overview",
        "",
        *_table(
            ["Field", "Value"],
            [
                ["Model name", _fmt(card.name)],
                ["Version", _fmt(card.version)],
                ["Model family", _fmt(card.model_family)],
                ["Trained at (UTC)", _fmt(card.trained_at)],
                ["Output", "Calibrated probability of default (PD) next month"],
            ],
        ),
    ]


def _section_intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "Estimates the probability that a credit-card holder defaults on next month's payment, "
        "from the inputs listed under Features (credit limit and six months of bills, payments "
        "and repayment status). The PD is mapped to points, a master-scale grade and an "
        "approve / review / decline recommendation for a credit officer.",
        "",
        "- Decision support for credit review and portfolio risk monitoring, with a human in "
        "the loop for adverse decisions.",
        "- Not for fully automated decisions on individuals, not for populations unlike the "
        "training data without revalidation, and not for pricing or marketing by protected "
        "attribute.",
    ]


def _section_data(card: ModelCardInput) -> list[str]:
    rows = [
        [
            f"`{key}`",
            _fmt_count(value)
            if key in {"rows", "columns"} or key.endswith("_rows")
            else _fmt(value),
        ]
        for key, value in card.data_fingerprint.items()
    ]
    return ["## Data", "", *_table(["Fingerprint", "Value"], rows)]


def _section_features(card: ModelCardInput) -> list[str]:
    lines = ["## Features", "", f"Model inputs ({len(card.features)}):", ""]
    lines.extend(f"- `{name}`" for name in card.features)
    lines += ["", "Protected attributes not used as inputs (kept for fairness reports only):", ""]
    if card.excluded_inputs:
        lines.extend(f"- `{name}`" for name in card.excluded_inputs)
    else:
        lines.append("- none")
    lines.append("")
    if card.use_education:
        lines.append(EDUCATION_ON)
    else:
        lines.append(EDUCATION_OFF)
    return lines


def _section_performance(card: ModelCardInput) -> list[str]:
    m = card.metrics
    lines = ["## Performance", "", "Test split:", ""]
    lines += _table(["Metric", "Key", "Value"], _metric_rows(m))
    if all(k in m for k in ("tn", "fp", "fn", "tp")):
        lines += [
            "",
            f"Confusion matrix at threshold {_fmt(m.get('threshold', card.threshold))} "
            "(predicted default = PD ≥ threshold):",
            "",
            *_table(
                ["", "Predicted good (approve)", "Predicted default (decline)"],
                [
                    ["**Actual good**", _fmt_count(m["tn"]), _fmt_count(m["fp"])],
                    ["**Actual default**", _fmt_count(m["fn"]), _fmt_count(m["tp"])],
                ],
            ),
        ]
    if card.validation_metrics:
        lines += ["", "Validation (model selection):", ""]
        lines += _table(["Metric", "Key", "Value"], _metric_rows(card.validation_metrics))
    return lines


def _section_fairness(card: ModelCardInput) -> list[str]:
    lines = [
        "## Fairness",
        "",
        "Approval = PD below the threshold. Adverse impact ratio = lowest group approval rate / "
        "highest group approval rate; the four-fifths rule passes when it is at least 0.8.",
    ]
    attributes = card.fairness.get("attributes", {})
    if not attributes:
        return [*lines, "", "No fairness report available."]
    for attribute, report in attributes.items():
        rows = [
            [
                _fmt(group),
                _fmt_count(g.get("n")),
                _fmt(g.get("default_rate")),
                _fmt(g.get("mean_pd")),
                _fmt(g.get("roc_auc")),
                _fmt(g.get("approval_rate")),
                _fmt(g.get("included_in_ratio")),
            ]
            for group, g in report.get("groups", {}).items()
        ]
        passed = report.get("four_fifths_rule_passed")
        verdict = "undefined" if passed is None else ("PASSED" if passed else "FAILED")
        lines += [
            "",
            f"### {attribute}",
            "",
            *_table(
                ["Group", "n", "Default rate", "Mean PD", "ROC AUC", "Approval rate", "In ratio"],
                rows,
            ),
            "",
            f"- Adverse impact ratio: {_fmt(report.get('adverse_impact_ratio'))} "
            f"(reference group: {_fmt(report.get('reference_group'))})",
            f"- Four-fifths rule: **{verdict}**",
        ]
        lines.extend(f"- Note: {_fmt(note)}" for note in report.get("notes", []))
    return lines


def _section_policy(card: ModelCardInput) -> list[str]:
    lines = [
        "## Decision policy",
        "",
        f"Decline threshold: PD ≥ {_fmt(card.threshold)}.",
        "",
        *_table(["Cost", "Value"], [[f"`{k}`", _fmt(v)] for k, v in card.costs.items()]),
    ]
    missed, declined = card.costs.get("cost_missed_default"), card.costs.get("cost_declined_good")
    if isinstance(missed, int | float) and isinstance(declined, int | float) and missed + declined:
        lines += [
            "",
            "Bayes-optimal threshold for calibrated PDs, cost_declined_good / "
            f"(cost_declined_good + cost_missed_default): "
            f"{_fmt(float(declined) / float(missed + declined))}.",
        ]
    lines += [
        "",
        "Score scaling (points = offset + factor · ln(good:bad odds)):",
        "",
        *_table(
            ["Parameter", "Value"], [[f"`{k}`", _fmt(v)] for k, v in card.score_scaling.items()]
        ),
        "",
        "Master scale:",
        "",
        *_table(
            ["Grade", "PD from", "PD to"],
            [
                [_fmt(b.get("grade")), _fmt(b.get("pd_min")), _fmt(b.get("pd_max"))]
                for b in card.grade_bands
            ],
        ),
    ]
    return lines


def _section_reasons(card: ModelCardInput) -> list[str]:
    baseline = card.reason_policy.get("baseline", {})
    lines = [
        "## Reason codes",
        "",
        "Each reason is a characteristic and the customer's attribute of it (the bin their own "
        "values fall in); its text is filled from the customer's raw fields, so it is true of "
        "that customer. A reason is given when the characteristic's logit contribution is "
        "above the baseline, the mean contribution over "
        f"{_fmt(baseline.get('population', 'a reference population'))} "
        f"({_fmt_count(baseline.get('rows'))} rows), and the attribute is adverse; ranked by "
        f"contribution, at most {_fmt_count(card.reason_policy.get('max_reasons', 4))}. "
        "Favourable and neutral attributes (paid in full, never late, a limit that is not "
        "low, a falling or steady balance, ordinary payments, months without use) are never "
        "stated: 'suppressed' counts the customers whose such attribute still had a positive "
        "contribution. AGE and EDUCATION are never a reason. Counts are on the test split.",
        "",
    ]
    if not card.reason_codes:
        return [*lines, "No reason code frequencies available."]
    rows = [
        [
            f"`{r['code']}`",
            _fmt(r["group"]),
            _fmt(r["feature"]),
            f"`{r['attribute']}`",
            "yes" if r["adverse"] else "no (never given)",
            _fmt(r["text"]),
            _fmt_count(r.get("given")),
            _fmt_count(r.get("suppressed")),
        ]
        for r in card.reason_codes
    ]
    header = ["Code", "Group", "Fields", "Attribute", "Adverse", "Text", "Given", "Suppressed"]
    return [*lines, *_table(header, rows)]


def _section_limitations(card: ModelCardInput) -> list[str]:
    return ["## Limitations", "", *(f"- {item}" for item in card.limitations)]


def render_model_card(card: ModelCardInput) -> str:
    """The model card as Markdown: overview, intended use, data, features, performance,
    fairness, decision policy and limitations. Numbers are shown with 4 decimals."""
    sections = [
        [f"# Model card: {_fmt(card.name)} {_fmt(card.version)}"],
        _section_overview(card),
        _section_intended_use(),
        _section_data(card),
        _section_features(card),
        _section_performance(card),
        _section_fairness(card),
        _section_policy(card),
        _section_reasons(card),
        _section_limitations(card),
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"
