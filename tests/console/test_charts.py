"""The console's SVG charts: well-formed SVG with a title and a description in words, text
escaped, values drawn to scale, and the heat map's cells carrying value and status as text."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from bankrisk.console import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: object) -> ET.Element:
    return ET.fromstring(str(markup))


def test_bars_are_labelled_svg_with_the_values_in_words() -> None:
    svg = _parse(charts.bars("g", "Customers by grade", [("A1", 5), ("B1", 20)]))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "g-title g-desc"
    assert svg.find(f"{SVG}title").text == "Customers by grade"  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").text == "A1: 5; B1: 20"  # type: ignore[union-attr]
    widths = [float(r.get("width", "0")) for r in svg.iter(f"{SVG}rect")]
    assert widths[1] == pytest.approx(4 * widths[0])


def test_text_is_escaped() -> None:
    markup = str(charts.bars("x", "<script>", [("<b>&", 1.0)]))
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    _parse(markup)


def test_empty_charts_say_there_is_no_data() -> None:
    svg = _parse(charts.bars("e", "Nothing", []))
    assert svg.find(f"{SVG}desc").text == "no data"  # type: ignore[union-attr]


def test_a_line_leaves_a_gap_where_a_value_is_missing() -> None:
    points = [("2026-01", 0.7), ("2026-02", None), ("2026-03", 0.8)]
    svg = _parse(charts.line("auc", "AUC", [("AUC", points)], low=0.5, high=1.0))
    paths = [p.get("d", "") for p in svg.iter(f"{SVG}path")]
    assert len(paths) == 1 and paths[0].count("M") == 2 and "L" not in paths[0]
    assert len(list(svg.iter(f"{SVG}circle"))) == 2
    assert "2026-02 n/a" in (svg.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_grouped_bars_scatter_and_intervals_are_well_formed() -> None:
    grouped = charts.grouped_bars(
        "d", "Score", ["1", "2"], [("ref", [0.5, 0.5]), ("now", [0.4, 0.6])]
    )
    assert len(list(_parse(grouped).iter(f"{SVG}rect"))) == 2 + 4  # legend and bars
    scatter = charts.scatter("s", "PD", [charts.Point(0.1, 0.2), charts.Point(0.3, 0.3)], "a", "b")
    assert _parse(scatter).get("viewBox") == "0 0 300 300"
    items = [charts.Interval("A1", 0.02, 0.01, 0.04, 0.03)]
    desc = _parse(charts.intervals("b", "Back-test", items, "observed", "mean PD")).find(
        f"{SVG}desc"
    )
    assert desc is not None and desc.text == "A1: observed 2.0% (1.0% to 4.0%), mean PD 3.0%"


def test_the_heat_map_is_a_table_with_values_and_statuses_as_text() -> None:
    cells = [
        [charts.HeatCell(0.05, "ok"), charts.HeatCell(0.3, "alert")],
        [charts.HeatCell(None, "none"), charts.HeatCell(0.15, "warn")],
    ]
    table = _parse(charts.heat_map("PSI", ["AGE", "score"], ["2026-01", "2026-02"], cells))
    assert table.tag == "table"
    header = [th.text for th in table.iter("th")][:3]
    assert header == ["characteristic", "2026-01", "2026-02"]
    texts = [td.text for td in table.iter("td")]
    assert texts == ["0.05", "0.3 alert", "n/a", "0.15 warn"]
    styles = [td.get("style") for td in table.iter("td")]
    assert styles[1] == f"background:{charts.STATUS_FILL['alert']}"
