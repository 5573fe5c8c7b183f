"""`bankrisk train`, `evaluate`, and the model registry: `models`, `promote`, `rollback`."""

from __future__ import annotations

import json
import logging
import os
import warnings
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bankrisk.cli.common import (
    DataOption,
    ForceOption,
    ModelDirOption,
    console,
    load_settings,
    metrics_table,
    print_json_text,
    resolve_data,
    stage_printer,
)
from bankrisk.data.files import check_readable
from bankrisk.errors import UsageError
from bankrisk.schema import TARGET

if TYPE_CHECKING:
    from bankrisk.training.fairness_verdict import FairnessVerdict
    from bankrisk.training.gate import GateResult
    from bankrisk.training.model_inputs import InputChange
    from bankrisk.training.registry_view import RegisteredVersion


def quiet_training_libraries() -> None:
    """Before training imports TensorFlow and MLflow: their start-up chatter off (variables
    already set in the environment win), warnings and errors that matter kept."""
    # TensorFlow's C++ INFO and WARNING lines (ERROR stays).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # MLflow's INFO lines: "Creating initial MLflow database tables...", "Updating database ...".
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow's "Downloading artifacts: 25%|██▌ ..." bars while it logs the model.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow's advice to its own users (e.g. "Add type hints to the `predict` method"): the
    # pyfunc model validates its input itself.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow(\.|$)")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
    # absl's Python logger (Keras and TensorFlow warn through it).
    logging.getLogger("absl").setLevel(logging.ERROR)


def train(
    data: DataOption = None,
    model_dir: ModelDirOption = None,
    force: ForceOption = False,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Build the training rows from this Feast repository (point-in-time join of "
            "--entities) instead of --data.",
        ),
    ] = None,
    entities: Annotated[
        Path | None,
        typer.Option(
            "--entities",
            help="With --features: .csv or .parquet of customer_id (or ID), event_timestamp "
            "and the label 'default payment next month'.",
        ),
    ] = None,
) -> None:
    """Train every candidate, track them in MLflow, register the best behind the promotion
    gate and write the champion's serving bundle."""
    settings = load_settings()
    if (features is None) != (entities is None):
        raise UsageError("--features and --entities go together: give both, or --data")
    if features is not None and data is not None:
        raise UsageError("--data cannot be combined with --features/--entities")
    path = entities if entities is not None else resolve_data(data, settings)
    check_readable(path)  # before the training libraries load, which takes seconds
    quiet_training_libraries()
    from bankrisk.training.train import run_training

    reader: Any
    if features is not None:
        from bankrisk.feature_store.historical import training_data

        reader = partial(training_data, features)
    else:
        from bankrisk.data.training_data import read_training_data

        reader = read_training_data
    report = run_training(
        path, settings, model_dir or settings.model_dir, stage_printer(), force=force, reader=reader
    )
    rows = {c.name: c.metrics for c in report.candidates}
    out = Console(width=120)
    out.print(metrics_table("Test split (never used for tuning)", rows, report.champion))
    out.print(
        f"Winner: [bold]{report.champion}[/] (lowest cross-validated log loss), registered as "
        f"{settings.registered_model_name} v{report.registered_version} "
        f"with alias [bold]{report.alias}[/] ({escape(report.gate_reason)})."
    )
    if report.verdict is not None:
        print_judgement(out, report.verdict, report.registered_version)
    if report.alias == "champion":
        if report.replaced_version:
            out.print(f"v{report.replaced_version} is now `previous` (bankrisk rollback).")
        out.print(f"Champion serving bundle: {report.model_dir}")
    elif report.bundle_exported:
        out.print(f"Not promoted: restored the registry's champion bundle in {report.model_dir}.")
    else:
        out.print(f"Not promoted: the champion bundle in {report.model_dir} is unchanged.")


