"""Input files read in chunks of rows: CSV (streamed), Parquet (by row group) or the UCI .xls
layout (small, read whole), with the column names of `data.load.normalise_columns`.

CSV cells are read as text and converted per chunk (`portfolio.checks`): a bad cell then
becomes an error naming its row and field, rather than a conversion error that stops the
reader somewhere in the file. The OPTIONAL fields (the protected attributes, EDUCATION) may be
absent from a file unless the model scores them: their column is then empty (null) in every
chunk, so that what follows sees the 23 fields.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bankrisk.core.validation import DEFAULT_RULES, InputRules
from bankrisk.data.load import load_dataset, looks_like_uci_codes, normalise_columns
from bankrisk.errors import DataError
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, OPTIONAL

INPUT_SUFFIXES = (".csv", ".parquet", ".pq", ".xls")
CUSTOMER_ID = "customer_id"
ID_COLUMNS = (ID_COLUMN, CUSTOMER_ID)
# pyarrow reads and parses dozens of blocks ahead: 1 MB blocks keep that to tens of MB.
_BLOCK_BYTES = 1 << 20


@dataclass
class Reader:
    """Chunks of an input file as Arrow tables with normalised column names: the 23 fields
    (an optional one the file lacks as nulls) and the id column (`id_column`, None if the
    file has none), nothing else; `rules` says which fields the model needs."""

    path: Path
    id_column: str | None
    chunks: Iterator[pa.Table]
    handle: IO[bytes] | None = None
    total_rows: int | None = None
    rules: InputRules = DEFAULT_RULES

    @property
    def total_bytes(self) -> int:
        return self.path.stat().st_size

    def bytes_read(self) -> int:
        """How far into the file the reader is (CSV), for the progress bar's ETA."""
        return self.handle.tell() if self.handle is not None else 0

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def check_input(path: Path) -> None:
    """One line naming the problem if `path` is not a readable input file."""
    if not path.exists():
        raise DataError(f"--input {path}: file not found")
    if not path.is_file():
        raise DataError(f"--input {path}: not a regular file")
    if path.suffix.lower() not in INPUT_SUFFIXES:
        raise DataError(
            f"--input {path}: unsupported file type {path.suffix or '(no extension)'!r} "
            f"(expected one of {', '.join(INPUT_SUFFIXES)})"
        )
    if path.stat().st_size == 0:
        raise DataError(f"--input {path}: file is empty")


def input_columns(
    path: Path | str, names: list[str], rules: InputRules = DEFAULT_RULES
) -> tuple[list[str], str | None]:
    """An input file's column names normalised, and its id column if any; DataError naming
    every missing required field (the local and the Spark reader's one check)."""
    try:
        normalised = normalise_columns(names)
    except DataError as exc:
        raise DataError(f"--input {path}: {exc}") from None
    missing = [f for f in FIELD_NAMES if f not in normalised and f in rules.required]
    if missing:
        inputs = [f for f in missing if f in OPTIONAL]
        because = f" ({', '.join(inputs)}: an input of the model)" if inputs else ""
        raise DataError(f"--input {path}: missing required columns: {', '.join(missing)}{because}")
    return normalised, next((c for c in ID_COLUMNS if c in normalised), None)


def absent_optional(names: list[str]) -> list[str]:
    """The OPTIONAL fields a file (its normalised column names) does not have."""
    return [f for f in OPTIONAL if f not in names]


def _columns(path: Path, names: list[str], rules: InputRules) -> tuple[dict[str, str], str | None]:
    """{file column: normalised name} of the columns scoring reads, and the id column."""
    normalised, id_column = input_columns(path, names, rules)
    wanted = {*FIELD_NAMES, id_column}
    mapping = {raw: new for raw, new in zip(names, normalised, strict=True) if new in wanted}
    return mapping, id_column


def _renamed(table: pa.Table, mapping: dict[str, str]) -> pa.Table:
    """The chunk's columns renamed, an absent optional field as a column of nulls."""
    table = table.select(list(mapping))
    table = table.rename_columns([mapping[c] for c in table.column_names])
    for name in absent_optional(table.column_names):
        table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table


