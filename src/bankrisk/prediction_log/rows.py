"""The service's prediction-log rows: how a request's customers travel to the writer process
and become `Row`s there.

The request path builds one `ScoredRows` per request (O(1)); the writer
(`bankrisk.prediction_log.process_writer`) serialises it with `ScoredRows.parts()`, one orjson
array per slice of customers (numpy matrices natively), and sends the bytes to its child
process. There a frame of such parts is a `DecodedRows`, and the child's
`PredictionLogWriter` expands it into rows and inserts them (`PredictionStore`). Both
directions live here so that the format has one definition; `ScoredRows.expand()` is the same
round trip in one process.

A row is the store's `Row`: a tuple of the `predictions` columns' values in `COLUMNS` order.
The writer process does little per row (decode, one tuple, one `executemany`
row), since on a busy machine its CPU is taken from the API's.

Light on purpose (orjson, SQLAlchemy, the standard library): the writer process imports this
module and nothing of numpy, the model or the web app.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from bankrisk.prediction_log.store import COLUMNS, Row
from bankrisk.schema import FIELD_NAMES

if TYPE_CHECKING:
    from bankrisk.core.scorer import ModelRef, Prediction, Rows

_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_HEAD = ("request_id", "time", "model_name", "model_version", "model_role", "customer_id")
_TAIL = ("pd", "score", "grade", "decision", "reason_codes", "latency_ms")
if (*_HEAD, *FIELD_NAMES, *_TAIL) != COLUMNS:  # DecodedRows builds rows in this order
    raise RuntimeError(f"the predictions table's columns changed: {COLUMNS}")
_INPUTS = len(FIELD_NAMES)


def _plain(value: Any) -> Any:
    """orjson's fallback: numpy scalars and non-contiguous arrays as Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot log a {type(value).__name__}")


class ScoredRows:
    """The customers of one request, as submitted to the log writer: built in O(1) on the
    request path, serialised by the writer (`parts`), expanded into `Row`s in the writer
    process."""

    __slots__ = ("count", "latency_ms", "model", "request_id", "slices", "when")

    def __init__(
        self,
        request_id: str,
        model: ModelRef,
        slices: list[tuple[Rows, list[Prediction]]],
        latency_ms: float | None,
        when: float | None = None,
    ) -> None:
        self.request_id = request_id
        self.when = time.time() if when is None else when
        self.model = model
        self.slices = slices
        self.latency_ms = latency_ms
        # One slice (a single customer) is the hot path: no generator for it.
        self.count = len(slices[0][1]) if len(slices) == 1 else sum(len(p) for _, p in slices)

    def __len__(self) -> int:
        return self.count

    def parts(self) -> list[tuple[int, bytes]]:
        """(customers, bytes) per slice: the JSON array `DecodedRows` reads back."""
        model = self.model
        return [
            (
                len(answers),
                orjson.dumps(
                    (
                        self.request_id,
                        self.when,
                        model["name"],
                        model["version"],
                        model["role"],
                        self.latency_ms,
                        rows,
                        answers,
                    ),
                    option=_NUMPY,
                    default=_plain,
                ),
            )
            for rows, answers in self.slices
            if answers
        ]

    def head(self, count: int) -> ScoredRows:
        """The first `count` customers (what fits in a full buffer)."""
        slices: list[tuple[Rows, list[Prediction]]] = []
        for rows, answers in self.slices:
            take = min(count, len(answers))
            if take <= 0:
                break
            slices.append((rows[:take], answers[:take]))
            count -= take
        return ScoredRows(self.request_id, self.model, slices, self.latency_ms, self.when)

    def expand(self) -> list[Row]:
        """The rows, through the same bytes the writer process reads."""
        payload = b"[" + b",".join(part for _, part in self.parts()) + b"]"
        return DecodedRows(payload, self.count).expand()


class DecodedRows:
    """A frame of serialised `ScoredRows` parts (`count` customers), expanded on the writer
    process's thread: what the child makes of a data frame. The first `skip` rows are left
    out (a frame sent again after a writer process died: those were written)."""

    __slots__ = ("count", "payload", "skip")

    def __init__(self, payload: bytes, count: int, skip: int = 0) -> None:
        self.payload = payload
        self.count = count
        self.skip = skip

    def __len__(self) -> int:
        return self.count - self.skip

    def expand(self) -> list[Row]:
        out: list[Row] = []
        dumps = orjson.dumps
        for request_id, when, name, version, role, latency, rows, answers in orjson.loads(
            self.payload
        ):
            head = (request_id, datetime.fromtimestamp(when, UTC), name, version, role)
            for raw, p in zip(rows, answers, strict=True):
                if len(raw) != _INPUTS:
                    raise ValueError(f"a row of {len(raw)} inputs, not {_INPUTS}")
                out.append(
                    (
                        *head,
                        p["customer_id"],
                        *raw,
                        p["probability_of_default"],
                        p["score"],
                        p["risk_grade"],
                        p["decision"],
                        dumps(p["reason_codes"]).decode(),
                        latency,
                    )
                )
        if len(out) != self.count:
            raise ValueError(f"frame holds {len(out)} rows, its header says {self.count}")
        return out[self.skip :] if self.skip else out
