"""The Grafana dashboard "bankrisk: operations", generated with grafana-foundation-sdk (the build
for Grafana 11.1, the version docker-compose.yml runs) and checked against Grafana's schemas.

    .venv/bin/python deploy/monitoring/grafana/dashboard.py          # writes the JSON file
    .venv/bin/python deploy/monitoring/grafana/dashboard.py --check  # exit 1 if it differs

Grafana's provisioning reads the JSON file, so it is committed; a test runs `--check`. Each panel
is one entry of ROWS in dashboard_panels.py; the builders here turn them into the SDK's objects.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dashboard_panels import ROWS, Chart, Query
from dashboard_schema import schema_errors
from grafana_foundation_sdk.builders import bargauge, prometheus, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards" / "bankrisk.json"
REGENERATE = ".venv/bin/python deploy/monitoring/grafana/dashboard.py"
PANELS = "deploy/monitoring/grafana/dashboard_panels.py"
UID = "bankrisk-operations"  # stable: a provisioned Grafana updates the dashboard it has
TITLE = "bankrisk: operations"
RUNBOOK = "https://github.com/bankrisk/bankrisk/blob/main/docs/runbook.md"
# The datasource provisioning/datasources/prometheus.yml creates.
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="bankrisk-prometheus")
HEIGHT = 8

PanelBuilder = timeseries.Panel | bargauge.Panel | table.Panel


def build() -> dict[str, Any]:
    """The dashboard as the JSON object Grafana loads."""
    board = (
        builders.Dashboard(TITLE)
        .uid(UID)
        .description(f"Generated from {PANELS}: edit that file, then run {REGENERATE}.")
        .tags(["bankrisk"])
        .timezone("utc")
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .version(1)
        .annotations([])
        .variables([])
        .link(builders.DashboardLink("Runbook").type(models.DashboardLinkType.LINK).url(RUNBOOK))
    )
    ids = itertools.count(1)
    for row in ROWS:
        board.with_row(builders.Row(row.title).id(next(ids)))
        for chart in row.charts:
            board.with_panel(_panel(chart).id(next(ids)))
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def _panel(chart: Chart) -> PanelBuilder:
    panel: PanelBuilder
    if chart.kind == "timeseries":
        panel = _timeseries(chart)
    elif chart.kind == "bargauge":
        panel = (
            bargauge.Panel()
            .orientation(common.VizOrientation.VERTICAL)
            .display_mode(common.BarGaugeDisplayMode.BASIC)
            .reduce_options(
                common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
            )
        )
    else:
        panel = (
            table.Panel()
            .show_header(True)
            .frame_index(0)
            # One row per bundle: its labels, without the sample's time and constant value.
            .with_transformation(
                models.DataTransformerConfig(
                    id_val="organize",
                    options={"excludeByName": {"Time": True, "Value": True}},
                )
            )
        )
    panel = (
        panel.title(chart.title)
        .description(chart.description)
        .datasource(DATASOURCE)
        .span(chart.width)
        .height(HEIGHT)
    )
    if chart.unit is not None:
        panel = panel.unit(chart.unit)
    for ref_id, query in zip("ABCDEFGH", chart.queries, strict=False):
        panel = panel.with_target(_target(query, ref_id))
    return panel


def _timeseries(chart: Chart) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builders.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if chart.steps:
        steps = [models.Threshold(color="green", value=None)]  # null: from -Infinity
        steps += [models.Threshold(color=colour, value=value) for value, colour in chart.steps]
        panel = panel.thresholds(
            builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE).steps(steps)
        ).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    return panel


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().ref_id(ref_id).datasource(DATASOURCE).expr(query.expr)
    if query.legend:
        target = target.legend_format(query.legend)
    if query.shape == "histogram":
        target = target.instant().format(PromQueryFormat.HEATMAP)
    elif query.shape == "table":
        target = target.instant().format(PromQueryFormat.TABLE)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the JSON file (%(default)s)")
    args = parser.parse_args(argv)
    text = render()
    errors = schema_errors(json.loads(text))
    if errors:
        sys.stderr.write("the generated dashboard breaks Grafana's schema:\n")
        sys.stderr.writelines(f"  {error}\n" for error in errors)
        return 1
    if not args.check:
        args.output.write_text(text)
        sys.stderr.write(f"wrote {args.output}\n")
        return 0
    current = args.output.read_text() if args.output.exists() else ""
    if current == text:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(), text.splitlines(), str(args.output), "generated", lineterm="", n=1
    )
    sys.stderr.writelines(f"{line}\n" for line in itertools.islice(diff, 40))
    sys.stderr.write(f"{args.output} differs from a fresh generation: run {REGENERATE}\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
