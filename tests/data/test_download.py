"""bankrisk.data.download over real HTTP: a server on 127.0.0.1 in a thread, never the internet.

Every test goes through the real download path (httpx over a socket): success, retries of
transient failures (HTTP 503, a dropped connection, a read time-out), giving up, errors that are
not retried, files of the wrong shape, and the offline error on a refused port. None of them
passes merely because this machine has no internet access.
"""

from __future__ import annotations

import http.server
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from bankrisk.config import Settings
from bankrisk.data import download as download_module
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
# A "hang" answer waits for the test to end (capped far above any client time-out), so the
# client's read time-out always fires; the time-out is generous enough that a real answer on a
# loaded machine never trips it.
HANG_CAP_SECONDS = 60.0
TIMEOUT = 1.0


def zip_bytes(rows: int = ROWS, member: str = MEMBER, columns: list[str] | None = None) -> bytes:
    """A zip like UCI's: the data file (CSV here) plus another member."""
    names = columns if columns is not None else [ID_COLUMN, *FIELD_NAMES, TARGET]
    frame = pd.DataFrame(
        {n: list(range(1, rows + 1)) if n == ID_COLUMN else [1] * rows for n in names}
    )
    if TARGET in frame:
        frame[TARGET] = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(member, frame.to_csv(index=False))
        zf.writestr("readme.txt", "hello")
    return buffer.getvalue()


