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
