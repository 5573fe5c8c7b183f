"""One JSON log line per request (Cloud Logging fields) and Prometheus metrics.

Implemented as a plain ASGI middleware: Starlette's BaseHTTPMiddleware costs more per
request than scoring a customer does. Handlers add fields to the line through
`request.state.log` (never raw customer features: only ids, PDs and counts).
"""

from __future__ import annotations

import logging
import operator
import os
import random
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bankrisk.serving.errors import INTERNAL_ERROR, error_body

if TYPE_CHECKING:
    from bankrisk.core.after import Scored
    from bankrisk.core.scorer import ModelRef, Prediction

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_PD_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
_MAX_REQUEST_ID = 64
_BULK_OBSERVE = 16  # from this many values numpy's fixed cost is the smaller one
_DECISION_GRADE = operator.itemgetter("decision", "risk_grade")
_PROBABILITY = operator.itemgetter("probability_of_default")
_INTERNAL_ERROR_START: Message = {
    "type": "http.response.start",
    "status": 500,
    "headers": [(b"content-type", b"application/json")],
}


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bankrisk_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "bankrisk_http_request_duration_seconds",
            "Request latency in seconds",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "bankrisk_predictions",
            "Customers scored, by model version, role (champion, canary, shadow), decision "
            "and risk grade",
            ["model_version", "role", "decision", "grade"],
            registry=self.registry,
        )
        self.probability = Histogram(
            "bankrisk_probability_of_default",
            "Probabilities of default answered (not the shadow's)",
            buckets=_PD_BUCKETS,
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "bankrisk_prediction_log_dropped",
            "Scored customers not written to the prediction log (buffer full, store down)",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "bankrisk_model_info",
            "The models being served (value 1), role champion or challenger",
            ["name", "version", "role"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "bankrisk_model_reloads",
            "Model reloads by result (success, failure: the old models kept serving)",
            ["result"],
            registry=self.registry,
        )
        for result in ("success", "failure"):
            self.reloads.labels(result)  # both series exist from the start, at 0
        self.shadow_dropped = Counter(
            "bankrisk_shadow_dropped",
            "Customers the shadow challenger did not score (it fell behind)",
            registry=self.registry,
        )

        self._http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._prediction_children: dict[tuple[str, str, str, str], Any] = {}
        self._probability_lock = threading.Lock()
        self._probability_bounds = np.array(self.probability._upper_bounds)  # ends with +Inf
        self._models_shown: set[tuple[str, str, str]] = set()

    def record_request(self, route: str, method: str, status: int, seconds: float) -> None:
        # Label lookups cost more than the increments: keep the children of each series.
        key = (route, method, status)
        children = self._http_children.get(key)
        if children is None:
            children = (self.requests.labels(*key), self.latency.labels(*key))
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_scored(self, scored: Scored) -> None:
        """The step after a model call: count its customers."""
        self.record_predictions(scored.predictions, scored.model)

    def record_predictions(self, predictions: Sequence[Prediction], model: ModelRef) -> None:
        """Count customers scored by `model`; the PD histogram only has answered ones.

        A few customers (single requests) one by one; a batch slice in bulk (`_count_slice`),
        with exactly the same exported values.
        """
        version, role = model["version"], model["role"]
        answered = role != "shadow"
        if len(predictions) >= _BULK_OBSERVE:
            counts = self._count_slice(predictions, answered)
        else:
            counts = {}
            observe = self.probability.observe
            with self._probability_lock:
                for p in predictions:
                    pair = (p["decision"], p["risk_grade"])
                    counts[pair] = counts.get(pair, 0) + 1
                    if answered:
                        observe(p["probability_of_default"])
        for (decision, grade), count in counts.items():
            key = (version, role, decision, grade)
            child = self._prediction_children.get(key)
            if child is None:
                child = self._prediction_children[key] = self.predictions.labels(*key)
            child.inc(count)

    def _count_slice(
        self, predictions: Sequence[Prediction], answered: bool
    ) -> Mapping[tuple[str, str], int]:
        """Customers by (decision, grade), in order of first occurrence (the series' order),
        counted in C; and, if `answered`, `self.probability.observe` of each PD in bulk
        (rather than one `observe` a customer): the buckets counted with numpy and each increased
        once, and the sum added up in the same order, so that every exported value is exactly
        what observing them one by one gives. Every update of the histogram holds the lock."""
        counts = Tally(map(_DECISION_GRADE, predictions))
        if not answered:
            return counts
        values: list[float] = list(map(_PROBABILITY, predictions))
        # observe() counts a value in the first bucket whose bound it is <= to: the left
        # insertion point. NaN (counted in no bucket) lands past the last one.
        bounds = self._probability_bounds
        buckets = np.bincount(np.searchsorted(bounds, values), minlength=len(bounds) + 1)
        histogram = self.probability
        with self._probability_lock:
            for bucket, count in zip(histogram._buckets, buckets.tolist(), strict=False):
                if count:
                    bucket.inc(count)
            histogram._sum.set(reduce(operator.add, values, histogram._sum.get()))
        return counts

    def show_models(self, champion: ModelRef, challenger: ModelRef | None) -> None:
        """`bankrisk_model_info` of exactly these models (a reload's old series go). New
        series are added champion first, then challenger: the same order in every process (a
        set's order of strings changes with each process's hash seed)."""
        shown = [(champion["name"], champion["version"], "champion")]
        if challenger is not None:
            shown.append((challenger["name"], challenger["version"], "challenger"))
        for labels in self._models_shown.difference(shown):
            self.model_info.remove(*labels)
        for labels in shown:
            self.model_info.labels(*labels).set(1)
        self._models_shown = set(shown)


class JsonLogger:
    """Writes Cloud Logging structured lines: `severity`, `message`, then fields."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.project = os.environ.get("GOOGLE_CLOUD_PROJECT", "")

    def trace_field(self, header: str) -> dict[str, str]:
        """`X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` as Cloud Logging's trace field."""
        trace_id = header.split("/", 1)[0].strip()
        if not trace_id.isalnum() or len(trace_id) > 64:
            return {}
        value = f"projects/{self.project}/traces/{trace_id}" if self.project else trace_id
        return {"logging.googleapis.com/trace": value}

    def emit(self, severity: str, message: str, **fields: Any) -> None:
        line = orjson.dumps({"severity": severity, "message": message, **fields}, default=str)
        self.stream.write(line.decode() + "\n")
        self.stream.flush()


class JsonLogHandler(logging.Handler):
    """Passes the service's own library warnings and errors (`bankrisk.*` loggers: the
    prediction log's writer, the reloader) to the JSON log, so that an operator reads them
    where the rest is, with their severity."""

    def __init__(self, logger: JsonLogger) -> None:
        super().__init__(logging.WARNING)
        self.logger = logger

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.logger.emit(record.levelname, record.getMessage(), logger=record.name)
        except Exception:
            self.handleError(record)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


# Request ids must be unique, not secret: a PRNG seeded from the OS, no system call a request.
_NEW_IDS = random.Random()


def _request_id(scope: Scope) -> str:
    given = _header(scope, b"x-request-id")
    if given and len(given) <= _MAX_REQUEST_ID and given.replace("-", "").isalnum():
        return given
    return f"{_NEW_IDS.getrandbits(128):032x}"  # 32 hex digits, as uuid4().hex


class ObservabilityMiddleware:
    """Times each HTTP request, counts it, and writes its one log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, logger: JsonLogger) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["start"] = start
        state["log"] = {}
        status, started = 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # The last line of defence: the operator gets the error in the request's one log
            # line, the client a JSON 500 with the request id and no internals.
            state["log"]["error"] = f"{type(exc).__name__}: {exc}"
            status = 500
            if not started:
                await send_with_id(dict(_INTERNAL_ERROR_START))
                await send(
                    {
                        "type": "http.response.body",
                        "body": error_body(INTERNAL_ERROR, request_id=request_id),
                    }
                )
        finally:
            self._finish(scope, state, request_id, status, time.perf_counter() - start)

    def _finish(
        self, scope: Scope, state: dict[str, Any], request_id: str, status: int, seconds: float
    ) -> None:
        # The route template (bounded label values); fixed routes without one (FastAPI's
        # /docs) by their path; requests that matched nothing as "unmatched".
        route = getattr(scope.get("route"), "path", None) or (
            scope["path"] if "endpoint" in scope else "unmatched"
        )
        method = scope["method"]
        self.metrics.record_request(route, method, status, seconds)
        fields: dict[str, Any] = state.get("log", {})
        # Handlers may name the event and a short detail: "scored in 0.41 ms prob=0.2312".
        event = fields.pop("event", f"{method} {route} {status}")
        detail = fields.pop("detail", "")
        message = f"{event} in {seconds * 1000:.2f} ms {detail}".rstrip()
        trace = _header(scope, b"x-cloud-trace-context")
        self.logger.emit(
            "ERROR" if status >= 500 else ("WARNING" if status >= 400 else "INFO"),
            message,
            request_id=request_id,
            route=route,
            method=method,
            status=status,
            latency_ms=round(seconds * 1000, 3),
            httpRequest={
                "requestMethod": method,
                "requestUrl": scope["path"],
                "status": status,
                "latency": f"{seconds:.6f}s",
            },
            **(self.logger.trace_field(trace) if trace else {}),
            **fields,
        )
