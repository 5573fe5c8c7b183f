"""The Portfolio page's figures: a portfolio's scores, wherever they come from (a file scored
by `bankrisk score`'s own code, or a run recorded in the prediction log), summarised, and two
of them compared by customer id.

A portfolio's scores are held as columns in the prediction log's layout (`LOG_COLUMNS`): an
uploaded file is scored by `portfolio.local.score_file` and its rows taken as the recorder of
a run takes them (`portfolio.record.log_rows`), a recorded run is read from the log; both
then are the same `PortfolioScores`, saved as Parquet in the console's cache folder under an
opaque token (the download's only name).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from bankrisk.schema import FIELD_NAMES

CUSTOMER = "customer_id"
OUTPUTS = ("pd", "score", "grade", "decision", "reason_codes")
# The log's columns a portfolio's scores are kept in.
LOG_COLUMNS = (CUSTOMER, *FIELD_NAMES, *OUTPUTS)
TOP = 20  # the riskiest customers and the largest PD rises shown
TOKEN_BYTES = 18
KEEP_SECONDS = 8 * 3600  # a working day, as a console session


@dataclass(frozen=True)
class Reason:
    """One stated reason: its code and what the page says (its text, else its fields)."""

    code: str
    says: str


@dataclass(frozen=True)
class Customer:
    """One scored customer: what the page shows and the inputs a notice needs."""

    customer_id: str | None
    pd: float
    score: int
    grade: str
    decision: str
    reasons: tuple[Reason, ...]
    inputs: Mapping[str, float | None]

    @property
    def field_texts(self) -> dict[str, str]:
        """The inputs as a form sends them: whole numbers without a decimal point, a missing
        value empty."""
        return {name: _as_text(value) for name, value in self.inputs.items()}


def _as_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class Count:
    """How many customers carry a label (a grade, a decision), and their share."""

    label: str
    count: int
    share: float


@dataclass(frozen=True)
class PortfolioSummary:
    """A portfolio at a glance: rows, grade and decision counts, expected defaults (the sum
    of the PDs), mean PD and the riskiest customers (highest PD first)."""

    rows: int
    grades: tuple[Count, ...]
    decisions: tuple[Count, ...]
    expected_defaults: float
    mean_pd: float
    riskiest: tuple[Customer, ...]


@dataclass(frozen=True)
class Migration:
    """The grade migration matrix of two portfolios matched by customer id: `counts[i][j]`
    customers were in grade `grades[i]` last run and are in `grades[j]` this run. Customers
    in one run only, and rows without an id, are counted apart."""

    grades: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    matched: int
    only_last: int
    only_this: int
    without_id: int

    @property
    def downgraded(self) -> int:
        """Customers now in a worse grade (grades run from best to worst)."""
        n = len(self.grades)
        return sum(self.counts[i][j] for i in range(n) for j in range(i + 1, n))

    @property
    def upgraded(self) -> int:
        n = len(self.grades)
        return sum(self.counts[i][j] for i in range(n) for j in range(i))


@dataclass(frozen=True)
class PdRise:
    """A customer whose PD rose between two runs."""

    customer_id: str
    pd_last: float
    pd_this: float
    grade_last: str
    grade_this: str

    @property
    def rise(self) -> float:
        return self.pd_this - self.pd_last


@dataclass(frozen=True)
class PortfolioScores:
    """A portfolio's scored rows as columns (`LOG_COLUMNS`): ids (None: the file had none),
    inputs (n, 23) in FIELD_NAMES order with NaN where missing, PD, points, grade, decision and
    the reasons as the log's JSON text."""

    customer_ids: tuple[str | None, ...]
    inputs: np.ndarray
    pd: np.ndarray
    score: np.ndarray
    grade: tuple[str, ...]
    decision: tuple[str, ...]
    reason_codes: tuple[str, ...]

    @property
    def rows(self) -> int:
        return len(self.customer_ids)

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> PortfolioScores:
        """From columns named as the log's (`LOG_COLUMNS`: arrays or lists)."""
        n = len(columns["pd"])
        inputs = (
            np.column_stack([np.asarray(columns[f], dtype=np.float64) for f in FIELD_NAMES])
            if n
            else np.empty((0, len(FIELD_NAMES)))
        )
        return cls(
            customer_ids=tuple(_text_or_none(v) for v in columns[CUSTOMER]),
            inputs=inputs,
            pd=np.asarray(columns["pd"], dtype=np.float64),
            score=np.asarray(columns["score"], dtype=np.float64).round().astype(np.int64),
            grade=tuple(str(v) for v in columns["grade"]),
            decision=tuple(str(v) for v in columns["decision"]),
            reason_codes=tuple(str(v or "[]") for v in columns["reason_codes"]),
        )

    @classmethod
    def from_chunks(cls, chunks: Sequence[Mapping[str, Any]]) -> PortfolioScores:
        """From chunks of log columns (`read_columns`), in order."""
        if not chunks:
            return cls.from_columns({name: [] for name in LOG_COLUMNS})
        joined = {
            name: np.concatenate([np.asarray(c[name]) for c in chunks]) for name in LOG_COLUMNS
        }
        return cls.from_columns(joined)

    def customer(self, i: int) -> Customer:
        inputs = {
            f: (None if np.isnan(v) else float(v))
            for f, v in zip(FIELD_NAMES, self.inputs[i].tolist(), strict=True)
        }
        return Customer(
            customer_id=self.customer_ids[i],
            pd=float(self.pd[i]),
            score=int(self.score[i]),
            grade=self.grade[i],
            decision=self.decision[i],
            reasons=parse_reasons(self.reason_codes[i]),
            inputs=inputs,
        )

    def to_table(self) -> pa.Table:
        data: dict[str, Any] = {CUSTOMER: pa.array(self.customer_ids, pa.string())}
        for j, name in enumerate(FIELD_NAMES):
            data[name] = pa.array(self.inputs[:, j], pa.float64(), from_pandas=True)
        data["pd"] = pa.array(self.pd, pa.float64())
        data["score"] = pa.array(self.score, pa.int64())
        data["grade"] = pa.array(self.grade, pa.string())
        data["decision"] = pa.array(self.decision, pa.string())
        data["reason_codes"] = pa.array(self.reason_codes, pa.string())
        return pa.table(data)

    @classmethod
    def from_table(cls, table: pa.Table) -> PortfolioScores:
        return cls.from_columns(
            {
                name: (
                    table.column(name).to_numpy(zero_copy_only=False)
                    if name in FIELD_NAMES or name in ("pd", "score")
                    else table.column(name).to_pylist()
                )
                for name in LOG_COLUMNS
            }
        )


