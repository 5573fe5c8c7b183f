"""The serving process needs neither TensorFlow nor scikit-learn (nor the training code)."""

import subprocess
import sys

HEAVY = (
    "tensorflow",
    "keras",
    "sklearn",
    "lightgbm",
    "mlflow",
    "pandas",
    "bankrisk.training",
    "bankrisk.evaluation",
    "feast",
    "pyarrow",
)


def test_serving_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import bankrisk.cli, bankrisk.serving.server, bankrisk.serving.app\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or "
        f"any(m.startswith(h) for h in {HEAVY!r} if '.' in h)]\n"
        "print(','.join(sorted(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_app_without_a_feature_repo_imports_no_feast() -> None:
    """The by-id route is installed, but Feast is loaded only when BANKRISK_FEATURE_REPO is set."""
    code = (
        "import sys\n"
        "from bankrisk.config import Settings\n"
        "from bankrisk.serving.app import create_app\n"
        "app = create_app(Settings(feature_repo=None), None)\n"
        "assert any(getattr(r, 'path', '') == '/v1/predict/customer/{customer_id}' "
        "for r in app.router.routes)\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_log_writer_process_imports_only_the_log() -> None:
    """The prediction log's writer process (`python -m bankrisk.prediction_log.process_writer`,
    one per server) loads the log's own modules and nothing of the model, the web app or the
    settings: no numpy, no pydantic, not even `bankrisk.prediction_log.opening`."""
    code = (
        "import sys\n"
        "import bankrisk.prediction_log.process_writer\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bankrisk', 'numpy', 'pydantic', 'fastapi', 'starlette', 'onnxruntime', "
        f"'prometheus_client', *{HEAVY!r}))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.strip().split(","))
    runs = {"process_writer", "rows", "spool", "store", "thread_writer"}
    log = {f"bankrisk.prediction_log.{name}" for name in runs}
    shared = {"bankrisk", "bankrisk.prediction_log", "bankrisk.errors", "bankrisk.schema"}
    assert log <= loaded <= log | shared, loaded