@dataclass
class Server:
    """Answers per path, in order (the last answer repeats): bytes (200 with that body), an int
    (that status), "drop" (close the connection without an answer) or "hang" (answer nothing
    until the test ends). `hits` counts the requests per path."""

    base: str
    answers: dict[str, list[bytes | int | str]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@pytest.fixture
def server() -> Iterator[Server]:
    release = threading.Event()
    lock = threading.Lock()
    state = Server(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                count = state.hits.get(self.path, 0)
                state.hits[self.path] = count + 1
                queue = state.answers.get(self.path, [404])
                answer = queue[min(count, len(queue) - 1)]
            if answer == "hang":
                release.wait(HANG_CAP_SECONDS)
                self.close_connection = True
                return
            if answer == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if isinstance(answer, int):
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            assert isinstance(answer, bytes)
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port is bound but not listening: connecting is refused, surely
    (no other process can take the port while the socket holds it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/data.zip"
    finally:
        sock.close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off delays the download asks for (recorded, not slept: no test waits on a clock).

    `time.sleep` is patched for the whole process: threads that other tests left running (a
    library's background thread) still sleep for real and are not recorded."""
    delays: list[float] = []
    real_sleep = download_module.time.sleep

    def sleep(seconds: float) -> None:
        if threading.current_thread() is threading.main_thread():
            delays.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(download_module.time, "sleep", sleep)
    return delays


def get(server: Server, dest: Path, path: str = "/data.zip", **kwargs: object) -> Path:
    options: dict[str, object] = {"member": MEMBER, "expected_rows": ROWS, **kwargs}
    return download_uci(dest, url=server.url(path), **options)  # type: ignore[arg-type]


def test_defaults_point_at_official_file(tmp_path: Path) -> None:
    assert UCI_URL.startswith("https://archive.ics.uci.edu/static/public/350/")
    assert Settings().data_url == UCI_URL  # one source: the BANKRISK_DATA_URL setting's default
    assert UCI_MEMBER == "default of credit card clients.xls"
    assert default_data_path(tmp_path) == tmp_path / DEFAULT_FILENAME


def test_success_writes_file_and_checksum(server: Server, tmp_path: Path, refused_url: str) -> None:
    server.answers["/data.zip"] = [zip_bytes()]
    dest = tmp_path / "data"
    path = get(server, dest)
    assert path == dest / "small_clients.csv"
    assert path.read_text(encoding="utf-8").startswith(f"{ID_COLUMN},LIMIT_BAL")
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text(encoding="utf-8").split()[0] == file_fingerprint(path)
    assert sorted(p.name for p in dest.iterdir()) == [
        "small_clients.csv",
        "small_clients.csv.sha256",
    ]
    assert server.hits == {"/data.zip": 1}

    # Second call: the file is there and checks out, so nothing is fetched (the URL is refused).
    again = download_uci(dest, url=refused_url, member=MEMBER, expected_rows=ROWS)
    assert again == path


def test_corrupted_existing_file_is_downloaded_again(server: Server, tmp_path: Path) -> None:
    server.answers["/data.zip"] = [zip_bytes()]
    dest = tmp_path / "data"
    path = get(server, dest)
    good = path.read_bytes()
    path.write_bytes(good.replace(b"\n1,", b"\n2,", 1))
    assert get(server, dest) == path
    assert path.read_bytes() == good
    assert server.hits == {"/data.zip": 2}


def test_refused_port_fails_at_once_with_both_ways_to_pass_data(
    tmp_path: Path, refused_url: str, sleeps: list[float]
) -> None:
    dest = tmp_path / "data"
    with pytest.raises(DownloadError) as info:
        download_uci(dest, url=refused_url, retries=3, backoff=10.0)
    message = str(info.value)
    assert message.startswith("Could not download the UCI data set (cannot connect to ")
    assert "Connection refused" in message
    assert "--data PATH" in message  # the bankrisk command line
    assert "make run DATA=PATH" in message  # the Makefile
    assert sleeps == [], "a refused connection is not retried"
    assert not dest.exists(), "a failed download leaves no empty data/ behind"


def test_failed_download_keeps_a_folder_that_was_there(tmp_path: Path, refused_url: str) -> None:
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "mine.csv").write_text("keep me")
    with pytest.raises(DownloadError):
        download_uci(dest, url=refused_url, retries=0)
    assert sorted(p.name for p in dest.iterdir()) == ["mine.csv"]


def test_transient_failures_are_retried_then_succeed(
    server: Server, tmp_path: Path, sleeps: list[float]
) -> None:
    # A read time-out, a 503, a connection dropped without an answer, then the file.
    server.answers["/data.zip"] = ["hang", 503, "drop", zip_bytes()]
    path = get(server, tmp_path / "d", retries=3, backoff=0.5, timeout=TIMEOUT)
    assert path.is_file()
    assert server.hits == {"/data.zip": 4}
    assert sleeps == [0.5, 1.0, 2.0], "exponential back-off between attempts"


def test_read_timeouts_give_up(server: Server, tmp_path: Path, sleeps: list[float]) -> None:
    server.answers["/data.zip"] = ["hang"]
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match=r"ReadTimeout .*gave up after 2 attempts"):
        get(server, dest, retries=1, timeout=TIMEOUT)
    assert server.hits == {"/data.zip": 2}
    assert len(sleeps) == 1
    assert not dest.exists()


def test_server_errors_give_up(server: Server, tmp_path: Path, sleeps: list[float]) -> None:
    server.answers["/data.zip"] = [502]
    with pytest.raises(DownloadError, match=r"HTTP 502 .*gave up after 3 attempts.*DATA=PATH"):
        get(server, tmp_path / "d", retries=2)
    assert server.hits == {"/data.zip": 3}
    assert len(sleeps) == 2


def test_http_404_fails_without_retry(server: Server, tmp_path: Path, sleeps: list[float]) -> None:
    with pytest.raises(DownloadError, match=r"HTTP 404 .*--data PATH"):
        get(server, tmp_path / "d", path="/missing.zip", retries=3)
    assert server.hits == {"/missing.zip": 1}
    assert sleeps == []


def test_wrong_row_count_is_rejected(server: Server, tmp_path: Path) -> None:
    server.answers["/data.zip"] = [zip_bytes(rows=3)]
    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="3 rows, expected 5"):
        get(server, dest)
    assert not dest.exists(), "nothing is kept: no partial files, no folder"


def test_missing_columns_are_rejected(server: Server, tmp_path: Path) -> None:
    columns = [ID_COLUMN, *FIELD_NAMES[:-1], TARGET]
    server.answers["/data.zip"] = [zip_bytes(columns=columns)]
    with pytest.raises(DownloadError, match=FIELD_NAMES[-1]):
        get(server, tmp_path / "d")


def test_missing_member_is_rejected(server: Server, tmp_path: Path) -> None:
    server.answers["/data.zip"] = [zip_bytes(member="other.csv")]
    with pytest.raises(DownloadError, match=r"does not contain 'small clients\.csv'"):
        get(server, tmp_path / "d")


def test_not_a_zip_is_rejected(server: Server, tmp_path: Path) -> None:
    server.answers["/data.zip"] = [b"<html>maintenance</html>"]
    with pytest.raises(DownloadError, match="not a valid zip"):
        get(server, tmp_path / "d")


def test_official_member_that_is_not_a_spreadsheet_is_rejected(
    server: Server, tmp_path: Path
) -> None:
    # The default member (the .xls inside UCI's zip) holding something else: a clean error.
    server.answers["/data.zip"] = [zip_bytes(member=UCI_MEMBER)]
    dest = tmp_path / "d"
    with pytest.raises(DownloadError, match="not as expected"):
        download_uci(dest, url=server.url("/data.zip"))
    assert not dest.exists()
