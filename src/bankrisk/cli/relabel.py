"""`bankrisk evaluate --target NAME`: the file's label column NAME read as the UCI label.

Interim: `bankrisk.data.load.load_dataset` knows the UCI label's spellings only
(`default payment next month`, `default.payment.next.month`, `Y`, ...), and
`evaluation.evaluate.evaluate_bundle` takes no label name. Until they take one, a file whose
label has another name (`default`, `target`: common public copies of the data) is evaluated
from a temporary copy whose header names the label as UCI does; nothing else changes.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bankrisk.errors import DataError
from bankrisk.schema import TARGET


def _no_column(path: Path, target: str, columns: list[str]) -> DataError:
    shown = ", ".join(columns[:30])
    return DataError(f"--target {target}: {path} has no column {target!r} (columns: {shown})")


def _csv_copy(path: Path, target: str, copy: Path) -> None:
    with path.open("r", encoding="utf-8-sig", newline="") as source:
        header_line = source.readline()
        header = next(csv.reader([header_line]), [])
        names = [name.strip() for name in header]
        if target not in names:
            raise _no_column(path, target, names)
        renamed = io.StringIO()
        csv.writer(renamed, lineterminator="").writerow(
            [TARGET if name == target else cell for name, cell in zip(names, header, strict=True)]
        )
        ending = header_line[len(header_line.rstrip("\r\n")) :]
        with copy.open("w", encoding="utf-8", newline="") as sink:
            sink.write(renamed.getvalue() + ending)
            shutil.copyfileobj(source, sink)


def _parquet_copy(path: Path, target: str, copy: Path) -> None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises many types for a file that is not Parquet
        raise DataError(f"Cannot read {path}: not a valid Parquet file ({exc})") from None
    names = [str(name).strip() for name in table.column_names]
    if target not in names:
        raise _no_column(path, target, names)
    pq.write_table(table.rename_columns([TARGET if n == target else n for n in names]), copy)


@contextmanager
def relabelled(path: Path, target: str | None) -> Iterator[Path]:
    """`path` itself when its label needs no renaming (no `target`, or a UCI spelling of the
    label), else a temporary copy with column `target` named as the UCI label."""
    from bankrisk.data.load import normalise_columns  # pandas: not at `bankrisk --help`

    if target is None or normalise_columns([target]) == [TARGET] or not path.is_file():
        yield path  # a missing file: load_dataset says so
        return
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise DataError(
            f"--target {target}: works with .csv and .parquet files; an Excel file is read in "
            f"the UCI layout, whose label is '{TARGET}' (or Y)"
        )
    with tempfile.TemporaryDirectory(prefix="bankrisk-evaluate-") as folder:
        copy = Path(folder) / path.name
        if suffix == ".csv":
            _csv_copy(path, target, copy)
        else:
            _parquet_copy(path, target, copy)
        yield copy
