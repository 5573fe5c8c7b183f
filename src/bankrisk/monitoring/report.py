"""Self-contained HTML reports of drift and performance: one file, charts as inline PNGs
(matplotlib, base64 data URIs), no scripts, fonts or links to fetch: it opens offline."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bankrisk.monitoring.drift import CharacteristicDrift, DriftResult
from bankrisk.monitoring.performance import AttributeFairness, PerformanceResult

_STATUS_COLOUR = {"ok": "#4c9a2a", "warn": "#e0a100", "alert": "#c62828"}
_STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ok { color: #4c9a2a; } .warn { color: #b07d00; font-weight: bold; }
.alert { color: #c62828; font-weight: bold; } .note { background: #fff6d6; padding: 6px 10px; }
img { max-width: 100%; }
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def _fmt(value: object, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, str) and cell in _STATUS_COLOUR:
                cells.append(f'<td class="{cell}">{cell}</td>')
            else:
                cells.append(f"<td>{_fmt(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _page(title: str, sections: Sequence[tuple[str, str]], intro: str = "") -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        intro,
    ]
    for heading, content in sections:
        slug = heading.lower().replace(" ", "-")
        parts.append(f'<section id="{html.escape(slug)}"><h2>{html.escape(heading)}</h2>')
        parts.append(content)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _bin_labels(edges: Sequence[float]) -> list[str]:
    """Readable bin labels; a point-mass bin [v, nextafter(v)) is shown as `v`."""
    inner = list(edges[1:-1])
    if not inner:
        return ["all"]
    first = edges[0] if inner[0] == math.nextafter(edges[0], math.inf) else -math.inf
    bounds = [first, *inner, math.inf]
    labels = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        point = math.isfinite(lo) and hi == math.nextafter(lo, math.inf)
        if i == 0 and hi == math.nextafter(edges[0], math.inf):
            labels.append(f"{edges[0]:.4g}")
        elif point:
            labels.append(f"{lo:.4g}")
        elif i == 0:
            labels.append(f"< {hi:.4g}")
        elif not math.isfinite(hi):
            labels.append(f"> {bounds[i - 1]:.4g}" if _after_point(bounds, i) else f">= {lo:.4g}")
        else:
            left = f"({bounds[i - 1]:.4g}" if _after_point(bounds, i) else f"[{lo:.4g}"
            labels.append(f"{left}, {hi:.4g})")
    return labels


def _after_point(bounds: Sequence[float], i: int) -> bool:
    """True when bin i starts just above a point mass (its lower edge is nextafter(v))."""
    lo = bounds[i]
    prev = bounds[i - 1]
    return math.isfinite(prev) and lo == math.nextafter(prev, math.inf)


def _distribution_chart(ax: Any, name: str, item: CharacteristicDrift) -> None:
    labels = _bin_labels(item.edges)
    x = range(len(labels))
    width = 0.4
    ax.bar(
        [i - width / 2 for i in x],
        item.reference,
        width,
        label="reference (training)",
        color="#90a4ae",
    )
    ax.bar(
        [i + width / 2 for i in x],
        item.current,
        width,
        label="current",
        color=_STATUS_COLOUR.get(item.status, "#1976d2"),
    )
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("share of rows")
    ax.set_title(f"{name}: PSI {item.psi:.3f} ({item.status})", fontsize=10)
    ax.legend(fontsize=7)


def drift_html(result: DriftResult) -> str:
    """The drift report: PSI chart with thresholds, score and top inputs, the full table."""
    warn, alert = result.thresholds.warn, result.thresholds.alert
    items = result.characteristics()
    ordered = sorted(items, key=lambda kv: kv[1].psi)
    fig, ax = plt.subplots(figsize=(9, max(4.0, 0.18 * len(ordered))))
    ax.barh(
        [k for k, _ in ordered],
        [v.psi for _, v in ordered],
        color=[_STATUS_COLOUR[v.status] for _, v in ordered],
    )
    ax.axvline(warn, color=_STATUS_COLOUR["warn"], linestyle="--", label=f"warn {warn:g}")
    ax.axvline(alert, color=_STATUS_COLOUR["alert"], linestyle="--", label=f"alert {alert:g}")
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("PSI against the frozen training bins (symlog scale)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="lower right")
    psi_chart = _png(fig)

    score_chart = "<p>No score reference in this bundle.</p>"
    if result.score is not None:
        fig, ax = plt.subplots(figsize=(9, 3.8))
        _distribution_chart(ax, "score", result.score)
        score_chart = _png(fig)

    top = sorted(result.inputs.items(), key=lambda kv: -kv[1].psi)[:4]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5))
    for ax, (name, item) in zip(axes.flat, top, strict=False):
        _distribution_chart(ax, name, item)
    fig.tight_layout()
    top_chart = _png(fig)

    rows = [
        (
            name,
            v.psi,
            v.status,
            v.expected_psi,
            v.bins,
            v.n,
            "-" if v.test is None else v.test.test,
            v.p_value,
        )
        for name, v in sorted(items, key=lambda kv: -kv[1].psi)
    ]
    model_name = None if result.model is None else result.model.name
    model_version = None if result.model is None else result.model.version
    since = None if result.window is None else result.window.since
    until = None if result.window is None else result.window.until
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in result.notes)
    alerts = ", ".join(result.alerts) or "none"
    intro = (
        f"<p>Model {_fmt(model_name)} v{_fmt(model_version)}; window "
        f"{_fmt(since or 'start')} to {_fmt(until or 'now')}; "
        f"{result.n:,} logged predictions ({html.escape(result.rows or 'every row')}) against "
        f"{_fmt(result.reference_n)} "
        f"training rows. Thresholds: warn {warn:g}, alert {alert:g}. PSI expected under no "
        f"drift: {result.expected_psi_no_drift:.4f}.</p>"
        f"<p>Alerts: <b>{html.escape(alerts)}</b></p>{notes}"
    )
    return _page(
        "Drift report",
        [
            ("PSI per characteristic", psi_chart),
            ("Score distribution", score_chart),
            ("Top drifting inputs", top_chart),
            (
                "All characteristics",
                _table(
                    [
                        "characteristic",
                        "PSI",
                        "status",
                        "expected PSI (no drift)",
                        "bins",
                        "n",
                        "test",
                        "p-value",
                    ],
                    rows,
                ),
            ),
        ],
        intro,
    )


def performance_html(result: PerformanceResult) -> str:
    """The performance report: calibration by grade with Jeffreys intervals, AUC by month,
    the back-test, version and fairness tables."""
    grades = result.grades
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = list(range(len(grades)))
    ax.plot(x, [g.mean_pd for g in grades], "o-", color="#1976d2", label="mean PD")
    rates = [g.default_rate for g in grades]
    ax.errorbar(
        x,
        rates,
        yerr=[
            [r - g.ci_low for r, g in zip(rates, grades, strict=True)],
            [g.ci_high - r for r, g in zip(rates, grades, strict=True)],
        ],
        fmt="s",
        color="#c62828",
        capsize=4,
        label="observed default rate (Jeffreys 95%)",
    )
    ax.set_xticks(x)
    ax.set_xticklabels([g.grade for g in grades])
    ax.set_ylabel("probability of default")
    ax.set_title("Calibration by grade")
    ax.legend()
    calibration = _png(fig)

    months = result.by_month
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.plot(
        [m.month for m in months],
        [m.metrics.roc_auc if m.metrics.roc_auc is not None else float("nan") for m in months],
        "o-",
        color="#1976d2",
    )
    ax.set_ylabel("ROC AUC")
    ax.set_title("Realised ROC AUC by month")
    ax.tick_params(axis="x", rotation=45)
    auc_chart = _png(fig)

    overall = result.overall
    summary = f"<p>Rows: {html.escape(result.rows)}: {result.customers:,} customers.</p>" + _table(
        ["with an outcome", "defaults", "ROC AUC", "Brier", "ECE", "KS", "approval rate"],
        [
            (
                overall.n,
                overall.defaults,
                overall.roc_auc,
                overall.brier,
                overall.ece,
                overall.ks,
                result.approval_rate,
            )
        ],
    )
    grade_rows = [
        (
            g.grade,
            g.n,
            g.defaults,
            g.mean_pd,
            g.default_rate,
            g.ci_low,
            g.ci_high,
            g.jeffreys_p,
            g.jeffreys_p_over,
            g.binomial_p,
            "PD too low" if g.underestimated else "PD too high" if g.overestimated else "ok",
        )
        for g in grades
    ]
    hl = result.hosmer_lemeshow
    backtest = _table(
        [
            "grade",
            "n",
            "defaults",
            "mean PD",
            "default rate",
            "CI low",
            "CI high",
            "Jeffreys p (too low)",
            "Jeffreys p (too high)",
            "binomial p",
            "flag (p < 0.05)",
        ],
        grade_rows,
    ) + (
        f"<p>Hosmer-Lemeshow over {hl.dof} grades: statistic {_fmt(hl.statistic)}, "
        f"p-value {_fmt(hl.p_value)}.</p>"
    )
    month_table = _table(
        ["month", "n", "defaults", "ROC AUC", "Brier", "ECE", "KS"],
        [
            (
                m.month,
                m.metrics.n,
                m.metrics.defaults,
                m.metrics.roc_auc,
                m.metrics.brier,
                m.metrics.ece,
                m.metrics.ks,
            )
            for m in months
        ],
    )
    version_table = _table(
        ["model version", "role", "n", "defaults", "ROC AUC", "Brier", "ECE", "KS"],
        [
            (
                v.model_version,
                v.model_role,
                v.metrics.n,
                v.metrics.defaults,
                v.metrics.roc_auc,
                v.metrics.brier,
                v.metrics.ece,
                v.metrics.ks,
            )
            for v in result.by_model_version
        ],
    )
    fairness_rows = []
    entries: list[tuple[str, dict[str, AttributeFairness]]] = [
        ("all", dict(result.fairness.overall)),
        *((m.month, dict(m.attributes)) for m in result.fairness.by_month),
    ]
    for month, attributes in entries:
        for attribute, report in attributes.items():
            groups = "; ".join(
                f"{g} {v.approval_rate:.3f} (n={v.n})" for g, v in report.groups.items()
            )
            passed = report.four_fifths_rule_passed
            fairness_rows.append(
                (
                    month,
                    attribute,
                    f"{report.carried:,} of {report.customers:,}",
                    groups,
                    report.adverse_impact_ratio,
                    "-" if passed is None else ("ok" if passed else "alert"),
                )
            )
    fairness = _table(
        [
            "month",
            "attribute",
            "customers carrying it",
            "approval rate by group",
            "adverse impact ratio",
            "4/5 rule",
        ],
        fairness_rows,
    )
    intro = (
        f"<p>{result.matched:,} logged predictions matched to outcomes "
        f"({result.predictions_logged:,} logged, {result.outcomes:,} outcomes).</p>"
    )
    return _page(
        "Performance report",
        [
            ("Summary", summary),
            ("Calibration by grade", calibration),
            ("PD back-test", backtest),
            ("AUC by month", auc_chart + month_table),
            ("By model version", version_table),
            ("Fairness over time", fairness),
        ],
        intro,
    )


def write_report(text: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
