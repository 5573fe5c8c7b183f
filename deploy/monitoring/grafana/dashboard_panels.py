"""What the dashboard "bankrisk: operations" shows: each panel once, as data (title, description,
PromQL, unit, threshold lines, width). dashboard.py turns them into Grafana's objects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The scoring routes, as the recording rules select them.
SCORING = 'route=~"/predict|/v1/predict(/.*)?"'

Kind = Literal["timeseries", "bargauge", "table"]
Shape = Literal["series", "histogram", "table"]  # the last two are instant queries


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    shape: Shape = "series"


@dataclass(frozen=True)
class Chart:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str | None = None
    # Lines drawn at these values (the alert thresholds), above a green base.
    steps: tuple[tuple[float, str], ...] = ()
    width: int = 8
    kind: Kind = "timeseries"


@dataclass(frozen=True)
class Row:
    title: str
    charts: tuple[Chart, ...]


ROWS = (
    Row(
        "Traffic and SLO",
        (
            Chart(
                "Request rate by route",
                "Requests per second over 5 minutes, every route (scrapes and probes included).",
                (Query("sum by (route) (job_route:bankrisk_http_requests:rate5m)", "{{route}}"),),
                unit="reqps",
            ),
            Chart(
                "Latency p50 and p99 (scoring routes)",
                "Server-side latency over 5 minutes. Objective (docs/slo.md): p99 under 100 ms "
                "for one customer, 1 s for a batch.",
                (
                    Query(
                        "max by (route) "
                        "(job_route:bankrisk_http_request_duration_seconds:p50_rate5m)",
                        "p50 {{route}}",
                    ),
                    Query(
                        "max by (route) "
                        "(job_route:bankrisk_http_request_duration_seconds:p99_rate5m)",
                        "p99 {{route}}",
                    ),
                ),
                unit="s",
                steps=((0.1, "red"),),
            ),
            Chart(
                "5xx ratio (scoring routes)",
                "Share of scoring requests answered with a 5xx over 5 minutes. Alert from 1% "
                "for 5 minutes.",
                (
                    Query(
                        "max by (job) (job:bankrisk_scoring_requests_5xx:ratio_rate5m)", "{{job}}"
                    ),
                ),
                unit="percentunit",
                steps=((0.01, "red"),),
            ),
        ),
    ),
    Row(
        "Decisions and population",
        (
            Chart(
                "Responses by status (scoring routes)",
                "4xx are refused inputs (bad fields, too large); 5xx are the service's failures.",
                (
                    Query(
                        f"sum by (status) (rate(bankrisk_http_requests_total{{{SCORING}}}[5m]))",
                        "{{status}}",
                    ),
                ),
                unit="reqps",
            ),
            Chart(
                "Predictions by decision",
                "Customers answered per second (champion and canary; shadow predictions excluded).",
                (
                    Query(
                        "sum by (decision) (job_decision:bankrisk_predictions:rate5m)",
                        "{{decision}}",
                    ),
                ),
                unit="ops",
            ),
            Chart(
                "Predictions by risk grade",
                "Customers answered per second by master-scale grade (A1 best ... E2).",
                (Query("sum by (grade) (job_grade:bankrisk_predictions:rate5m)", "{{grade}}"),),
                unit="ops",
            ),
            Chart(
                "PD distribution (last hour)",
                "Customers scored in the last hour by probability-of-default bucket "
                "(cumulative: le = at most).",
                (
                    Query(
                        "sum by (le) (increase(bankrisk_probability_of_default_bucket[1h]))",
                        "{{le}}",
                        "histogram",
                    ),
                ),
                unit="short",
                kind="bargauge",
            ),
            Chart(
                "Mean PD: last hour against 7 days",
                "Alert when they differ by more than 0.05 for 30 minutes.",
                (
                    Query(
                        "max by (job) (job:bankrisk_probability_of_default:mean_rate1h)",
                        "last hour",
                    ),
                    Query(
                        "max by (job) (job:bankrisk_probability_of_default:mean_rate7d)", "7 days"
                    ),
                ),
                unit="percentunit",
            ),
            Chart(
                "Decline rate: last hour against 7 days",
                "Alert when they differ by more than 0.10 for 30 minutes.",
                (
                    Query(
                        "max by (job) (job:bankrisk_predictions_declined:ratio_rate1h)",
                        "last hour",
                    ),
                    Query(
                        "max by (job) (job:bankrisk_predictions_declined:ratio_rate7d)", "7 days"
                    ),
                ),
                unit="percentunit",
            ),
        ),
    ),
    Row(
        "Drift and prediction log",
        (
            Chart(
                "Input drift: PSI per field (last hour)",
                "PSI of each input against the bundle's training bins over the last hour. Watch "
                "from 0.10; alert above 0.25 for 30 minutes on 1,000 customers or more.",
                (Query("max by (feature) (bankrisk_feature_psi)", "{{feature}}"),),
                unit="none",
                steps=((0.1, "orange"), (0.25, "red")),
                width=12,
            ),
            Chart(
                "Customers in the PSI window",
                "PSI on fewer than 1,000 customers is not judged (upward bias at small n).",
                (Query("sum by (job) (bankrisk_feature_psi_window_rows)", "{{job}}"),),
                unit="short",
                width=4,
            ),
            Chart(
                "Prediction log",
                "Rows written, dropped (alert on any) and waiting in memory; shadow requests "
                "dropped.",
                (
                    Query(
                        "sum by (job) (rate(bankrisk_prediction_log_written_total[5m]))",
                        "written/s",
                    ),
                    Query(
                        "sum by (job) (rate(bankrisk_prediction_log_dropped_total[5m]))",
                        "dropped/s",
                    ),
                    Query("sum by (job) (bankrisk_prediction_log_queued_rows)", "queued rows"),
                    Query(
                        "sum by (job) (rate(bankrisk_shadow_dropped_total[5m]))",
                        "shadow dropped/s",
                    ),
                ),
                unit="short",
            ),
        ),
    ),
    Row(
        "Model in use",
        (
            Chart(
                "Model in use",
                "The bundle each instance serves (name, version, role).",
                (Query("max by (name, version, role) (bankrisk_model_info)", shape="table"),),
                kind="table",
            ),
            Chart(
                "Predictions by model version and role",
                "Customers scored per second by each model (shadow included).",
                (
                    Query(
                        "sum by (model_version, role) (rate(bankrisk_predictions_total[5m]))",
                        "v{{model_version}} {{role}}",
                    ),
                ),
                unit="ops",
            ),
            Chart(
                "Model reloads and targets up",
                "Reload attempts in the last hour by result (alert on any failure), and "
                "instances answering /metrics.",
                (
                    Query(
                        "sum by (result) (increase(bankrisk_model_reloads_total[1h]))",
                        "reloads {{result}} (1 h)",
                    ),
                    Query('sum by (job) (up{job="bankrisk"})', "instances up"),
                ),
                unit="short",
            ),
        ),
    ),
)
