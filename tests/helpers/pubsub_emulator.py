"""The Google Cloud Pub/Sub emulator for tests: `gcloud beta emulators pubsub start` on
127.0.0.1 and a free port, in its own process group (gcloud starts a Java server as a child),
stopped with the whole group. Skipped, saying why, when gcloud or its `pubsub-emulator`
component is not installed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from helpers.processes import free_port

STARTED_WITHIN_S = 60.0


def emulator_component() -> Path | None:
    """The emulator component's folder in the Cloud SDK beside the `gcloud` on PATH."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    folder = Path(os.path.realpath(gcloud)).parents[1] / "platform" / "pubsub-emulator"
    return folder if folder.is_dir() else None


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PubSubEmulator:
    """A running emulator: `host` is what PUBSUB_EMULATOR_HOST takes."""

    def __init__(self, project: str) -> None:
        if shutil.which("gcloud") is None:
            pytest.skip("gcloud is not installed (the Pub/Sub emulator is a gcloud component)")
        if emulator_component() is None:
            pytest.skip(
                "the gcloud pubsub-emulator component is not installed "
                "(gcloud components install pubsub-emulator, or Debian's "
                "google-cloud-cli-pubsub-emulator)"
            )
        self.project = project
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="bankrisk-pubsub-"))
        (self._dir / "data").mkdir()  # gcloud writes its env.yaml there
        self._log = (self._dir / "emulator.log").open("w")
        self.process = subprocess.Popen(
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={self.host}",
                f"--project={project}",
                f"--data-dir={self._dir / 'data'}",
                "--quiet",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )
        deadline = time.monotonic() + STARTED_WITHIN_S
        while not _listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.output()[-2000:]
                self.stop()
                pytest.fail(f"the Pub/Sub emulator did not start: {said}")
            time.sleep(0.2)

    def output(self) -> str:
        self._log.flush()
        return (self._dir / "emulator.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the process group (gcloud and its Java server), SIGKILL if it lingers."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        # the Java server may outlive gcloud in the group: end whatever is left of it
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@contextmanager
def pubsub_emulator(project: str) -> Iterator[PubSubEmulator]:
    """The emulator for one project, stopped when the block ends."""
    emulator = PubSubEmulator(project)
    try:
        yield emulator
    finally:
        emulator.stop()
