"""`bankrisk score` on one machine: a file streamed through a bundle in chunks.

Memory is bounded by the chunk, not the file: a thread reads and checks the next chunk while
`WORKERS` threads score the ones before (onnxruntime, pyarrow and numpy's large array
operations release the GIL, so they share the cores), and this thread writes them in order.
Nothing is written unless every row is valid, or `skip_invalid` sends bad rows to a reject
file beside the output (`<output stem>.rejects.csv`).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DECISIONS
from bankrisk.core.validation import input_rules
from bankrisk.errors import DataError
from bankrisk.portfolio.checks import Checked, Rejected, check_chunk
from bankrisk.portfolio.columns import ChunkScorer, output_schema
from bankrisk.portfolio.readers import Reader, open_reader
from bankrisk.portfolio.record import Recorder
from bankrisk.portfolio.writers import TableWriter, check_output, open_writer
from bankrisk.schema import FIELD_NAMES

CHUNK_ROWS = 25_000
# Chunks scored at once: one per core, up to 4 (beyond, the Python parts contend for the GIL).
WORKERS = max(1, min(4, len(os.sched_getaffinity(0))))
# Bad rows listed when a run stops on them; the rest are counted.
MAX_LISTED = 20


@dataclass
class Summary:
    """What a run did: rows scored and rejected, seconds, and rows per decision."""

    output: Path
    rows_scored: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    decisions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DECISIONS, 0))
    rejects: Path | None = None


class InvalidRowsError(DataError):
    """Bad rows stopped the run before anything was written."""


def rejects_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.rejects.csv")


def _rejects_table(rejected: list[Rejected], columns: list[str]) -> pa.Table:
    data: dict[str, list[object]] = {
        "row": [r.row for r in rejected],
        "field": ["; ".join(f for f, _ in r.errors) for r in rejected],
        "reason": ["; ".join(f"{f}: {m}" for f, m in r.errors) for r in rejected],
    }
    for name in columns:
        data[name] = [r.values.get(name) for r in rejected]
    schema = pa.schema(
        [
            pa.field("row", pa.int64()),
            pa.field("field", pa.string()),
            pa.field("reason", pa.string()),
        ]
        + [pa.field(c, pa.string()) for c in columns]
    )
    return pa.table(data, schema=schema)


def describe_rejected(rejected: list[Rejected], total: int, path: Path) -> str:
    """The stop message: how many rows are bad, the first MAX_LISTED named, how many more."""
    lines = [
        f"{path}: {total:,} invalid row{'s' if total != 1 else ''}; nothing was written "
        "(--skip-invalid scores the valid rows and writes the bad ones to a reject file)"
    ]
    for r in rejected[:MAX_LISTED]:
        lines += [f"  row {r.row:,}: {f}: {m}" for f, m in r.errors]
    if total > MAX_LISTED:
        lines.append(f"  ... and {total - MAX_LISTED:,} more invalid rows")
    return "\n".join(lines)


def _checked_chunks(reader: Reader) -> Iterator[Checked]:
    first_row = 1
    for table in reader.chunks:
        yield check_chunk(table, reader.id_column, first_row, reader.rules)
        first_row += table.num_rows


def prefetched(chunks: Iterator[Checked]) -> Iterator[Checked]:
    """`chunks`, the next one produced in a second thread while the caller works on this one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bankrisk-read") as pool:
        pending = pool.submit(next, chunks, None)
        while (chunk := pending.result()) is not None:
            pending = pool.submit(next, chunks, None)
            yield chunk


def scored_in_order(
    chunks: Iterator[Checked],
    score: Callable[[Checked], pa.Table | None],
    workers: int | None = None,
) -> Iterator[tuple[Checked, pa.Table | None]]:
    """Each chunk with `score(chunk)`, in input order, up to `workers` chunks scored at once
    (the model and numpy release the GIL; memory stays a few chunks)."""
    workers = workers or WORKERS
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bankrisk-score") as pool:
        pending: deque[tuple[Checked, Future[pa.Table | None]]] = deque()
        for chunk in chunks:
            if len(pending) == workers:  # at most `workers` chunks held: bounded memory
                done, future = pending.popleft()
                yield done, future.result()
            pending.append((chunk, pool.submit(score, chunk)))
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


def score_file(
    model_dir: Path,
    input_path: Path,
    output: Path,
    chunk_rows: int = CHUNK_ROWS,
    skip_invalid: bool = False,
    on_progress: Callable[[Reader, int], None] | None = None,
    record: Recorder | None = None,
) -> Summary:
    """Score every row of `input_path` into `output`; see the module docstring. `record`
    gets each scored chunk once it is written (the run recorded in the prediction log)."""
    start = time.monotonic()
    check_output(output)
    scorer = ChunkScorer(ModelBundle.load(model_dir))
    reader = open_reader(input_path, chunk_rows, input_rules(scorer.bundle.feature_set))
    summary = Summary(output, rejects=rejects_path(output) if skip_invalid else None)
    stopped = False  # a bad row without --skip-invalid: the rest is only checked

    def score(chunk: Checked) -> pa.Table | None:
        nonlocal stopped
        stopped = stopped or (bool(chunk.rejected) and not skip_invalid)
        if stopped or not chunk.raw.shape[0]:
            return None
        return scorer.table(chunk.raw, chunk.ids, reader.id_column)

    listed: list[Rejected] = []
    with ExitStack() as stack:
        stack.callback(reader.close)
        writer = stack.enter_context(open_writer(output, output_schema(reader.id_column)))
        columns = [c for c in (reader.id_column,) if c] + list(FIELD_NAMES)
        rejects: TableWriter | None = None
        if summary.rejects is not None:
            rejects = stack.enter_context(
                open_writer(summary.rejects, _rejects_table([], columns).schema)
            )
        for chunk, table in scored_in_order(prefetched(_checked_chunks(reader)), score):
            summary.rows_rejected += len(chunk.rejected)
            if rejects is not None and chunk.rejected:
                rejects.write(_rejects_table(chunk.rejected, columns))
            elif chunk.rejected:
                listed += chunk.rejected[: MAX_LISTED - len(listed)]
            if table is not None and not listed:
                writer.write(table)
                _count(summary, table)
                if record is not None:
                    record(chunk.raw, table, reader.id_column)
            if on_progress is not None:
                on_progress(reader, summary.rows_scored + summary.rows_rejected)
        if listed:
            raise InvalidRowsError(describe_rejected(listed, summary.rows_rejected, input_path))
    summary.seconds = time.monotonic() - start
    return summary


def _count(summary: Summary, table: pa.Table) -> None:
    summary.rows_scored += table.num_rows
    decisions = table.column("decision").combine_chunks().value_counts()
    for item in decisions.to_pylist():
        summary.decisions[item["values"]] += int(item["counts"])
