"""The CLI: help that shows every default, user errors as one clear line with exit code 2 and
never a traceback, messages that name what to change (the environment variable, `DATA=`)."""

from __future__ import annotations

import http.server
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer.main

from bankrisk.cli import app
from bankrisk.config import Settings

BANKRISK = str(Path(sys.executable).with_name("bankrisk"))
# Settings the parent environment may carry: never passed on, so each test sets its own.
_SETTINGS_ENV = re.compile(r"^(BANKRISK_.*|PORT|MLFLOW_TRACKING_URI)$")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _SETTINGS_ENV.match(k)}
    return {**env, **extra}


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BANKRISK, *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port is bound but not listening: every connection is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/uci.zip"
    finally:
        sock.close()


# --- help ---------------------------------------------------------------------------------------
def command_paths() -> list[tuple[list[str], Any]]:
    """Every leaf command of the CLI (typer's click objects), as the words that call it."""
    found: list[tuple[list[str], Any]] = []

    def walk(words: list[str], command: Any) -> None:
        if hasattr(command, "commands"):  # a group
            for name, sub in command.commands.items():
                walk([*words, name], sub)
        else:
            found.append((words, command))

    walk([], typer.main.get_command(app))
    return found


COMMANDS = command_paths()
# The default each option must show, from Settings (the values the commands really fall back to).
SETTINGS_DEFAULTS = {
    "model_dir": "model_dir",
    "dest": "data_dir",
    "host": "host",
    "port": "port",
    "log": "prediction_log",
    "warn": "drift_warn_psi",
    "alert": "drift_alert_psi",
}
# Options with no default to show, and why.
NO_DEFAULT = {
    ("evaluate", "output"): "optional: without it no CSV is written",
    ("monitor", "since"): "optional: without it the window starts at the first logged row",
    ("monitor", "until"): "optional: without it the window ends now",
    ("monitor", "report"): "optional: without it no HTML report is written",
    ("monitor", "model_version"): "optional: without it every model version",
    ("monitor", "run"): "optional: without it every portfolio run and the API's traffic",
    ("monitor", "by"): "optional: without it the window as one",
    ("monitor", "demographics"): "optional: without it the log's attributes only",
    ("monitor", "metrics_file"): "optional: without it no metrics file is written",
    ("score", "log"): "optional: without it the run is not recorded",
    ("score", "record"): "optional: without it a Spark run is not recorded",
    ("monitor", "record"): "only with --engine spark: the run record to read, no default place",
    ("monitor", "lookback_hours"): "optional: without it the window is --since to --until",
    ("monitor", "insert_into"): "optional: without it the query only selects",
    ("monitor", "schema"): "optional: without it the query is printed",
    ("monitor", "max_rows"): "optional: without it every row after the watermark",
    ("train", "features"): "optional: without it training reads --data",
    ("train", "entities"): "only with --features, which has no default either",
}
# Options whose default is the command's own (not a setting): the value the help must show.
OWN_DEFAULTS = {
    ("data", "seed"): "0",
    ("evaluate", "target"): "the UCI label 'default payment next month' (any spelling) or Y",
    ("score", "chunk_rows"): "25000",
    ("score", "engine"): "local",
    ("score", "master"): "local[*]",
    ("monitor", "engine"): "local",
    ("monitor", "master"): "local[*]",
    ("features", "repo"): "feature_repo",
    ("features", "as_of"): "now",
    ("monitor", "role"): "champion",
    ("score", "run_id"): "INPUT_STEM-UTC_TIME",
    ("score", "as_of"): "now",
    ("console", "host"): "127.0.0.1",
    ("console", "port"): "8001",
    ("monitor", "dialect"): "bigquery",
    ("monitor", "table"): "predictions",
    ("monitor", "batch_size"): "500",
    ("monitor", "settle_seconds"): "60.0",
    ("monitor", "timeout"): "30.0",
}


def rendered_help(words: list[str], tmp_path: Path) -> str:
    """`bankrisk WORDS --help` as a user sees it, box drawing and line wrapping removed."""
    result = run(*words, "--help", cwd=tmp_path, COLUMNS="100")
    assert result.returncode == 0 and "Usage" in result.stdout, result.stderr
    return " ".join(result.stdout.replace("│", " ").split())


