"""`bankrisk serve`: load and warm the bundle, then run Uvicorn (one worker per process).

The bundle is loaded, checked and warmed up before the server starts: any failure (missing,
tampered or malformed bundle, a model that does not run) is one JSON CRITICAL log line and
exit code 2, never a traceback and never a half-started server.

The prediction log (BANKRISK_PREDICTION_LOG) is opened without connecting: a store that is
down does not stop the service, but a malformed URL or a missing driver (bad configuration)
is a CRITICAL line and exit code 2 too.

SIGTERM or SIGINT stops the server gracefully wherever it runs: no new connections, requests
in flight are finished, one JSON line says so, then the prediction log's buffer is written
(at most `LOG_FLUSH_S`), exit code 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import uvicorn

from bankrisk.config import Settings
from bankrisk.feature_store.online import stream_on_the_calling_thread
from bankrisk.prediction_log.opening import PredictionLogError, PredictionStore, open_log
from bankrisk.prediction_log.process_writer import ProcessLogWriter
from bankrisk.prediction_log.store import redact
from bankrisk.serving.app import create_app
from bankrisk.serving.gc_tuning import tune_gc
from bankrisk.serving.observability import JsonLogger, JsonLogHandler
from bankrisk.serving.reload import load_scorer, on_signal, problem_of

# Seconds to finish in-flight requests after SIGTERM before they are cancelled (Cloud Run
# allows 10 s between SIGTERM and SIGKILL).
GRACEFUL_SHUTDOWN_S = 10
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Seconds to write the prediction log's buffer once no request is in flight (the requests'
# own 10 s come first: a drained, idle service takes milliseconds here).
LOG_FLUSH_S = 5.0
# Uvicorn's exit code when the server could not start (e.g. the app's startup failed).
STARTUP_FAILURE = 3

ShutdownHook = Callable[[], Awaitable[None]]


class GracefulServer(uvicorn.Server):
    """Uvicorn's server, stopped the same way by SIGTERM or SIGINT wherever it runs.

    Uvicorn re-raises the stop signal once it has shut down, so that a process outside a
    container dies of it (exit 143 for SIGTERM; as PID 1 in a container the signal is
    ignored and it exits 0). Here a stop is a normal end: exit 0. Shutting down logs one JSON
    line, then Uvicorn closes the listeners, finishes the requests in flight (at most
    `GRACEFUL_SHUTDOWN_S`) and runs the app's lifespan shutdown; then each of `on_drained`
    runs: the place for work that needs no request in flight (e.g. flushing a log queue).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        logger: JsonLogger,
        on_drained: Sequence[ShutdownHook] = (),
        on_hangup: Callable[..., None] | None = None,
    ) -> None:
        super().__init__(config)
        self.json_logger = logger
        self.on_drained = tuple(on_drained)
        self.on_hangup = on_hangup  # SIGHUP: reload the models
        self.stop_reason = "exit requested"

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Uvicorn's, less the re-raise of the caught signal at the end.
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        if self.on_hangup is not None:
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.on_hangup)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            self.stop_reason = signal.Signals(sig).name
        super().handle_exit(sig, frame)  # a second SIGINT forces the exit

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.json_logger.emit(
            "INFO",
            f"shutting down on {self.stop_reason}: finishing requests in flight",
            in_flight=len(self.server_state.tasks),
            timeout_s=self.config.timeout_graceful_shutdown,
        )
        await super().shutdown(sockets)
        for hook in self.on_drained:
            await hook()


def _log_closer(
    writer: ProcessLogWriter, store: PredictionStore, logger: JsonLogger
) -> ShutdownHook:
    async def close_log() -> None:
        complete = await asyncio.to_thread(writer.close, LOG_FLUSH_S)
        store.close()
        logger.emit(
            "INFO" if complete else "WARNING",
            f"prediction log closed: {writer.written} rows written, {writer.dropped} dropped",
            prediction_log=str(store),
            written=writer.written,
            dropped=writer.dropped,
        )

    return close_log


def serve(settings: Settings, model_dir: Path, host: str, port: int) -> int:
    """Run until stopped; returns the process exit code."""
    if settings.feature_repo is not None:
        stream_on_the_calling_thread()
    logger = JsonLogger()
    library = logging.getLogger("bankrisk")
    library.addHandler(JsonLogHandler(logger))
    library.propagate = False  # not also as plain text on stderr
    try:
        store = open_log(settings)
    except PredictionLogError as exc:
        logger.emit(
            "CRITICAL",
            f"cannot serve: BANKRISK_PREDICTION_LOG: {exc}",
            prediction_log=redact(settings.prediction_log),
        )
        return 2
    start = time.perf_counter()
    challenger_dir = settings.challenger_dir
    loading = model_dir
    try:
        scorer = load_scorer(model_dir)
        challenger = None
        if challenger_dir is not None:
            loading = challenger_dir
            challenger = load_scorer(challenger_dir, settings.challenger_mode)
    except Exception as exc:  # BundleError names what is wrong; anything else is a bug here
        name = "BANKRISK_CHALLENGER_DIR: " if loading == challenger_dir else ""
        logger.emit("CRITICAL", f"cannot serve: {name}{problem_of(exc)}", model_dir=str(loading))
        if store is not None:
            store.close()
        return 2
    seconds = time.perf_counter() - start
    logger.emit(
        "INFO",
        f"loaded {scorer.bundle.name} v{scorer.bundle.version} "
        f"({scorer.bundle.metadata.get('model_family')}) in {seconds * 1000:.0f} ms",
        model_dir=str(model_dir),
        host=host,
        port=port,
        prediction_log=str(store) if store is not None else "off",
        challenger=None if challenger is None else challenger.model_ref,
    )
    app = create_app(
        settings, scorer, logger, prediction_store=store, challenger=challenger, model_dir=model_dir
    )
    writer = app.state.service.log_writer
    tune_gc(settings)
    config = uvicorn.Config(
        app.state.entry,
        host=host,
        port=port,
        workers=1,
        loop="uvloop",
        http="httptools",
        access_log=False,
        proxy_headers=False,  # nothing reads the client's address (the logs do not have it)
        log_level="warning",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    hooks = [_log_closer(writer, store, logger)] if writer is not None and store else []
    server = GracefulServer(
        config, logger, on_drained=hooks, on_hangup=on_signal(app.state.service.reloader, "SIGHUP")
    )
    server.run()
    if writer is not None and not server.started:  # never served: nothing to flush
        writer.close(0.5)
    return 0 if server.started else STARTUP_FAILURE
