"""Read the UCI credit-card data from .xls, .xlsx, .csv or .parquet into one column layout.

Whatever the file format, the result has the same columns: the ID column (if the file has
one), the 23 fields of `bankrisk.schema.FIELD_NAMES` that are present, in schema order, and the
target (if present). Column names are normalised first (see `normalise_columns`). Missing
schema fields are not an error here: `bankrisk.data.validate.validate_frame` reports them all
at once, together with every other problem.

Every failure to read a file is raised as a `DataError` whose one-line message names the path
and the reason; errors from pandas, xlrd or pyarrow are never passed through raw.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Hashable, Sequence
from pathlib import Path

import pandas as pd

from bankrisk.data.files import check_readable
from bankrisk.errors import DataError
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET

_CHUNK_BYTES = 1 << 20
# Headers of the first row of the official UCI file: "X1" ... "X23" and "Y".
_UCI_CODE = re.compile(r"^(X\d+|Y)$", re.IGNORECASE)
# Spellings of the target: "default payment next month", "default.payment.next.month", ...
_TARGET_WORDS = re.compile(r"[\s._-]+")


def _words(name: str) -> str:
    """`name` in lower case with runs of spaces, dots, underscores and hyphens as one space."""
    return _TARGET_WORDS.sub(" ", name.strip().lower()).strip()


_TARGET_KEY = _words(TARGET)


def _target_alias(name: str) -> bool:
    """True if `name` is a spelling of the target column (not the canonical one itself)."""
    key = _words(name)
    return key == _TARGET_KEY or key == "y"


def normalise_columns(columns: Sequence[Hashable]) -> list[str]:
    """Map raw column names onto schema names.

    Strips whitespace; maps target spellings (`default.payment.next.month`,
    `default_payment_next_month`, `Y`, ...) to `schema.TARGET`; renames `PAY_1` to `PAY_0`
    when there is no `PAY_0`. Nothing is upper-cased. Raises `DataError` if two columns end up
    with the same name.
    """
    names = [str(c).strip() for c in columns]
    has_target = TARGET in names
    has_pay0 = "PAY_0" in names
    out: list[str] = []
    for name in names:
        if not has_target and name != TARGET and _target_alias(name):
            out.append(TARGET)
        elif name == "PAY_1" and not has_pay0:
            out.append("PAY_0")
        else:
            out.append(name)
    wanted = {ID_COLUMN, TARGET, *FIELD_NAMES}
    clashes = sorted({n for n in out if n in wanted and out.count(n) > 1})
    if clashes:
        raise DataError(f"columns map to the same name more than once: {', '.join(clashes)}")
    return out


def looks_like_uci_codes(values: Sequence[object]) -> bool:
    """True if a header row is the UCI code row (`X1 ... X23, Y`, blank cells allowed)."""
    texts = [v.strip() for v in values if isinstance(v, str)]
    texts = [t for t in texts if t and not t.startswith("Unnamed:")]
    return len(texts) >= 2 and all(_UCI_CODE.match(t) for t in texts)


def _frame_from_rows(raw: pd.DataFrame) -> pd.DataFrame:
    """Build a frame from an Excel sheet read without a header, skipping a UCI code row."""
    if raw.empty:
        return raw
    header_row = 1 if looks_like_uci_codes(list(raw.iloc[0])) else 0
    header = list(raw.iloc[header_row])
    body = raw.iloc[header_row + 1 :].reset_index(drop=True)
    body.columns = pd.Index([str(h) if not pd.isna(h) else "" for h in header])
    return body.infer_objects()


def _read_excel(path: Path, engine: str) -> pd.DataFrame:
    with warnings.catch_warnings():
        # pandas deprecates the xlrd engine in favour of calamine; xlrd is what we depend on.
        warnings.simplefilter("ignore")
        raw = pd.read_excel(path, header=None, engine=engine)  # type: ignore[call-overload]
    return _frame_from_rows(raw)


def _read_csv(path: Path) -> pd.DataFrame:
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        first_line = handle.readline()
    skip = 1 if looks_like_uci_codes(first_line.rstrip("\r\n").split(",")) else 0
    return pd.read_csv(path, skiprows=skip, encoding="utf-8-sig")


def _read_any(path: Path, suffix: str) -> pd.DataFrame:
    if suffix == ".xls":
        return _read_excel(path, "xlrd")
    if suffix == ".xlsx":
        return _read_excel(path, "openpyxl")
    if suffix == ".csv":
        return _read_csv(path)
    return pd.read_parquet(path)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _with_target(frame: pd.DataFrame, target: str, path: Path) -> pd.DataFrame:
    """The frame with its column `target` named as the UCI label (and no other label)."""
    names = [str(name).strip() for name in frame.columns]
    if target not in names:
        shown = ", ".join(names[:30])
        raise DataError(f"--target {target}: {path} has no column {target!r} (columns: {shown})")
    keep = [i for i, name in enumerate(names) if name == target or not _target_alias(name)]
    frame = frame.iloc[:, keep]
    frame.columns = pd.Index([TARGET if names[i] == target else names[i] for i in keep])
    return frame


def load_dataset(path: Path | str, target: str | None = None) -> pd.DataFrame:
    """Read a data file into the schema column layout (ID, the 23 fields, target).

    Supports `.xls` (xlrd; the official two-header UCI layout is detected), `.xlsx` (needs
    openpyxl), `.csv` (one header row) and `.parquet`/`.pq`. The label is the column the UCI
    data calls `schema.TARGET` (any of its spellings, or Y), or the column named `target`
    (`default`, `target`: common public copies of the data). Raises `DataError` for a missing,
    empty, unreadable or unsupported file, and for a `target` the file has no column of.
    """
    path = Path(path)
    suffix = check_readable(path)
    try:
        frame = _read_any(path, suffix)
    except DataError:
        raise
    except Exception as exc:  # readers raise many unrelated types (XLRDError, ArrowInvalid, ...)
        raise DataError(
            f"Cannot read {path}: not a valid {suffix} file ({_one_line(exc)})"
        ) from exc
    if frame.shape[0] == 0:
        raise DataError(f"Cannot read {path}: file has no data rows")
    if target is not None and not _target_alias(target):  # a UCI spelling: found anyway
        frame = _with_target(frame, target, path)
    try:
        frame.columns = pd.Index(normalise_columns(list(frame.columns)))
    except DataError as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc
    keep = [c for c in (ID_COLUMN, *FIELD_NAMES, TARGET) if c in frame.columns]
    return frame.loc[:, keep].reset_index(drop=True)


def file_fingerprint(path: Path | str) -> str:
    """The sha256 hex digest of the file's bytes, read in chunks."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise DataError(f"Cannot read {path}: {exc.strerror or _one_line(exc)}") from exc
    return digest.hexdigest()