def print_judgement(out: Console, verdict: GateResult, version: str) -> None:
    """The gate's fairness verdict (with the approval rates behind each ratio) and input
    check, each with what it did to the promotion."""
    if verdict.fairness is not None:
        _print_fairness(out, verdict, verdict.fairness, version)
    if verdict.inputs is not None and verdict.inputs.changed:
        _print_inputs(out, verdict, verdict.inputs, version)


def _print_fairness(
    out: Console, verdict: GateResult, fairness: FairnessVerdict, version: str
) -> None:
    policy = verdict.fairness_policy
    out.print(
        f"Fairness of v{version} (four-fifths rule on the test split, gate_fairness={policy}):"
    )
    if not fairness.known:
        out.print(f"  {escape(fairness.sentences()[0])}")
    for attribute in fairness.attributes:
        line = escape(attribute.sentence())
        out.print(f"  [bold red]{line}[/]" if attribute.failed else f"  {line}")
    held = "fairness" in verdict.held_by
    if held and verdict.forced:
        out.print(f"  Promoted by --force although gate_fairness is {policy}.")
    elif held:
        out.print(f"  Not promoted: gate_fairness is {policy} (recorded in the registry).")
    elif fairness.passed is False and verdict.promoted:
        out.print(
            "  [bold]Promoted although it fails[/]: gate_fairness is warn; the finding is "
            "recorded in the registry (fairness.findings). BANKRISK_GATE_FAIRNESS=refuse "
            "keeps such a model from champion."
        )
    elif fairness.passed is False:
        out.print("  The finding is recorded in the registry (fairness.findings).")


def _print_inputs(out: Console, verdict: GateResult, inputs: InputChange, version: str) -> None:
    out.print(
        f"[bold]Inputs changed[/]: {escape(inputs.description())} against champion "
        f"v{verdict.champion_version} (v{version} reads {', '.join(inputs.candidate)})."
    )
    if "inputs" not in verdict.held_by:
        return
    if verdict.forced:
        out.print("  Promoted by --force without a review of the new inputs.")
    else:
        out.print(
            "  Not promoted automatically: review what the new inputs change (fairness, "
            f"notices, requests), then promote it by hand: bankrisk promote {version}"
        )


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Labelled data file to score.")],
    model_dir: ModelDirOption = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Name of the label column (the 0/1 default flag), e.g. `default` or `target` "
            "in public copies of the data. "
            rf"\[default: the UCI label '{TARGET}' (any spelling) or Y]",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", help="Also write each row's scores to this CSV.")
    ] = None,
) -> None:
    """Score a labelled file with a serving bundle and print its metrics."""
    settings = load_settings()
    directory = model_dir or settings.model_dir
    from bankrisk.evaluation.evaluate import evaluate_bundle

    result = {**evaluate_bundle(directory, data, output, target), "data": str(data)}
    for warning in result["warnings"]:  # on stderr, so --json output stays clean
        console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if as_json:
        print_json_text(json.dumps(result, indent=2))
        return
    name = f"{result['model']['name']} v{result['model']['version']}"
    metrics = result["metrics"]
    out = Console(width=120)
    out.print(metrics_table(f"{data} ({metrics['n']:.0f} rows)", {name: metrics}))
    out.print(
        f"Confusion matrix at the decline threshold {metrics['threshold']:.4f}: "
        f"TN {metrics['tn']:.0f}  FP {metrics['fp']:.0f}  FN {metrics['fn']:.0f}  "
        f"TP {metrics['tp']:.0f}"
    )


# ---- the model registry --------------------------------------------------------------------


