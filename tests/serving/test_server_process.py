"""`bankrisk serve` as a real process: Uvicorn on a free port, real HTTP, logs on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers.api import customer
from helpers.processes import BANKRISK, HeldRequest, clean_env, free_port, serve_command, server


@pytest.mark.parametrize("port_from", ["--port", "PORT"])
def test_serve_answers_over_http_and_logs_json(bundle_dir: Path, port_from: str) -> None:
    option_port = free_port()
    env: dict[str, str] = {}
    if port_from == "PORT":
        # Cloud Run sets PORT: it wins over --port.
        port = free_port()
        while port == option_port:
            port = free_port()
        env["PORT"] = str(port)

    with server(bundle_dir, capture=True, port_option=option_port, **env) as running:
        assert running.log is not None
        response = httpx.post(
            f"{running.url}/v1/predict",
            json=customer(LIMIT_BAL=123457, BILL_AMT1=98765.4),
            headers={"X-Cloud-Trace-Context": "abc123/1;o=1"},
            timeout=10,
        )
        if port_from == "PORT":
            assert running.port == port
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://127.0.0.1:{option_port}/health", timeout=1)
        returncode = running.stop()
        lines = running.log.rest()
    stderr = running.stderr()

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == {"name": "test-model", "version": "7", "role": "champion"}
    assert response.headers["x-request-id"] == body["request_id"]
    assert "server" not in response.headers  # server_header=False
    assert lines[0]["severity"] == "INFO" and lines[0]["message"].startswith("loaded test-model")
    assert lines[0]["port"] == running.port
    (scored,) = [line for line in lines if line.get("request_id") == body["request_id"]]
    assert scored["message"].startswith("scored in ")
    assert scored["status"] == 200 and scored["model_version"] == "7"
    assert scored["logging.googleapis.com/trace"] == "abc123"
    logged = json.dumps(lines)
    assert "123457" not in logged and "98765" not in logged
    assert stderr is not None and "Traceback" not in stderr
    # A graceful stop, outside a container too: one line, exit 0 (not 143).
    assert lines[-1]["severity"] == "INFO"
    assert lines[-1]["message"].startswith("shutting down on SIGTERM")
    assert returncode == 0, stderr


def test_missing_bundle_exits_2_with_one_critical_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-bundle"

    done = subprocess.run(
        [str(BANKRISK), "serve", "--model-dir", str(missing), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,  # a bound on a hang, not a speed check: it exits at once
        env=clean_env(),
        check=False,
    )

    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    line = json.loads(lines[0])
    assert line["severity"] == "CRITICAL"
    assert str(missing) in line["message"]
    assert line["model_dir"] == str(missing)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout


def test_sigterm_finishes_requests_in_flight_then_exits_0(bundle_dir: Path) -> None:
    with server(bundle_dir, capture=True) as running:
        log = running.log
        assert log is not None
        log.wait_for("loaded test-model")
        # Two requests the app is already handling (it has asked for their bodies)...
        single = HeldRequest(running.port, "/v1/predict", customer(PAY_0=2))
        batch = HeldRequest(running.port, "/v1/predict/batch", {"records": [customer()] * 2})

        running.terminate()
        shutdown = log.wait_for("shutting down")
        # ... are answered in full after the shutdown began; new connections are refused.
        single_status, single_body = single.finish()
        batch_status, batch_body = batch.finish()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{running.url}/health", timeout=2)
        returncode = running.stop()
        lines = log.rest()
    stderr = running.stderr()

    assert shutdown == {
        "severity": "INFO",
        "message": "shutting down on SIGTERM: finishing requests in flight",
        "in_flight": 2,
        "timeout_s": 10,
    }
    assert (single_status, batch_status) == (200, 200)
    assert 0.0 < single_body["probability_of_default"] < 1.0
    assert len(batch_body["predictions"]) == 2
    scored = [line for line in lines[lines.index(shutdown) :] if line.get("status") == 200]
    assert {line["request_id"] for line in scored} == {
        single_body["request_id"],
        batch_body["request_id"],
    }
    assert [line["message"] for line in lines].count(shutdown["message"]) == 1
    assert returncode == 0, stderr
    assert stderr is not None and "Traceback" not in stderr


def test_failed_warm_up_exits_2_with_one_critical_line(bundle_dir: Path) -> None:
    """A bundle that loads but cannot score (here: scoring raises) never starts serving."""
    code = (
        "import sys\n"
        "from bankrisk.bundle.model_bundle import ModelBundle\n"
        "def broken(self, raw, explain=True):\n"
        "    raise FloatingPointError('overflow in the model')\n"
        "ModelBundle.score = broken\n"
        "from bankrisk.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *serve_command(bundle_dir, free_port())[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr == ""
    (line,) = [json.loads(text) for text in done.stdout.splitlines()]
    assert line["severity"] == "CRITICAL"
    assert line["message"] == (
        f"cannot serve: model bundle {bundle_dir} loaded but failed its warm-up: "
        "FloatingPointError: overflow in the model"
    )
