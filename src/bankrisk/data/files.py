"""What can be said of a data file before reading it (no pandas here): commands check their
input file with it before they import the libraries that read it, so a mistyped path fails
at once, not after TensorFlow has loaded."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bankrisk.errors import DataError

SUPPORTED_SUFFIXES: tuple[str, ...] = (".xls", ".xlsx", ".csv", ".parquet", ".pq")


def check_readable(path: Path) -> str:
    """The file's suffix (lower case), or DataError naming the file and why it cannot be
    read: missing, not a regular file, an unsupported type, .xlsx without openpyxl, empty."""
    suffix = path.suffix.lower()
    if not path.exists():
        raise DataError(f"Cannot read {path}: file not found")
    if not path.is_file():
        raise DataError(f"Cannot read {path}: not a regular file")
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"Cannot read {path}: unsupported file type {suffix or '(no extension)'!r} "
            f"(expected one of {', '.join(SUPPORTED_SUFFIXES)})"
        )
    if suffix == ".xlsx" and importlib.util.find_spec("openpyxl") is None:
        raise DataError(
            f"Cannot read {path}: .xlsx files need the openpyxl package, which is not installed "
            "(install it, or save the sheet as .xls or .csv)"
        )
    if path.stat().st_size == 0:
        raise DataError(f"Cannot read {path}: file is empty")
    return suffix
