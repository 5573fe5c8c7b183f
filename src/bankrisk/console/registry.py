"""What the Models page reads beside the log: the registered versions (MLflow), and the
champion's model card and fairness table (the bundle).

MLflow is asked with no retries and a short timeout: a registry that cannot be reached is a
message on the page (`Registry.problem`), not an error and not a page that hangs. The page
only reads: it never creates an experiment or sets a tag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from bankrisk.bundle.store import MODEL_CARD_FILE
from bankrisk.config import Settings

MLFLOW_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


@dataclass(frozen=True)
class Registry:
    """The registered versions (`bankrisk.training.registry_view.RegisteredVersion`), or why
    they cannot be shown."""

    versions: list[Any]
    problem: str = ""


def registered(settings: Settings) -> Registry:
    for name, value in MLFLOW_LIMITS.items():
        os.environ.setdefault(name, value)
    try:
        import mlflow

        from bankrisk.training.registry_view import registered_versions
    except ImportError as exc:
        return Registry(
            [],
            f"The model registry cannot be read here: {exc.name} is not "
            "installed (the `train` extra).",
        )
    missing = _missing_sqlite_file(settings.mlflow_tracking_uri)
    if missing is not None:  # MLflow would create an empty store there: say so instead
        return Registry(
            [],
            f"No model registry at {settings.mlflow_tracking_uri}: {missing} "
            "does not exist (MLFLOW_TRACKING_URI).",
        )
    try:
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        return Registry(registered_versions(settings, read_bundles=False))
    except Exception as exc:  # unreachable, refused, malformed: all mean "cannot read it now"
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        return Registry(
            [], f"The model registry at {settings.mlflow_tracking_uri} cannot be read: {first}"
        )


def _missing_sqlite_file(uri: str) -> Path | None:
    """The file of a `sqlite:///` tracking URI when it does not exist; else None."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = Path(uri.removeprefix(prefix))
    return None if path.is_file() else path


@dataclass(frozen=True)
class GroupRate:
    group: str
    n: int | None
    approval_rate: float | None
    in_ratio: bool | None


@dataclass(frozen=True)
class AttributeFairness:
    """One protected attribute of the fairness report: each group's approval rate, and the
    adverse impact ratio (lowest over highest rate of the groups in the ratio)."""

    attribute: str
    groups: list[GroupRate]
    ratio: float | None
    reference_group: str | None
    passed: bool | None
    notes: list[str]


def fairness_table(metadata: dict[str, Any]) -> list[AttributeFairness]:
    """The bundle's fairness report (training's `fairness_report`), as rows; [] if none."""
    report = metadata.get("fairness")
    attributes = report.get("attributes", {}) if isinstance(report, dict) else {}
    out = []
    for attribute, entry in attributes.items():
        groups = [
            GroupRate(
                str(label),
                _int(g.get("n")),
                _float(g.get("approval_rate")),
                g.get("included_in_ratio"),
            )
            for label, g in entry.get("groups", {}).items()
        ]
        out.append(
            AttributeFairness(
                str(attribute),
                groups,
                _float(entry.get("adverse_impact_ratio")),
                entry.get("reference_group"),
                entry.get("four_fifths_rule_passed"),
                [str(n) for n in entry.get("notes", [])],
            )
        )
    return out


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _shift_headings(tokens: list[Token]) -> None:
    """The card's headings two levels down: the page keeps its one h1 and its h2 sections."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 2)}"


def model_card(model_dir: Path) -> Markup | None:
    """The bundle's model card (Markdown, written by training) as HTML; raw HTML in it is
    escaped. None when the bundle carries no card."""
    path = Path(model_dir, MODEL_CARD_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(text)
    _shift_headings(tokens)
    return Markup(parser.renderer.render(tokens, parser.options, {}))
