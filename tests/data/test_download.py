"""Tests of bankrisk.data.download without the internet: a local HTTP server, mock transports."""

from __future__ import annotations

import http.server
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from bankrisk.data.download import (
    DEFAULT_FILENAME,
    UCI_MEMBER,
    UCI_URL,
    default_data_path,
    download_uci,
)
from bankrisk.data.load import file_fingerprint
from bankrisk.errors import DownloadError
from bankrisk.schema import FIELD_NAMES, ID_COLUMN, TARGET

ROWS = 5
MEMBER = "small clients.csv"


def _zip_bytes(tmp_path: Path, rows: int = ROWS, member: str = MEMBER) -> bytes:
    frame = pd.DataFrame(
        {ID_COLUMN: range(1, rows + 1), **{n: [1] * rows for n in FIELD_NAMES}, TARGET: 0}
    )
    archive = tmp_path / "payload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, frame.to_csv(index=False))
        zf.writestr("readme.txt", "hello")
    return archive.read_bytes()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """A local HTTP server on 127.0.0.1 serving the byte strings put into the returned dict."""
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", files
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_defaults_point_at_official_file(tmp_path: Path) -> None:
    assert UCI_URL.startswith("https://archive.ics.uci.edu/static/public/350/")
    assert UCI_MEMBER == "default of credit card clients.xls"
    assert default_data_path(tmp_path) == tmp_path / DEFAULT_FILENAME


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/none.zip", "http://nonexistent.invalid/x.zip"])
def test_offline_fails_fast(tmp_path: Path, url: str) -> None:
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download_uci(tmp_path / "data", url=url, retries=3, timeout=4.0)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert message.startswith("Could not download the UCI data set (")
    assert "Offline? Pass a local copy with --data PATH." in message
    assert not list((tmp_path / "data").glob("*"))


def test_success_writes_file_and_checksum(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    files["/data.zip"] = _zip_bytes(tmp_path)
    dest = tmp_path / "data"
    path = download_uci(dest, url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS)
    assert path == dest / "small_clients.csv"
    assert path.read_text(encoding="utf-8").startswith("ID,LIMIT_BAL")
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text(encoding="utf-8").split()[0] == file_fingerprint(path)
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["small_clients.csv", "small_clients.csv.sha256"]

    # Second call: the file exists and validates, so no network is used (the URL is dead).
    again = download_uci(dest, url="http://127.0.0.1:9/none.zip", member=MEMBER, expected_rows=ROWS)
    assert again == path


def test_corrupted_existing_file_is_downloaded_again(
    tmp_path: Path, server: tuple[str, dict[str, bytes]]
) -> None:
    base, files = server
    files["/data.zip"] = _zip_bytes(tmp_path)
    dest = tmp_path / "data"
    path = download_uci(dest, url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS)
    good = path.read_bytes()
    path.write_bytes(good.replace(b"\n1,", b"\n2,", 1))
    assert download_uci(dest, url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS) == path
    assert path.read_bytes() == good


def test_wrong_row_count_is_rejected(tmp_path: Path, server: tuple[str, dict[str, bytes]]) -> None:
    base, files = server
    files["/data.zip"] = _zip_bytes(tmp_path, rows=3)
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="3 rows, expected 5"):
        download_uci(dest, url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS)
    assert not list(dest.iterdir())


def test_missing_member_is_rejected(tmp_path: Path, server: tuple[str, dict[str, bytes]]) -> None:
    base, files = server
    files["/data.zip"] = _zip_bytes(tmp_path, member="other.csv")
    with pytest.raises(DownloadError, match=r"does not contain 'small clients\.csv'"):
        download_uci(tmp_path / "d", url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS)


def test_not_a_zip_is_rejected(tmp_path: Path, server: tuple[str, dict[str, bytes]]) -> None:
    base, files = server
    files["/data.zip"] = b"<html>maintenance</html>"
    with pytest.raises(DownloadError, match="not a valid zip"):
        download_uci(tmp_path / "d", url=f"{base}/data.zip", member=MEMBER, expected_rows=ROWS)


def test_http_404_fails_without_retry(tmp_path: Path, server: tuple[str, dict[str, bytes]]) -> None:
    base, _ = server
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"HTTP 404 .*--data PATH"):
        download_uci(tmp_path / "d", url=f"{base}/missing.zip", backoff=10.0)
    assert time.monotonic() - start < 5


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    payload = _zip_bytes(tmp_path)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 2:
            return httpx.Response(503)
        return httpx.Response(200, content=payload)

    path = download_uci(
        tmp_path / "d",
        member=MEMBER,
        expected_rows=ROWS,
        backoff=0.0,
        transport=httpx.MockTransport(handler),
    )
    assert path.is_file()
    assert len(calls) == 3


def test_retries_give_up(tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(502)

    with pytest.raises(DownloadError, match="gave up after 3 attempts"):
        download_uci(tmp_path / "d", retries=2, backoff=0.0, transport=httpx.MockTransport(handler))
    assert len(calls) == 3


def test_connect_error_is_not_retried(tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("[Errno -3] Temporary failure in name resolution", request=request)

    with pytest.raises(DownloadError, match="name resolution"):
        download_uci(tmp_path / "d", backoff=10.0, transport=httpx.MockTransport(handler))
    assert len(calls) == 1