def _float(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def models() -> None:
    """List the registered versions: aliases, family, test metrics, data fingerprint, gate,
    fairness (the four-fifths rule) and whether the inputs changed from the champion's."""
    settings = load_settings()
    quiet_training_libraries()
    from bankrisk.training import tracking
    from bankrisk.training.registry_view import registered_versions

    tracking.configure_mlflow(settings)
    versions = registered_versions(settings)
    out = Console(width=200)
    if not versions:
        out.print(f"No versions of {settings.registered_model_name} are registered.")
        return
    table = Table(title=f"{settings.registered_model_name} ({settings.mlflow_tracking_uri})")
    for column in ("version", "aliases", "family", "test AUC", "Brier", "data sha256"):
        table.add_column(column, justify="right" if column != "aliases" else "left")
    for column in ("split", "created (UTC)", "gate", "fairness", "inputs"):
        table.add_column(column)
    for v in versions:
        gate = v.gate_decision or "-"
        if v.held_by:
            gate += f" ({'forced over' if v.gate_forced else 'held'}: {', '.join(v.held_by)})"
        elif v.gate_forced:
            gate += " (forced)"
        fairness = v.fairness.label()
        table.add_row(
            v.version,
            ", ".join(v.aliases) or "-",
            v.model_family or "-",
            _float(v.test_roc_auc),
            _float(v.test_brier),
            (v.data_sha256 or "-")[:12],
            v.split or "-",
            v.created.strftime("%Y-%m-%d %H:%M:%S"),
            escape(gate),
            f"[bold red]{escape(fairness)}[/]" if v.fairness.passed is False else fairness,
            f"[bold]{escape(v.inputs.label())}[/]" if v.inputs.changed else v.inputs.label(),
        )
    out.print(table)
    _print_flags(out, versions)


def _print_flags(out: Console, versions: list[RegisteredVersion]) -> None:
    """Below the table, in full: the fairness findings of the aliased versions and every held
    input change, so that neither hides in a truncated cell."""
    for v in versions:
        if v.fairness.passed is False and v.aliases:
            out.print(
                f"v{v.version} ({', '.join(v.aliases)}) fails the four-fifths rule: "
                f"{escape(v.fairness.findings)}"
            )
        if v.inputs.changed and "inputs" in v.held_by and "champion" not in v.aliases:
            out.print(
                f"v{v.version} reads other inputs than the champion did "
                f"({escape(v.inputs.change or '')}): review it, then bankrisk promote {v.version}"
            )


def promote(
    version: Annotated[str, typer.Argument(help="The registered version to make champion.")],
    data: DataOption = None,
    model_dir: ModelDirOption = None,
    force: ForceOption = False,
) -> None:
    """Run the promotion gate of VERSION against the champion on the test split of --data;
    if it passes (or --force), VERSION becomes champion, the old champion `previous`, and its
    bundle is exported. Exit code 1 if the gate refuses (VERSION becomes challenger)."""
    settings = load_settings()
    if not version.isdigit():
        raise UsageError(f"VERSION must be a version number, got {version!r}")
    quiet_training_libraries()
    from bankrisk.training.lifecycle import promote_version

    path = resolve_data(data, settings)
    result = promote_version(settings, version, path, model_dir or settings.model_dir, force)
    out = Console(width=120, soft_wrap=True)
    name = settings.registered_model_name
    verdict = result.verdict
    print_judgement(out, verdict, version)
    if verdict.promoted:
        old = f"; v{result.replaced_version} is now `previous`" if result.replaced_version else ""
        out.print(f"{name} v{version} is now the champion{old} ({escape(verdict.reason)}).")
        out.print(f"Champion serving bundle: {result.model_dir}")
        return
    out.print(f"Not promoted: {name} v{version} is the challenger ({escape(verdict.reason)}).")
    raise typer.Exit(1)


def rollback(model_dir: ModelDirOption = None) -> None:
    """Make the `previous` version champion again and export its bundle."""
    settings = load_settings()
    quiet_training_libraries()
    from bankrisk.training.lifecycle import rollback as roll_back

    result = roll_back(settings, model_dir or settings.model_dir)
    was = f" (was v{result.rolled_back_version})" if result.rolled_back_version else ""
    Console(width=120, soft_wrap=True).print(
        f"{settings.registered_model_name} champion is v{result.restored_version} again{was}; "
        f"the `previous` alias is removed. Champion serving bundle: {result.model_dir}"
    )
