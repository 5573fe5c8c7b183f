"""The progress bar of `bankrisk score` (rows, rows/s, ETA), on a terminal only.

A CSV's row count is unknown until the end, so its bar runs over the bytes read (the ETA)
while it shows rows; Parquet and .xls know their rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bankrisk.portfolio.readers import Reader

ProgressCallback = Callable[[Reader, int], None]


@contextmanager
def progress_bar(console: Console) -> Iterator[ProgressCallback | None]:
    """A callback for `score_file` that draws the bar, or None when not on a terminal."""
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
            by_rows = reader.total_rows is not None
            total = reader.total_rows if by_rows else reader.total_bytes
            done = rows if by_rows else reader.bytes_read()
            rate = rows / max(time.monotonic() - start, 1e-9)
            progress.update(task, total=total, completed=done, rows=rows, rate=rate)

        yield update
