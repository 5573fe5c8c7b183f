"""A realistic synthetic portfolio for scale tests: `bankrisk data synthesize`.

Rows are resampled from a real data file (the shared UCI data) with small noise on the
amounts and ages, so the distributions, the correlations between months and the mix of
repayment statuses stay those of real customers; every value stays in its schema range.
Written in chunks, so ten million rows need no more memory than one chunk.

Not `data.synthetic`, which makes purely synthetic rows with a known signal for unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bankrisk.data.load import load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.errors import BankRiskError
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, FIELDS, PAY_AMOUNTS

CHUNK_ROWS = 250_000
# Relative noise on amounts (a normal factor around 1), and the share of ages moved one year.
AMOUNT_NOISE = 0.05
AGE_JITTER = 0.2
_COL = {name: j for j, name in enumerate(FIELD_NAMES)}
_AMOUNTS = [_COL[n] for n in (*BILL_AMOUNTS, *PAY_AMOUNTS)]
_LIMIT, _AGE = _COL["LIMIT_BAL"], _COL["AGE"]
_MINIMUM = np.array([f.minimum for f in FIELDS])
_MAXIMUM = np.array([f.maximum for f in FIELDS])


def resample(source: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows drawn with replacement from `source` (m, 23), amounts scaled by 1 + N(0, 5%)
    (whole dollars; credit limits to NT$ 1,000), some ages moved by a year, all clipped to
    the schema ranges. Codes (SEX, EDUCATION, MARRIAGE, PAY_x) are kept as drawn."""
    rows = source[rng.integers(0, source.shape[0], n)]
    factor = 1.0 + AMOUNT_NOISE * rng.standard_normal((n, len(_AMOUNTS)))
    rows[:, _AMOUNTS] = np.round(rows[:, _AMOUNTS] * factor)
    limit = rows[:, _LIMIT] * (1.0 + AMOUNT_NOISE * rng.standard_normal(n))
    rows[:, _LIMIT] = np.maximum(np.round(limit, -3), 1_000.0)
    moved = rng.random(n) < AGE_JITTER
    rows[moved, _AGE] += rng.choice([-1.0, 1.0], int(moved.sum()))
    return np.asarray(np.clip(rows, _MINIMUM, _MAXIMUM))


def synthesize_chunks(
    source: np.ndarray, rows: int, seed: int, chunk_rows: int = CHUNK_ROWS
) -> Iterator[np.ndarray]:
    """`rows` resampled rows in chunks of at most `chunk_rows` (one seeded stream)."""
    rng = np.random.default_rng(seed)
    for start in range(0, rows, chunk_rows):
        yield resample(source, min(chunk_rows, rows - start), rng)


def source_rows(path: Path) -> np.ndarray:
    """The 23 fields of a valid data file (labels are not needed), as float64."""
    frame = validate_frame(load_dataset(path), require_target=False)
    return frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64)


def synthesize_file(
    source: Path,
    output: Path,
    rows: int,
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> int:
    """Write `rows` synthetic customers with IDs 1..rows to `output` (.csv or .parquet);
    return the number written. The file appears complete or not at all."""
    import pyarrow as pa

    from bankrisk.portfolio.writers import open_writer

    if rows < 1:
        raise BankRiskError(f"--rows must be at least 1, got {rows}")
    data = source_rows(source)
    written = 0
    integer = [f.integer for f in FIELDS]
    with open_writer(output) as writer:
        for chunk in synthesize_chunks(data, rows, seed, chunk_rows):
            ids = np.arange(written + 1, written + chunk.shape[0] + 1, dtype=np.int64)
            columns = [pa.array(ids)] + [
                pa.array(chunk[:, j].astype(np.int64) if integer[j] else chunk[:, j])
                for j in range(chunk.shape[1])
            ]
            writer.write(pa.Table.from_arrays(columns, names=["ID", *FIELD_NAMES]))
            written += chunk.shape[0]
            if on_chunk is not None:
                on_chunk(written)
    return written
