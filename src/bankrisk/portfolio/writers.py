"""Output files written in chunks, CSV or Parquet by extension, all or nothing.

A writer writes to a hidden temporary file beside the destination and renames it into place
only when closed without an error: a failed or interrupted run never leaves a half-written
(or misleadingly complete-looking) output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bankrisk.errors import BankRiskError

OUTPUT_SUFFIXES = (".csv", ".parquet", ".pq")


class TableWriter(Protocol):
    def write(self, table: pa.Table) -> None: ...


def check_output(path: Path, option: str = "--output") -> None:
    """One line naming the problem if `path` cannot be an output file."""
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise BankRiskError(
            f"{option} {path}: unsupported file type {path.suffix or '(no extension)'!r} "
            f"(expected one of {', '.join(OUTPUT_SUFFIXES)})"
        )
    if not path.parent.is_dir():
        raise BankRiskError(f"{option} {path}: no such folder {path.parent}")
    if path.is_dir():
        raise BankRiskError(f"{option} {path}: is a folder")


class _LazyWriter:
    """Opens the format's writer on the first table (whose schema it takes)."""

    def __init__(self, path: Path, parquet: bool) -> None:
        self.path = path
        self.parquet = parquet
        self._writer: pq.ParquetWriter | pa_csv.CSVWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = (
                pq.ParquetWriter(self.path, table.schema, compression="snappy")
                if self.parquet
                else pa_csv.CSVWriter(self.path, table.schema)
            )
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


@contextmanager
def open_writer(path: Path, schema: pa.Schema | None = None) -> Iterator[TableWriter]:
    """A writer for `path` (.csv, or .parquet/.pq): tables in, the file renamed into place
    when the block ends normally; on an exception nothing is left behind. With no table
    written, the file has `schema`'s columns and no rows."""
    check_output(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    writer = _LazyWriter(temporary, parquet=path.suffix.lower() != ".csv")
    try:
        yield writer
        if writer._writer is None and schema is not None:
            writer.write(schema.empty_table())
        writer.close()
        os.replace(temporary, path)
    except BaseException:
        with suppress(Exception):
            writer.close()
        temporary.unlink(missing_ok=True)
        raise
