"""Running `bankrisk serve` as a real process: ports, environment, readiness, its log lines,
and raw HTTP requests held open mid-body."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

BANKRISK = Path(sys.executable).with_name("bankrisk")
READY_WITHIN_S = 20.0
# Generous bounds on waits that normally take milliseconds: a hang fails instead of blocking.
WAIT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PORT or BANKRISK_* settings (so none leak in), plus `extra`.

    The prediction log is off unless `extra` names one (`bankrisk serve` would otherwise
    write data/prediction-log/predictions.db in the working directory)."""
    env = {k: v for k, v in os.environ.items() if k != "PORT" and not k.startswith("BANKRISK_")}
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    return {**env, "BANKRISK_PREDICTION_LOG": "off", **extra}


def serve_command(model_dir: Path, port: int) -> list[str]:
    return [str(BANKRISK), "serve", "--model-dir", str(model_dir), "--port", str(port)]


def wait_ready(process: subprocess.Popen[Any], port: int) -> None:
    """Until `bankrisk serve` on `port` answers /ready."""
    wait_answering(process, f"http://127.0.0.1:{port}/ready", "server")


def wait_answering(
    process: subprocess.Popen[Any], url: str, what: str, within: float = READY_WITHIN_S
) -> None:
    """Until `url` answers 200 (the process still running), or fail after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited early with {process.returncode}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{what} not ready at {url} within {within:.0f} s")


class Server:
    """A running `bankrisk serve`. With `capture`, `log` reads its stdout (JSON lines) as they
    come, and `stderr()` is all it wrote there (once it has exited); else both are None."""

    def __init__(self, process: subprocess.Popen[str], port: int, capture: bool) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = JsonLines(process.stdout) if capture and process.stdout else None
        self._stderr: list[str] = []
        self._terminated = False
        self._drain: threading.Thread | None = None
        if capture and process.stderr:
            self._drain = threading.Thread(
                target=lambda stream: self._stderr.append(stream.read()),
                args=(process.stderr,),
                daemon=True,
            )
            self._drain.start()

    def terminate(self) -> None:
        """SIGTERM (a graceful stop: it flushes the prediction log), sent once: a second one
        would cut the shutdown short."""
        if not self._terminated and self.process.poll() is None:
            self.process.terminate()
        self._terminated = True

    def stop(self) -> int:
        """`terminate`, then its exit code; killed (-9) if it has not exited within WAIT_S."""
        self.terminate()
        try:
            return self.process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)

    def stderr(self) -> str | None:
        """What it wrote on stderr (call once it has exited); None without `capture`."""
        if self._drain is None:
            return None
        self._drain.join(WAIT_S)
        return "".join(self._stderr)


@contextmanager
def server(
    model_dir: Path,
    *,
    capture: bool = False,
    cwd: Path | None = None,
    port_option: int | None = None,
    **env: str,
) -> Iterator[Server]:
    """`bankrisk serve` on a free port with `env` settings, ready; stopped (`Server.stop`)
    when the block ends, unless the test stopped it. Its output is kept with `capture`, else
    dropped. It listens on `PORT` when `env` sets one (Cloud Run's variable wins), whatever
    `--port` (`port_option`, by default a free port) says."""
    option = port_option or free_port()
    port = int(env["PORT"]) if "PORT" in env else option
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    process = subprocess.Popen(
        serve_command(model_dir, option),
        stdout=output,
        stderr=output,
        text=True,
        env=clean_env(**env),
        cwd=cwd,
    )
    running = Server(process, port, capture)
    try:
        try:
            wait_ready(process, port)
        except AssertionError as exc:  # it exited: show what it said, when that was kept
            said = running.log.rest() if running.log else None
            raise AssertionError(f"{exc}; stdout {said}; stderr {running.stderr()}") from None
        yield running
    finally:
        running.stop()


@contextmanager
def served(model_dir: Path, **env: str) -> Iterator[str]:
    """A quiet `bankrisk serve` (`server`) with `env` settings; yields its base URL."""
    with server(model_dir, **env) as running:
        yield running.url


class JsonLines:
    """Reads a process's stdout on a thread, so a test can wait for a given log line."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            if line.strip():
                self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_for(self, message_prefix: str) -> dict[str, Any]:
        """The next line whose message starts with `message_prefix` (lines before it kept)."""
        while True:
            line = self._queue.get(timeout=WAIT_S)
            if line is None:
                pytest.fail(f"stdout ended without a line starting {message_prefix!r}")
            self.lines.append(line)
            if str(line.get("message", "")).startswith(message_prefix):
                return line

    def rest(self) -> list[dict[str, Any]]:
        """Every line up to the end of the stream (call once the process has exited)."""
        while (line := self._queue.get(timeout=WAIT_S)) is not None:
            self.lines.append(line)
        return self.lines


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class HeldRequest:
    """A POST whose headers are sent with `Expect: 100-continue` and whose body is held back.

    The server answers `100 Continue` only once the app is running and asks for the body, so
    after `open` returns the request is certainly in flight; `finish` sends the body and
    reads the response to the end (the server closes the connection when it is stopping).
    """

    def __init__(self, port: int, path: str, payload: object) -> None:
        self.body = json.dumps(payload).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\nExpect: 100-continue\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        )
        self.sock.sendall(head.encode())
        interim = _read_until(self.sock, b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 "), interim

    def finish(self) -> tuple[int, dict[str, Any]]:
        self.sock.sendall(self.body)
        data = b""
        while chunk := self.sock.recv(65536):
            data += chunk
        self.sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        parsed: dict[str, Any] = json.loads(body)
        return status, parsed
