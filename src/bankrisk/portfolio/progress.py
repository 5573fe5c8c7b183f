"""What `bankrisk score` shows while it runs: a live bar (rows, rows/s, ETA) on a terminal,
else at most a few plain lines, and only on a run long enough to need them.

A CSV's row count is unknown until the end, so its bar runs over the bytes read (the ETA)
while it shows rows; Parquet and .xls know their rows.

"On a terminal" means the stream really is one: rich also takes FORCE_COLOR or
TTY_COMPATIBLE=1 (which CI runners and some tools set) for a terminal, and a live bar written
into a pipe or a log file becomes one more copy of the bar at every refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bankrisk.portfolio.readers import Reader

ProgressCallback = Callable[[Reader, int], None]
# Off a terminal: nothing before this many seconds, then a line at each quarter of the input.
PLAIN_AFTER_S = 10.0
PLAIN_STEPS = 4


def _done(reader: Reader, rows: int) -> tuple[int, int | None]:
    """How far the reader is, and out of how much: rows when the file's row count is known,
    else bytes (CSV)."""
    if reader.total_rows is not None:
        return rows, reader.total_rows
    return reader.bytes_read(), reader.total_bytes


def on_a_terminal(console: Console) -> bool:
    """True when the console writes to a real terminal that redraws in place."""
    isatty = getattr(console.file, "isatty", None)
    try:
        real = bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        real = False
    return real and console.is_interactive


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressCallback | None]:
    """A callback for `score_file` that draws the bar on `console`, or None when the console
    is not a terminal (as rich sees it: a console built with `force_terminal` draws)."""
    if not console.is_terminal:
        yield None
        return
    start = time.monotonic()
    columns = (
        BarColumn(),
        TextColumn("{task.fields[rows]:>12,} rows  {task.fields[rate]:>9,.0f} rows/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("scoring", total=None, rows=0, rate=0.0)

        def update(reader: Reader, rows: int) -> None:
            done, total = _done(reader, rows)
            rate = rows / max(time.monotonic() - start, 1e-9)
            progress.update(task, total=total, completed=done, rows=rows, rate=rate)

        yield update


def plain_progress(
    console: Console, clock: Callable[[], float] = time.monotonic
) -> ProgressCallback:
    """A callback printing one plain line at each quarter of the input (at most three), once
    `PLAIN_AFTER_S` have passed: nothing on a short run."""
    start = clock()
    printed = 0  # quarters reported so far

    def update(reader: Reader, rows: int) -> None:
        nonlocal printed
        done, total = _done(reader, rows)
        if not total:
            return
        reached = min(PLAIN_STEPS - 1, PLAIN_STEPS * done // total)
        elapsed = clock() - start
        if reached <= printed or elapsed < PLAIN_AFTER_S:
            return
        printed = reached
        console.print(
            f"scoring: {rows:,} rows in {elapsed:.0f} s ({rows / elapsed:,.0f} rows/s), "
            f"{100 * done / total:.0f}% of the input read",
            highlight=False,
        )

    return update


@contextmanager
def progress_reporter(console: Console) -> Iterator[ProgressCallback]:
    """`bankrisk score`'s progress: the live bar when `console` writes to a terminal,
    else `plain_progress`."""
    if not on_a_terminal(console):
        yield plain_progress(console)
        return
    with progress_bar(console) as update:
        yield update if update is not None else plain_progress(console)