def test_every_command_is_covered() -> None:
    names = {" ".join(words) for words, _ in COMMANDS}
    assert names == {
        "train",
        "evaluate",
        "serve",
        "console",
        "data download",
        "data synthesize",
        "features materialize",
        "score",
        "monitor drift",
        "monitor drift-sql",
        "monitor export",
        "monitor outcomes",
        "monitor performance",
        "monitor prune",
        "models",
        "promote",
        "rollback",
    }


@pytest.mark.parametrize(
    "command", [[], ["data"], ["monitor"], *[w for w, _ in COMMANDS]], ids=" ".join
)
def test_help(command: list[str], tmp_path: Path) -> None:
    result = run(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.parametrize(("words", "command"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_help_shows_every_default(words: list[str], command: Any, tmp_path: Path) -> None:
    text = rendered_help(words, tmp_path)
    options = [p for p in command.params if p.param_type_name == "option" and p.name != "help"]
    assert options or words == ["models"]  # `bankrisk models` takes no options
    starts = {p.name: text.index(p.opts[0] + " ") for p in options}
    ends = [*sorted(starts.values()), len(text)]
    for option in options:
        assert option.name is not None
        start = starts[option.name]
        segment = text[start : next(e for e in ends if e > start)]
        if option.required or option.is_flag:
            continue
        if (words[0], option.name) in NO_DEFAULT:
            assert "[default:" not in segment, segment
            continue
        if (words[0], option.name) in OWN_DEFAULTS:
            assert f"[default: {OWN_DEFAULTS[words[0], option.name]}]" in segment, segment
        elif option.name in SETTINGS_DEFAULTS:
            default = Settings.model_fields[SETTINGS_DEFAULTS[option.name]].default
            assert f"[default: {default}]" in segment, segment
        elif words in (["train"], ["promote"], ["data", "synthesize"]) and option.name == "data":
            data_dir = Settings.model_fields["data_dir"].default
            assert f"[default: the official UCI file in {data_dir}/" in segment, segment
        else:
            pytest.fail(f"{' '.join(words)} {option.opts[0]}: no expected default known")


def test_serve_help_names_the_variables(tmp_path: Path) -> None:
    text = rendered_help(["serve"], tmp_path)
    assert "[default: 8000]" in text and "the PORT variable wins" in text
    assert "BANKRISK_MODEL_DIR" in text and "BANKRISK_HOST" in text


# --- user errors ----------------------------------------------------------------------------------
def test_missing_data_file(tmp_path: Path) -> None:
    result = run("train", "--data", "nowhere.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.csv" in result.stderr and "Traceback" not in result.stderr


# `bankrisk train` run in a fresh interpreter; prints which training libraries it loaded.
_TRAIN_AND_SAY_WHAT_LOADED = """
import sys
from bankrisk.cli import app
try:
    app(["train", *sys.argv[1:]])
finally:
    print(sorted(m for m in ("tensorflow", "mlflow", "sklearn", "pandas") if m in sys.modules))
"""


@pytest.mark.parametrize("file", ["nowhere.csv", "data.txt", "empty.csv"])
def test_train_refuses_an_unreadable_file_before_loading_the_training_libraries(
    file: str, tmp_path: Path
) -> None:
    (tmp_path / "data.txt").write_text("ID,LIMIT_BAL\n1,1000\n")
    (tmp_path / "empty.csv").touch()
    result = subprocess.run(
        [sys.executable, "-c", _TRAIN_AND_SAY_WHAT_LOADED, "--data", file],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and f"Cannot read {file}" in result.stderr, result.stderr
    assert result.stdout.strip() == "[]"


def test_invalid_data_names_the_column(tmp_path: Path, shared_csv: Path) -> None:
    frame = pd.read_csv(shared_csv).head(500)
    frame.loc[:9, "LIMIT_BAL"] = -1
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    result = run("train", "--data", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "LIMIT_BAL" in result.stderr and "10 rows" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before anything was tracked


def test_evaluate_without_a_bundle(tmp_path: Path, shared_csv: Path) -> None:
    result = run("evaluate", "--model-dir", "nope", "--data", str(shared_csv), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "named", "not_named"),
    [
        ("BANKRISK_TEST_SIZE", "0.9", "BANKRISK_TEST_SIZE:", "test_size"),
        ("BANKRISK_USE_AGE", "maybe", "BANKRISK_USE_AGE:", "use_age"),
        ("BANKRISK_CANDIDATES", "gbm,forest", "BANKRISK_CANDIDATES (item 2):", "candidates"),
        ("BANKRISK_DATA_URL", "ftp://mirror/uci.zip", "BANKRISK_DATA_URL:", "data_url"),
        # A check across fields: its message names the variable too.
        (
            "BANKRISK_GRADE_PD_UPPER_BOUNDS",
            "0.1,0.5",
            "BANKRISK_GRADE_PD_UPPER_BOUNDS must rise",
            "grade_pd_upper_bounds",
        ),
        # Fields with an alias: the variable that was set.
        ("PORT", "70000", "PORT:", "port:"),
        ("BANKRISK_PORT", "eighty", "BANKRISK_PORT:", "port:"),
    ],
)
def test_bad_setting_names_the_environment_variable(
    tmp_path: Path, variable: str, value: str, named: str, not_named: str
) -> None:
    result = run(
        "data", "download", "--dest", str(tmp_path / "d"), cwd=tmp_path, **{variable: value}
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: invalid settings: "), result.stderr
    assert named in result.stderr and not_named not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, "one line, never wrapped"


def test_download_offline_fails_at_once_and_names_both_ways(
    tmp_path: Path, refused_url: str
) -> None:
    dest = tmp_path / "data"
    result = run(
        "data", "download", "--dest", str(dest), cwd=tmp_path, BANKRISK_DATA_URL=refused_url
    )
    assert result.returncode == 2
    assert refused_url in result.stderr and "Connection refused" in result.stderr
    assert "--data PATH" in result.stderr and "make run DATA=PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert not dest.exists(), "no empty folder left behind"


def test_train_without_data_tries_the_download_and_says_what_to_do(
    tmp_path: Path, refused_url: str
) -> None:
    result = run("train", cwd=tmp_path, BANKRISK_DATA_URL=refused_url)
    assert result.returncode == 2
    assert "no --data given: downloading" in result.stderr
    assert "--data PATH" in result.stderr and "make run DATA=PATH" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no data/, no MLflow store"


def test_download_fetches_the_data_url_setting(tmp_path: Path) -> None:
    """The CLI downloads from BANKRISK_DATA_URL: a local server answers once, with a zip whose
    .xls is not a spreadsheet, which is refused cleanly."""
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        zf.writestr("default of credit card clients.xls", "ID,LIMIT_BAL\n1,2\n")
    payload = body.getvalue()
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/mirror/uci.zip"
        result = run("data", "download", "--dest", "d", cwd=tmp_path, BANKRISK_DATA_URL=url)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
    assert hits == ["/mirror/uci.zip"]
    assert result.returncode == 2
    assert "downloaded UCI data set is not as expected" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


# --- what a new user hit --------------------------------------------------------------------------
TRAIN_HINT = "train one with `bankrisk train --data PATH` (or `make run DATA=PATH`)"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.factories import make_bundle

    directory = tmp_path_factory.mktemp("bundle")
    make_bundle().save(directory)
    return directory


def customers_csv(path: Path, n: int) -> Path:
    from bankrisk.schema import FIELD_NAMES
    from helpers.factories import make_raw

    raw, _ = make_raw(n, seed=3)
    frame = pd.DataFrame(raw, columns=list(FIELD_NAMES))
    frame.insert(0, "customer_id", [f"C-{i:05d}" for i in range(n)])
    frame.to_csv(path, index=False)
    return path


def test_serve_help_points_to_the_configuration_reference(tmp_path: Path) -> None:
    text = rendered_help(["serve"], tmp_path)
    assert "BANKRISK_* environment variables configure the service" in text
    assert "docs/configuration.md" in text


@pytest.mark.parametrize(
    "env",
    [{}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}],
    ids=["plain", "force-color", "tty-compatible"],
)
def test_score_draws_no_bar_into_a_pipe(
    env: dict[str, str], bundle_dir: Path, tmp_path: Path
) -> None:
    """Rich takes FORCE_COLOR (set by CI runners) for a terminal: the bar would be drawn into
    the pipe once per refresh. A short run off a terminal prints its summary only."""
    customers_csv(tmp_path / "in.csv", 3000)
    result = run(
        "score", "--model-dir", str(bundle_dir), "--input", "in.csv", "--output", "out.csv",
        "--chunk-rows", "100", cwd=tmp_path, **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "3,000 rows scored, 0 rejected" in result.stdout


class _Reader:
    """What the progress callbacks read of a `portfolio.readers.Reader`."""

    total_rows: int | None = 1000
    total_bytes = 0

    def bytes_read(self) -> int:
        return 0


@pytest.mark.parametrize(("seconds_per_row", "lines"), [(0.1, 3), (0.005, 0)])
def test_off_a_terminal_progress_is_a_few_plain_lines_on_long_runs_only(
    seconds_per_row: float, lines: int
) -> None:
    from rich.console import Console

    from bankrisk.portfolio.progress import PLAIN_AFTER_S, plain_progress

    screen = io.StringIO()
    now = [0.0]
    update = plain_progress(Console(file=screen, width=200), clock=lambda: now[0])
    for rows in range(0, 1001, 10):  # 101 updates: one per chunk
        now[0] = rows * seconds_per_row
        update(_Reader(), rows)  # type: ignore[arg-type]
    printed = screen.getvalue().splitlines()
    assert len(printed) == lines, printed
    if lines:
        assert printed[0] == "scoring: 250 rows in 25 s (10 rows/s), 25% of the input read"
        assert 1000 * seconds_per_row > PLAIN_AFTER_S


def test_a_console_forced_to_colour_off_a_terminal_gets_plain_progress() -> None:
    from rich.console import Console

    from bankrisk.portfolio.progress import on_a_terminal, progress_reporter

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    assert console.is_terminal and not on_a_terminal(console)
    with progress_reporter(console) as update:
        update(_Reader(), 500)  # type: ignore[arg-type]
    assert screen.getvalue() == ""


@pytest.mark.parametrize("command", ["evaluate", "score"])
def test_a_missing_bundle_says_how_to_train_one(
    command: str, tmp_path: Path, shared_csv: Path
) -> None:
    customers_csv(tmp_path / "in.csv", 10)
    args = ["--data", str(shared_csv)] if command == "evaluate" else ["--input", "in.csv"]
    if command == "score":
        args += ["--output", "out.csv"]
    result = run(command, *args, cwd=tmp_path)  # no --model-dir: models/champion, absent
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: model bundle models/champion is missing")
    assert result.stderr.rstrip().endswith(TRAIN_HINT), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_without_a_bundle_says_how_to_train_one(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    result = run("serve", "--model-dir", str(missing), cwd=tmp_path, BANKRISK_PREDICTION_LOG="off")
    assert result.returncode == 2
    (line,) = [json.loads(text) for text in result.stdout.splitlines()]  # the JSON log line
    assert line["severity"] == "CRITICAL" and str(missing) in line["message"]
    assert line["message"].endswith(TRAIN_HINT), line["message"]
    assert "Traceback" not in result.stderr


def test_train_quiets_tensorflow_and_mlflow_before_importing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging
    import warnings

    from bankrisk.cli.train import quiet_training_libraries

    for name in ("TF_CPP_MIN_LOG_LEVEL", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "DEBUG")  # set by the user: it wins
    absl = logging.getLogger("absl")
    monkeypatch.setattr(absl, "level", absl.level)
    with warnings.catch_warnings():
        quiet_training_libraries()
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn_explicit(
                "Add type hints to the `predict` method", UserWarning, "data_validation.py", 187,
                module="mlflow.pyfunc.utils.data_validation",
            )  # fmt: skip
            warnings.warn_explicit("ours", UserWarning, "train.py", 1, module="bankrisk.training")
    assert [str(w.message) for w in seen] == ["ours"]
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "DEBUG"
    assert absl.level == logging.ERROR
