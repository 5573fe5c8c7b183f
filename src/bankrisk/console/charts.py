"""Charts drawn on the server as inline SVG (no script, nothing fetched): bars, grouped bars,
a line, a scatter, intervals, and a heat map that is an HTML table.

Every SVG is `role="img"` with a `<title>` and a `<desc>` that says what it shows in words;
the pages also print the figures in a table beside each chart, so nothing is only a picture.
All text goes through `markupsafe.escape`. Sizes are in SVG user units; the SVG scales to its
container (`viewBox`, width 100%).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
INK = "#1a1a1a"
MUTED = "#4a4a4a"
GRID = "#c8c8c8"
# Series colours, distinct in colour and in lightness (for readers who do not see colour).
SERIES = ("#0b4f8a", "#c75b00", "#1b6b2f", "#6a1b9a")
# Heat map cells by status: light fills under dark text (contrast above 7:1).
STATUS_FILL = {"ok": "#e3f1e6", "warn": "#ffe8a3", "alert": "#f7c6c6", "none": "#f2f4f7"}

Format = Callable[[float], str]


def plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str = ""


@dataclass(frozen=True)
class Interval:
    """A label's estimate (`value`), its interval and an optional reference (`expected`)."""

    label: str
    value: float
    low: float
    high: float
    expected: float | None = None


def _svg(
    chart_id: str, title: str, description: str, height: float, body: str, width: int = WIDTH
) -> Markup:
    ident = escape(chart_id)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height:.0f}" width="100%" '
        f'style="max-width:{width * 1.1:.0f}px;height:auto;display:block" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(title)}</title>'
        f'<desc id="{ident}-desc">{escape(description)}</desc>{body}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{INK}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2 or 5 times a power of ten)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return float(next(step * power for step in (1, 2, 5, 10) if step * power >= value))


def bars(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, float]],
    fmt: Format = plain,
) -> Markup:
    """Horizontal bars, one per (label, value), the value printed at each bar's end."""
    row, left, right = 24, 110, 70
    height = row * len(items) + 10
    top = _nice_max(max((v for _, v in items), default=0.0))
    span = WIDTH - left - right
    parts = []
    for k, (label, value) in enumerate(items):
        y = 5 + k * row
        w = max(0.0, span * value / top)
        parts.append(_text(left - 8, y + 16, label, "end"))
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{SERIES[0]}"/>'
        )
        parts.append(_text(left + w + 6, y + 16, fmt(value)))
    words = "; ".join(f"{label}: {fmt(value)}" for label, value in items)
    return _svg(chart_id, title, words or "no data", height, "".join(parts))


def grouped_bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    fmt: Format = plain,
) -> Markup:
    """Vertical bars grouped by label, one colour per series, with a legend."""
    height, bottom, left, top_pad = 260, 40, 50, 30
    top = _nice_max(max((v for _, values in series for v in values), default=0.0))
    plot_h = height - bottom - top_pad
    group_w = (WIDTH - left - 10) / max(1, len(labels))
    bar_w = group_w * 0.8 / max(1, len(series))
    parts = [_axis_range(left, top_pad, plot_h, 0.0, top, fmt)]
    for s, (name, values) in enumerate(series):
        colour = SERIES[s % len(SERIES)]
        parts.append(f'<rect x="{left + s * 150}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(left + s * 150 + 16, 16, name))
        for k, value in enumerate(values):
            h = plot_h * value / top
            x = left + k * group_w + group_w * 0.1 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top_pad + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"/>'
            )
    every = max(1, math.ceil(len(labels) / 12))
    for k, label in enumerate(labels):
        if k % every == 0:
            x = left + (k + 0.5) * group_w
            parts.append(_text(x, height - bottom + 16, label, "middle", 11))
    words = "; ".join(
        f"{name}: " + ", ".join(f"{lab} {fmt(v)}" for lab, v in zip(labels, values, strict=True))
        for name, values in series
    )
    return _svg(chart_id, title, words or "no data", height, "".join(parts))