def _header(path: Path, handle: IO[bytes]) -> tuple[list[str], int]:
    """The CSV's column names and how many lines precede them (1 for the UCI code row)."""
    lines = [handle.readline().decode("utf-8-sig") for _ in range(2)]
    handle.seek(0)
    rows = list(csv.reader(lines))
    if not rows or not rows[0]:
        raise DataError(f"--input {path}: no header row")
    skip = 1 if looks_like_uci_codes(rows[0]) and len(rows) > 1 else 0
    return rows[skip], skip


def _csv_reader(path: Path, chunk_rows: int, rules: InputRules) -> Reader:
    handle = path.open("rb")
    try:
        names, skip = _header(path, handle)
        mapping, id_column = _columns(path, names, rules)
        stream = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(skip_rows=skip, block_size=_BLOCK_BYTES),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(mapping),
                column_types=dict.fromkeys(mapping, pa.string()),
                strings_can_be_null=True,
            ),
        )
    except DataError:
        handle.close()
        raise
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        handle.close()
        raise DataError(f"--input {path}: not a valid CSV file ({_one_line(exc)})") from None
    batches = (pa.Table.from_batches([b]) for b in _csv_batches(path, stream))
    return Reader(path, id_column, _rechunk(batches, mapping, chunk_rows), handle, rules=rules)


def _csv_batches(path: Path, stream: pa_csv.CSVStreamingReader) -> Iterator[pa.RecordBatch]:
    """The stream's batches; a malformed line (a wrong number of cells) as one DataError."""
    while True:
        try:
            yield stream.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise DataError(f"--input {path}: not a valid CSV file ({_one_line(exc)})") from None


def _parquet_reader(path: Path, chunk_rows: int, rules: InputRules) -> Reader:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"--input {path}: not a valid Parquet file ({_one_line(exc)})") from None
    mapping, id_column = _columns(path, parquet.schema_arrow.names, rules)
    batches = (
        pa.Table.from_batches([b])
        for b in parquet.iter_batches(batch_size=chunk_rows, columns=list(mapping))
    )
    reader = Reader(path, id_column, _rechunk(batches, mapping, chunk_rows), rules=rules)
    reader.total_rows = parquet.metadata.num_rows
    return reader


def _xls_reader(path: Path, chunk_rows: int, rules: InputRules) -> Reader:
    """The UCI .xls layout: at most 65,536 rows, so it is read whole (`data.load`)."""
    frame = load_dataset(path)
    mapping, id_column = _columns(path, [str(c) for c in frame.columns], rules)
    for name in mapping:  # mixed cells (a stray text) as text, for `checks` to name them
        if frame[name].dtype == object:
            frame[name] = frame[name].map(lambda v: None if pd.isna(v) else str(v))
    table = pa.Table.from_pandas(frame[list(mapping)], preserve_index=False)
    reader = Reader(path, id_column, _rechunk(iter([table]), mapping, chunk_rows), rules=rules)
    reader.total_rows = table.num_rows
    return reader


def _rechunk(
    tables: Iterator[pa.Table], mapping: dict[str, str], chunk_rows: int
) -> Iterator[pa.Table]:
    """Tables of exactly `chunk_rows` rows (the last one fewer), renamed to `mapping`."""
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        pending.append(table)
        rows += table.num_rows
        if rows < chunk_rows:
            continue
        whole = pa.concat_tables(pending)
        start = 0
        while rows - start >= chunk_rows:
            yield _renamed(whole.slice(start, chunk_rows), mapping)
            start += chunk_rows
        pending, rows = [whole.slice(start)], rows - start
    if rows:
        yield _renamed(pa.concat_tables(pending), mapping)


def open_reader(path: Path, chunk_rows: int, rules: InputRules = DEFAULT_RULES) -> Reader:
    """A chunked reader of `path` by its extension for a model of `rules`; DataError (one
    line) if it cannot be."""
    check_input(path)
    if chunk_rows < 1:
        raise DataError(f"--chunk-rows must be at least 1, got {chunk_rows}")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_reader(path, chunk_rows, rules)
    if suffix == ".xls":
        return _xls_reader(path, chunk_rows, rules)
    return _parquet_reader(path, chunk_rows, rules)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
