"""`monitor performance`'s fairness verdict as Prometheus metrics: a node-exporter textfile.

`monitor performance` is a batch job (cron, a Cloud Run job, `deploy/drift_job.sh`'s kind),
run long after the decisions it judges: the service cannot export its verdict (it never sees
outcomes or a whole window), and no Pushgateway is part of this deployment. The textfile
collector of node-exporter is Prometheus' own way for a batch job on a host to hand over
metrics: the job writes `*.prom` in the collector's folder (`--metrics-file`), atomically
(written beside it, then renamed), and the alert `BankriskFourFifthsRuleFailed`
(deploy/monitoring/rules/alerts.yml) fires on it. The run's time is exported too, so that a
review that stopped running can be told from one that passes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from bankrisk.errors import DataError
from bankrisk.monitoring.performance import VERDICT_ATTRIBUTES, FairnessReport

RATIO = "bankrisk_fairness_adverse_impact_ratio"
FAILED = "bankrisk_fairness_four_fifths_failed"
APPROVAL = "bankrisk_fairness_approval_rate"
CARRIED = "bankrisk_fairness_customers_with_attribute"
LAST_RUN = "bankrisk_fairness_last_run_timestamp_seconds"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fairness_metrics(report: FairnessReport, now: float | None = None) -> str:
    """The exposition text: per protected attribute, the adverse impact ratio, whether it
    fails the four-fifths rule (1) or not (0; no sample when it cannot be judged), each
    group's approval rate and how many customers carry the attribute."""
    lines = [
        f"# HELP {RATIO} Lowest over highest group approval rate (groups of at least "
        f"{report.min_group_size}), over monitor performance's window.",
        f"# TYPE {RATIO} gauge",
        f"# HELP {FAILED} 1 when the adverse impact ratio is below {report.four_fifths_threshold}"
        " (the four-fifths rule), else 0.",
        f"# TYPE {FAILED} gauge",
        f"# HELP {APPROVAL} Approval rate (a decision other than decline) of one group.",
        f"# TYPE {APPROVAL} gauge",
        f"# HELP {CARRIED} Customers in the window that carry the attribute.",
        f"# TYPE {CARRIED} gauge",
        f"# HELP {LAST_RUN} When monitor performance last judged fairness (Unix time).",
        f"# TYPE {LAST_RUN} gauge",
    ]
    for attribute in VERDICT_ATTRIBUTES:
        found = report.overall.get(attribute)
        if found is None:
            continue
        label = f'attribute="{_label(attribute)}"'
        lines.append(f"{CARRIED}{{{label}}} {found.carried}")
        if found.adverse_impact_ratio is not None:
            lines.append(f"{RATIO}{{{label}}} {found.adverse_impact_ratio!r}")
            lines.append(f"{FAILED}{{{label}}} {int(found.four_fifths_rule_passed is False)}")
        for group, approval in found.groups.items():
            lines.append(
                f'{APPROVAL}{{{label},group="{_label(group)}"}} {approval.approval_rate!r}'
            )
    lines.append(f"{LAST_RUN} {time.time() if now is None else now!r}")
    return "\n".join(lines) + "\n"


def write_metrics_file(path: Path, report: FairnessReport) -> None:
    """Write `fairness_metrics` to `path` atomically (the collector never reads half a file);
    DataError (one line) when it cannot be written."""
    if path.suffix != ".prom":
        raise DataError(f"--metrics-file {path}: must end in .prom (node-exporter reads those)")
    partial = path.with_name(f".{path.name}.partial")  # not *.prom: the collector skips it
    try:
        partial.write_text(fairness_metrics(report))
        os.replace(partial, path)
    except OSError as exc:
        raise DataError(f"--metrics-file {path}: cannot be written ({exc.strerror})") from None