def line(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
    fmt: Format = plain,
    low: float = 0.0,
    high: float | None = None,
    reference: tuple[str, float] | None = None,
) -> Markup:
    """Lines over the same labels (x), one per series; None is a gap. `reference`: a dashed
    horizontal line (its name and value), e.g. a threshold."""
    height, bottom, left, top_pad = 240, 40, 56, 30
    values = [v for _, pts in series for _, v in pts if v is not None]
    top = high if high is not None else _nice_max(max(values, default=0.0))
    labels = [x for x, _ in series[0][1]] if series else []
    plot_h = height - bottom - top_pad
    step = (WIDTH - left - 40) / max(1, len(labels) - 1)
    parts = [_axis_range(left, top_pad, plot_h, low, top, fmt)]

    def y_of(value: float) -> float:
        share = (value - low) / (top - low) if top > low else 0.0
        return top_pad + plot_h - plot_h * min(1.0, max(0.0, share))

    if reference is not None:
        y = y_of(reference[1])
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{INK}" stroke-dasharray="6 4"/>'
        )
        parts.append(_text(WIDTH - 12, y - 4, reference[0], "end", 11))
    for s, (name, pts) in enumerate(series):
        colour = SERIES[s % len(SERIES)]
        parts.append(f'<rect x="{left + s * 150}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(_text(left + s * 150 + 16, 16, name))
        path, drawing = [], False
        for k, (_, value) in enumerate(pts):
            if value is None:
                drawing = False
                continue
            x, y = left + k * step, y_of(value)
            path.append(f"{'L' if drawing else 'M'}{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            drawing = True
        if path:
            parts.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    every = max(1, math.ceil(len(labels) / 12))
    for k, label in enumerate(labels):
        if k % every == 0:
            parts.append(_text(left + k * step, height - bottom + 16, label, "middle", 11))
    words = "; ".join(
        f"{name}: " + ", ".join(f"{x} {'n/a' if v is None else fmt(v)}" for x, v in pts)
        for name, pts in series
    )
    return _svg(chart_id, title, words or "no data", height, "".join(parts))


def _axis_range(
    left: float, top_pad: float, plot_h: float, low: float, top: float, fmt: Format
) -> str:
    """A y axis from `low` to `top` with three grid lines."""
    parts = []
    for k in range(4):
        value = low + (top - low) * k / 3
        y = top_pad + plot_h - plot_h * k / 3
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        parts.append(_text(left - 6, y + 4, fmt(value), "end", 11))
    return "".join(parts)


def scatter(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    x_name: str,
    y_name: str,
    fmt: Format = plain,
) -> Markup:
    """Points on x and y from 0, with the diagonal y = x (e.g. PD against PD)."""
    size, pad = 300, 40
    top = _nice_max(max((max(p.x, p.y) for p in points), default=0.0))
    scale = (size - 2 * pad) / top
    parts = [
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="{GRID}"/>',
        f'<rect x="{pad}" y="{pad}" width="{size - 2 * pad}" height="{size - 2 * pad}" '
        f'fill="none" stroke="{MUTED}"/>',
        _text(size / 2, size - 8, x_name, "middle", 11),
        _text(pad, pad - 8, y_name, "start", 11),
        _text(pad, size - pad + 14, "0", "middle", 11),
        _text(size - pad, size - pad + 14, fmt(top), "middle", 11),
    ]
    for p in points:
        cx, cy = pad + p.x * scale, size - pad - p.y * scale
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{SERIES[0]}" fill-opacity="0.6"/>'
        )
    words = f"{len(points)} points of {y_name} against {x_name}; the diagonal is y = x"
    return _svg(chart_id, title, words, size, "".join(parts), width=size)


def intervals(
    chart_id: str,
    title: str,
    items: Sequence[Interval],
    value_name: str,
    expected_name: str,
    fmt: Format = percent,
) -> Markup:
    """One row per label: the interval as a bar, the estimate as a dot, the reference (e.g.
    the mean PD) as a diamond."""
    row, left, right = 26, 70, 20
    height = row * len(items) + 40
    top = _nice_max(max((max(i.high, i.expected or 0.0) for i in items), default=0.0))
    span = WIDTH - left - right

    def x_of(value: float) -> float:
        return left + span * min(1.0, max(0.0, value / top))

    parts = [
        f'<circle cx="{left}" cy="12" r="4" fill="{SERIES[0]}"/>',
        _text(left + 8, 16, f"{value_name} (bar: 95% interval)"),
        f'<rect x="{left + 330}" y="8" width="8" height="8" fill="{SERIES[1]}" '
        f'transform="rotate(45 {left + 334} 12)"/>',
        _text(left + 344, 16, expected_name),
    ]
    for k, item in enumerate(items):
        y = 40 + k * row
        parts.append(_text(left - 8, y + 4, item.label, "end"))
        parts.append(
            f'<line x1="{x_of(item.low):.1f}" x2="{x_of(item.high):.1f}" y1="{y}" y2="{y}" '
            f'stroke="{SERIES[0]}" stroke-width="4" stroke-opacity="0.45"/>'
        )
        parts.append(f'<circle cx="{x_of(item.value):.1f}" cy="{y}" r="4.5" fill="{SERIES[0]}"/>')
        if item.expected is not None:
            x = x_of(item.expected)
            parts.append(
                f'<rect x="{x - 4:.1f}" y="{y - 4}" width="8" height="8" fill="{SERIES[1]}" '
                f'transform="rotate(45 {x:.1f} {y})"/>'
            )
    parts.append(_text(left, height - 4, "0", "middle", 11))
    parts.append(_text(WIDTH - right, height - 4, fmt(top), "end", 11))
    words = "; ".join(
        f"{i.label}: {value_name} {fmt(i.value)} ({fmt(i.low)} to {fmt(i.high)})"
        + (f", {expected_name} {fmt(i.expected)}" if i.expected is not None else "")
        for i in items
    )
    return _svg(chart_id, title, words or "no data", height, "".join(parts))


@dataclass(frozen=True)
class HeatCell:
    """One cell: its value (None: not measured) and its status (`ok`, `warn`, `alert`)."""

    value: float | None
    status: str


def heat_map(
    caption: str,
    row_names: Sequence[str],
    column_names: Sequence[str],
    cells: Sequence[Sequence[HeatCell]],
    fmt: Format = plain,
) -> Markup:
    """A table: a row per name, a column per period, each cell's value as text and its
    status as a fill colour and, for warn and alert, a word (colour is never the only
    sign)."""
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in column_names)
    body = []
    for name, row in zip(row_names, cells, strict=True):
        tds = []
        for cell in row:
            status = cell.status if cell.value is not None else "none"
            fill = STATUS_FILL.get(status, STATUS_FILL["none"])
            text = "n/a" if cell.value is None else fmt(cell.value)
            mark = f" {status}" if status in ("warn", "alert") else ""
            tds.append(
                f'<td class="num heat heat-{escape(status)}" style="background:{fill}">'
                f"{escape(text)}{escape(mark)}</td>"
            )
        body.append(f'<tr><th scope="row">{escape(name)}</th>{"".join(tds)}</tr>')
    return Markup(
        f'<table class="heat-map"><caption>{escape(caption)}</caption>'
        f'<thead><tr><th scope="col">characteristic</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )
