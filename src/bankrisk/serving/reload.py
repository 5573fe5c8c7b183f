"""A new champion (and challenger) without a restart and without a failed request.

Triggers: SIGHUP (`bankrisk serve`), `POST /v1/admin/reload` (routes/admin.py), and polling
BANKRISK_MODEL_SOURCE every BANKRISK_MODEL_SOURCE_POLL_SECONDS when it is set (model_source.py).
The champion comes from the source when one is set, else from the served model directory
again (replaced in place, e.g. by `install_bundle`); the challenger from BANKRISK_CHALLENGER_DIR.

In a worker thread the bundles are loaded, verified against their manifests and warmed up,
and the new `ServedModels` is built; then, on the event loop, it replaces the old one in one
reference assignment. Requests in flight hold the old set and finish on it. Any failure
leaves the old models serving: one JSON ERROR line names the problem and
`bankrisk_model_reloads_total{result="failure"}` counts it. Reloads never overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.core.scorer import ModelRef, Scorer
from bankrisk.errors import BundleError
from bankrisk.schema import FIELD_NAMES
from bankrisk.serving.deps import Service
from bankrisk.serving.model_source import ModelSource, manifest_digest, open_source
from bankrisk.serving.observability import JsonLogger
from bankrisk.serving.schemas import EXAMPLE_CUSTOMER
from bankrisk.serving.served import ServedModels, build_models


def load_scorer(model_dir: Path, role: str = "champion") -> Scorer:
    """The bundle loaded, verified and warmed up; BundleError if any step fails."""
    bundle = ModelBundle.load(model_dir)
    try:
        scorer = Scorer(bundle, role)
        scorer.warm_up(np.array([[float(EXAMPLE_CUSTOMER[n]) for n in FIELD_NAMES]]))
    except Exception as exc:  # the bundle loaded but cannot score: still the bundle's fault
        raise BundleError(
            f"model bundle {model_dir} loaded but failed its warm-up: {type(exc).__name__}: {exc}"
        ) from exc
    return scorer


def problem_of(exc: BaseException) -> str:
    """BundleError names what is wrong; anything else is shown with its type."""
    return str(exc) if isinstance(exc, BundleError) else f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    champion: ModelRef | None
    challenger: ModelRef | None
    problem: str = ""


class Reloader:
    """Reloads `service.models`; one per app (`Service.reloader`)."""

    def __init__(
        self,
        service: Service,
        logger: JsonLogger,
        model_dir: Path,
        challenger_dir: Path | None = None,
    ) -> None:
        self.service = service
        self.logger = logger
        self.model_dir = model_dir
        self.challenger_dir = challenger_dir
        self.source: ModelSource | None = open_source(service.settings.model_source)
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # The source's marker of the champion served, and of a bundle refused (not retried
        # by polling until the source changes again).
        self.served_marker = ""
        self.refused_marker = ""

    # ---- life cycle (the app's lifespan) -------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        if self.source is not None:
            self.served_marker = await asyncio.to_thread(self._initial_marker)
            self._spawn(self._poll())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _initial_marker(self) -> str:
        """The marker of the champion loaded at start, as the source would give it."""
        if self.source is None:
            return ""
        try:
            from_source = self.source.marker()
        except Exception:  # unreachable now: the first poll tries again
            return ""
        models = self.service.models
        if models is None:
            return ""
        # Same bundle at the source as served: a directory by its manifest, the registry by
        # the version the champion's metadata records.
        same = from_source in (manifest_digest(self.model_dir), models.champion.bundle.version)
        return from_source if same else ""

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def request(self, trigger: str) -> None:
        """Start a reload from any thread (a signal handler); ignored before start()."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._spawn, self.reload(trigger))

    # ---- reloading ---------------------------------------------------------------------------

    async def _poll(self) -> None:
        assert self.source is not None
        while True:
            await asyncio.sleep(self.service.settings.model_source_poll_seconds)
            try:
                marker = await asyncio.to_thread(self.source.marker)
            except Exception as exc:
                self.logger.emit(
                    "WARNING",
                    f"model source unreachable: {problem_of(exc)}",
                    source=str(self.source),
                )
                continue
            if marker and marker not in (self.served_marker, self.refused_marker):
                await self.reload("poll", expected=marker)

    async def reload(self, trigger: str, expected: str = "") -> ReloadResult:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await self._reload(trigger, expected)

    async def _reload(self, trigger: str, expected: str) -> ReloadResult:
        old = self.service.models
        start = time.perf_counter()
        try:
            new, marker = await asyncio.to_thread(self._build)
        except Exception as exc:
            return self._refused(trigger, old, problem_of(exc), expected)
        self.service.models = new  # the swap: one reference assignment
        self.served_marker = marker
        metrics = self.service.metrics
        metrics.show_models(new.champion.model_ref, new.challenger_ref)
        metrics.reloads.labels("success").inc()
        before = "none" if old is None else old.champion.model_ref["version"]
        self.logger.emit(
            "INFO",
            f"models reloaded on {trigger}: champion v{before} -> "
            f"v{new.champion.model_ref['version']}"
            + (
                ""
                if new.challenger is None
                else f", challenger v{new.challenger.model_ref['version']}"
            ),
            trigger=trigger,
            champion=new.champion.model_ref,
            challenger=new.challenger_ref,
            seconds=round(time.perf_counter() - start, 3),
        )
        return ReloadResult(True, new.champion.model_ref, new.challenger_ref)

    def _refused(
        self, trigger: str, old: ServedModels | None, problem: str, expected: str
    ) -> ReloadResult:
        self.refused_marker = expected or self.refused_marker
        self.service.metrics.reloads.labels("failure").inc()
        serving = "no model" if old is None else f"v{old.champion.model_ref['version']}"
        self.logger.emit(
            "ERROR",
            f"model reload refused on {trigger}: {problem}; still serving {serving}",
            trigger=trigger,
            source=str(self.source or self.model_dir),
        )
        champion = None if old is None else old.champion.model_ref
        return ReloadResult(False, champion, None if old is None else old.challenger_ref, problem)

    def _build(self) -> tuple[ServedModels, str]:
        """Load, verify and warm the bundles; build the new set (worker thread)."""
        settings = self.service.settings
        marker = ""
        if self.source is None:
            champion = load_scorer(self.model_dir)
        else:
            marker = self.source.marker()
            path = self.source.fetch()
            try:
                champion = load_scorer(path)
            finally:
                self.source.release(path)
        challenger = None
        if self.challenger_dir is not None:
            challenger = load_scorer(self.challenger_dir, settings.challenger_mode)
        service = self.service
        models = build_models(champion, challenger, settings, service.metrics, service.log_writer)
        return models, marker


def on_signal(reloader: Reloader, trigger: str) -> Callable[..., None]:
    """A signal handler that starts a reload."""

    def handle(*_: object) -> None:
        reloader.request(trigger)

    return handle