def _text_or_none(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def parse_reasons(text: str) -> tuple[Reason, ...]:
    """The reasons of the log's JSON (`[{"code", "feature", "text"?...}]`); a malformed
    entry is skipped, never an error on the page."""
    try:
        items = json.loads(text or "[]")
    except json.JSONDecodeError:
        return ()
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("code"):
            says = item.get("text") or item.get("feature") or ""
            found.append(Reason(str(item["code"]), str(says)))
    return tuple(found)


def _counts(labels: Sequence[str], order: Sequence[str]) -> tuple[Count, ...]:
    """Counts in `order`, then any other label found (sorted); shares of all rows."""
    values, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist(), strict=True))
    total = max(1, len(labels))
    names = [*order, *sorted(set(found) - set(order))]
    return tuple(Count(name, int(found.get(name, 0)), found.get(name, 0) / total) for name in names)


def summarise(
    scores: PortfolioScores,
    grades: Sequence[str],
    decisions: Sequence[str],
    top: int = TOP,
) -> PortfolioSummary:
    """The summary of a portfolio: counts in the policy's grade and decision order."""
    order = np.argsort(-scores.pd, kind="stable")[:top]
    n = scores.rows
    return PortfolioSummary(
        rows=n,
        grades=_counts(scores.grade, grades),
        decisions=_counts(scores.decision, decisions),
        expected_defaults=float(scores.pd.sum()),
        mean_pd=float(scores.pd.mean()) if n else 0.0,
        riskiest=tuple(scores.customer(int(i)) for i in order),
    )


def _by_customer(scores: PortfolioScores) -> dict[str, int]:
    """Row of each customer id (the last row of an id given twice)."""
    return {cid: i for i, cid in enumerate(scores.customer_ids) if cid is not None}


