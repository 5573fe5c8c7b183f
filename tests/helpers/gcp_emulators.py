"""Servers the tests start as real processes on 127.0.0.1 and a free port: the Google Cloud
emulators (`gcloud beta emulators <name> start`: Pub/Sub, Bigtable, Datastore) and Redis
(Debian's redis-server, the stand-in for Memorystore). Each runs in its own process group
(gcloud starts a Java or Go server as a child), can be paused (SIGSTOP: a server that hangs)
and resumed, and is stopped with its whole group. Skipped, saying why, when gcloud, the
emulator component or redis-server is not installed."""

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
from helpers.system_deps import install_system_deps

STARTED_WITHIN_S = 60.0

# gcloud's emulator name -> its component folder in the Cloud SDK, and the Debian package.
COMPONENTS = {
    "pubsub": ("pubsub-emulator", "google-cloud-cli-pubsub-emulator"),
    "bigtable": ("bigtable-emulator", "google-cloud-cli-bigtable-emulator"),
    "datastore": ("cloud-datastore-emulator", "google-cloud-cli-datastore-emulator"),
}


def emulator_component(name: str = "pubsub") -> Path | None:
    """The emulator component's folder in the Cloud SDK beside the `gcloud` on PATH."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    folder = Path(os.path.realpath(gcloud)).parents[1] / "platform" / COMPONENTS[name][0]
    return folder if folder.is_dir() else None


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class BackgroundServer:
    """`command` (a list, where {port} and {dir} are replaced) running in a new process group
    until `stop`; `host` is HOST:PORT, `output()` what it printed."""

    def __init__(self, what: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.what = what
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="bankrisk-server-"))
        (self._dir / "data").mkdir()
        self._log = (self._dir / "server.log").open("w")
        args = [a.format(port=self.port, dir=self._dir / "data") for a in command]
        self.process = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + STARTED_WITHIN_S
        while not listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.output()[-2000:]
                self.stop()
                pytest.fail(f"the {what} did not start: {said}")
            time.sleep(0.2)

    def output(self) -> str:
        self._log.flush()
        return (self._dir / "server.log").read_text(errors="replace")

    def pause(self) -> None:
        """SIGSTOP to the group: connections are still accepted, nothing is answered."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL if it lingers; idempotent."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGCONT)  # a paused group cannot exit
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        # the emulator's server may outlive gcloud in the group: end whatever is left of it
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()
        shutil.rmtree(self._dir, ignore_errors=True)


class GcloudEmulator(BackgroundServer):
    """`gcloud beta emulators <name> start` for `project`; `host` is what the client's
    <NAME>_EMULATOR_HOST takes."""

    def __init__(self, name: str, project: str, *options: str) -> None:
        if shutil.which("gcloud") is None:
            pytest.skip(f"gcloud is not installed (the {name} emulator is a gcloud component)")
        if emulator_component(name) is None:
            component, package = COMPONENTS[name]
            pytest.skip(
                f"the gcloud {component} component is not installed "
                f"(gcloud components install {component}, or Debian's {package})"
            )
        self.project = project
        command = ["gcloud", "beta", "emulators", name, "start", "--host-port=127.0.0.1:{port}"]
        super().__init__(
            f"{name} emulator",
            [*command, *options, "--quiet"],
            {"CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )


def bigtable_emulator(project: str) -> GcloudEmulator:
    """Bigtable (BIGTABLE_EMULATOR_HOST): any project and instance name is accepted."""
    return GcloudEmulator("bigtable", project)


def datastore_emulator(project: str) -> GcloudEmulator:
    """Datastore (DATASTORE_EMULATOR_HOST), in memory; clients must use `project`."""
    return GcloudEmulator("datastore", project, f"--project={project}", "--no-store-on-disk")


def pubsub_emulator_server(project: str) -> GcloudEmulator:
    """Pub/Sub (PUBSUB_EMULATOR_HOST); gcloud writes its env.yaml in the data folder."""
    return GcloudEmulator("pubsub", project, f"--project={project}", "--data-dir={dir}")


def redis_server_binary() -> str:
    """Debian's redis-server; installed when missing and root (`make system-deps`), else the
    test is skipped."""
    found = shutil.which("redis-server")
    if found is None:
        install_system_deps()
        found = shutil.which("redis-server")
    if found is None:
        pytest.skip(
            "redis-server is not installed (`make -f deploy/delivery.mk system-deps` installs "
            "Debian's redis-server)"
        )
    return found


def redis_server() -> BackgroundServer:
    """A private redis-server, in memory only (no snapshot, no append-only file)."""
    binary = redis_server_binary()
    return BackgroundServer(
        "redis-server",
        [
            binary,
            "--bind", "127.0.0.1",
            "--port", "{port}",
            "--dir", "{dir}",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
        ],
    )  # fmt: skip


@contextmanager
def running(server: BackgroundServer) -> Iterator[BackgroundServer]:
    """`server`, stopped when the block ends."""
    try:
        yield server
    finally:
        server.stop()
