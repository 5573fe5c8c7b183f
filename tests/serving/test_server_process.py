"""`bankrisk serve` as a real process: Uvicorn on a free port, real HTTP, logs on stdout."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from serving.support import customer

BANKRISK = Path(sys.executable).with_name("bankrisk")
READY_WITHIN_S = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without PORT or BANKRISK_* settings (so none leak in), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k != "PORT" and not k.startswith("BANKRISK_")}
    env.pop("GOOGLE_CLOUD_PROJECT", None)
    return {**env, **extra}


def wait_ready(process: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"server exited early with {process.returncode}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server not ready on port {port} within {READY_WITHIN_S:.0f} s")


@pytest.fixture
def start_server(bundle_dir: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(port_option: int, env: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [str(BANKRISK), "serve", "--model-dir", str(bundle_dir), "--port", str(port_option)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:  # only the processes this fixture started, by their handle
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    return stdout, stderr


@pytest.mark.parametrize("port_from", ["--port", "PORT"])
def test_serve_answers_over_http_and_logs_json(start_server: object, port_from: str) -> None:
    option_port = free_port()
    if port_from == "PORT":
        # Cloud Run sets PORT: it wins over --port.
        port = free_port()
        while port == option_port:
            port = free_port()
        process = start_server(option_port, clean_env(PORT=str(port)))  # type: ignore[operator]
    else:
        port = option_port
        process = start_server(option_port, clean_env())  # type: ignore[operator]

    wait_ready(process, port)
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/predict",
        json=customer(LIMIT_BAL=123457, BILL_AMT1=98765.4),
        headers={"X-Cloud-Trace-Context": "abc123/1;o=1"},
        timeout=10,
    )
    if port_from == "PORT":
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{option_port}/health", timeout=1)
    stdout, stderr = stop(process)

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "test-model", "version": "7"}
    assert response.headers["x-request-id"] == body["request_id"]
    assert "server" not in response.headers  # server_header=False
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert lines[0]["severity"] == "INFO" and lines[0]["message"].startswith("loaded test-model")
    assert lines[0]["port"] == port
    (scored,) = [line for line in lines if line.get("request_id") == body["request_id"]]
    assert scored["message"].startswith("scored in ")
    assert scored["status"] == 200 and scored["model_version"] == "7"
    assert scored["logging.googleapis.com/trace"] == "abc123"
    assert "123457" not in stdout and "98765" not in stdout
    assert "Traceback" not in stderr
    # A graceful stop: Uvicorn finishes shutting down, then re-raises the SIGTERM it caught.
    assert process.returncode in (0, -signal.SIGTERM), stderr


def test_missing_bundle_exits_2_with_one_critical_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-bundle"
    start = time.monotonic()

    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(missing), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=15,
        env=clean_env(),
        check=False,
    )

    assert time.monotonic() - start < 15
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    line = json.loads(lines[0])
    assert line["severity"] == "CRITICAL"
    assert str(missing) in line["message"]
    assert line["model_dir"] == str(missing)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
