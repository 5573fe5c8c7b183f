"""An oversized body gets its 413 and JSON body with every common client, over real HTTP.

Clients such as urllib and httpx send the whole body before they read the answer: a server
that answers early and closes makes them fail with a connection reset. The server reads (and
discards) the rest of the body, within bounds, before it answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers.api import customer
from helpers.processes import served

LIMIT = 8_000_000  # the default BANKRISK_MAX_BODY_BYTES
SIZES = [9_000_000, 20_000_000]


@pytest.fixture(scope="module")
def base_url(bundle_dir: Path) -> Iterator[str]:
    with served(bundle_dir, BANKRISK_API_KEYS="right-key") as url:
        yield url


def oversized(size: int) -> bytes:
    """A syntactically plausible JSON batch of `size` bytes."""
    record = json.dumps(customer()).encode()
    count = size // (len(record) + 1) + 1
    return (b'{"records":[' + b",".join([record] * count) + b"]}")[:size]


def assert_413(status: int, body: bytes) -> None:
    assert status == 413
    answer = json.loads(body)
    assert answer == {"detail": f"request body over the {LIMIT}-byte limit", "errors": []}


HEADERS = {"Content-Type": "application/json", "X-API-Key": "right-key"}


@pytest.mark.parametrize("size", SIZES)
def test_urllib_gets_the_413(base_url: str, size: int) -> None:
    request = urllib.request.Request(
        f"{base_url}/v1/predict/batch", data=oversized(size), headers=HEADERS, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert_413(caught.value.code, caught.value.read())


@pytest.mark.parametrize("size", SIZES)
def test_httpx_gets_the_413(base_url: str, size: int) -> None:
    response = httpx.post(
        f"{base_url}/v1/predict/batch", content=oversized(size), headers=HEADERS, timeout=60
    )
    assert_413(response.status_code, response.content)


def test_httpx_streaming_without_content_length_gets_the_413(base_url: str) -> None:
    body = oversized(SIZES[0])

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = httpx.post(
        f"{base_url}/v1/predict/batch", content=chunks(), headers=HEADERS, timeout=60
    )
    assert "content-length" not in response.request.headers
    assert_413(response.status_code, response.content)


def test_a_refused_key_with_a_large_body_gets_the_401(base_url: str) -> None:
    """Refused before the body is read at all: still answered, not reset."""
    response = httpx.post(
        f"{base_url}/v1/predict/batch",
        content=oversized(2_000_000),
        headers={**HEADERS, "X-API-Key": "wrong"},
        timeout=60,
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or invalid API key", "errors": []}


def test_the_connection_still_serves_after_a_413(base_url: str) -> None:
    with httpx.Client(timeout=60) as client:
        refused = client.post(
            f"{base_url}/v1/predict/batch", content=oversized(SIZES[0]), headers=HEADERS
        )
        scored = client.post(f"{base_url}/v1/predict", json=customer(), headers=HEADERS)
    assert_413(refused.status_code, refused.content)
    assert scored.status_code == 200


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("size", SIZES)
def test_curl_gets_the_413(base_url: str, size: int, tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(oversized(size))
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "-o",
            str(tmp_path / "answer"),
            "-w",
            "%{http_code}",
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-API-Key: right-key",
            "--data-binary",
            f"@{body_file}",
            f"{base_url}/v1/predict/batch",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_413(int(done.stdout), (tmp_path / "answer").read_bytes())