def migration(last: PortfolioScores, this: PortfolioScores, grades: Sequence[str]) -> Migration:
    """The grade migration matrix from `last` to `this`, customers matched by id."""
    before, after = _by_customer(last), _by_customer(this)
    common = [cid for cid in after if cid in before]
    seen = {last.grade[before[c]] for c in common} | {this.grade[after[c]] for c in common}
    extra = sorted(seen - set(grades))
    order = (*grades, *extra)
    index = {g: k for k, g in enumerate(order)}
    counts = np.zeros((len(order), len(order)), dtype=np.int64)
    for cid in common:
        counts[index[last.grade[before[cid]]], index[this.grade[after[cid]]]] += 1
    without = sum(c is None for c in last.customer_ids) + sum(c is None for c in this.customer_ids)
    return Migration(
        grades=order,
        counts=tuple(tuple(int(v) for v in row) for row in counts),
        matched=len(common),
        only_last=len(before) - len(common),
        only_this=len(after) - len(common),
        without_id=without,
    )


def biggest_rises(last: PortfolioScores, this: PortfolioScores, top: int = TOP) -> list[PdRise]:
    """The customers (matched by id) whose PD rose most, largest rise first."""
    before, after = _by_customer(last), _by_customer(this)
    common = [cid for cid in after if cid in before]
    if not common:
        return []
    rise = np.array([this.pd[after[c]] - last.pd[before[c]] for c in common])
    order = np.argsort(-rise, kind="stable")[:top]
    return [
        PdRise(
            customer_id=common[k],
            pd_last=float(last.pd[before[common[k]]]),
            pd_this=float(this.pd[after[common[k]]]),
            grade_last=last.grade[before[common[k]]],
            grade_this=this.grade[after[common[k]]],
        )
        for k in order.tolist()
        if rise[k] > 0
    ]


# --- kept scores: the cache folder, by opaque token --------------------------------------


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def run_token(log_url: str, run_id: str) -> str:
    """The name a recorded run's scores are kept under: the log's URL and the run's id,
    hashed (the same run of the same log, the same name)."""
    return "run-" + hashlib.sha256(f"{log_url}\n{run_id}".encode()).hexdigest()[:40]


def valid_token(token: str) -> bool:
    """A token as `new_token` makes them (so a path built from it stays in the folder)."""
    return 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def scores_path(folder: Path, token: str) -> Path:
    if not valid_token(token):
        raise ValueError("not a scores token")
    return folder / f"{token}.parquet"


def save_scores(folder: Path, token: str, scores: PortfolioScores) -> Path:
    """Kept under `token` (written aside, then renamed: a reader never sees half a file);
    scores kept longer than `KEEP_SECONDS` are deleted (customer data is not kept at rest
    beyond a working day)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = scores_path(folder, token)
    partial = path.with_suffix(".partial")
    pq.write_table(scores.to_table(), partial)
    partial.replace(path)
    prune(folder, time.time() - KEEP_SECONDS)
    return path


def prune(folder: Path, before: float) -> int:
    """Delete the scores written before `before` (seconds since the epoch); how many."""
    gone = 0
    for old in folder.glob("*.parquet"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < before:
                old.unlink()
                gone += 1
    return gone


def _kept(folder: Path, token: str) -> Path | None:
    """The file of the scores kept under `token` (None: a malformed or unknown token)."""
    try:
        path = scores_path(folder, token)
    except ValueError:
        return None
    return path if path.is_file() else None


def load_scores(folder: Path, token: str) -> PortfolioScores | None:
    """The scores kept under `token` (None: unknown token)."""
    path = _kept(folder, token)
    return None if path is None else PortfolioScores.from_table(pq.read_table(path))


def scores_csv(folder: Path, token: str) -> bytes | None:
    """The kept scores as CSV, as a download: id, PD, points, grade, decision, reasons."""
    path = _kept(folder, token)
    if path is None:
        return None
    columns = [CUSTOMER, "pd", "score", "grade", "decision", "reason_codes"]
    table = pq.read_table(path, columns=columns).rename_columns(
        [CUSTOMER, "probability_of_default", "score", "risk_grade", "decision", "reason_codes"]
    )
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink)
    return bytes(sink.getvalue().to_pybytes())
