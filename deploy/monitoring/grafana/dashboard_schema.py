"""Check a dashboard against Grafana's own schemas for the 11.1 line (vendored in schema/, see
schema/README.md): the dashboard as a whole, then each panel's options, custom field config and
queries against its panel plugin's and its datasource's schema (the dashboard schema leaves
those three open)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
PANEL_PLUGINS = ("timeseries", "bargauge", "table")
DATASOURCE = "prometheus"
PANEL_OR_ROW = [{"$ref": "#/definitions/Panel"}, {"$ref": "#/definitions/RowPanel"}]


def schema_errors(board: Mapping[str, Any]) -> list[str]:
    """Every way `board` breaks the schemas, one line each (empty: valid)."""
    errors = _messages("dashboard", _validator("dashboard", "Dashboard").iter_errors(board))
    panels = board.get("panels", [])
    if isinstance(panels, list):
        for panel in _flatten(panels):
            if isinstance(panel, dict) and panel.get("type") != "row":
                errors += _panel_errors(f"panel {panel.get('id')} ({panel.get('title')})", panel)
    return errors


def _flatten(panels: list[Any]) -> Iterable[Any]:
    """The panels, with those a collapsed row holds after the row."""
    for panel in panels:
        yield panel
        if isinstance(panel, dict) and panel.get("type") == "row":
            yield from panel.get("panels", [])


def _panel_errors(where: str, panel: Mapping[str, Any]) -> list[str]:
    kind = panel.get("type")
    if kind not in PANEL_PLUGINS:
        return [f"{where}: no schema vendored for panel type {kind!r} (have {PANEL_PLUGINS})"]
    errors = []
    if "options" in panel:
        options = _validator(kind, "Options").iter_errors(panel["options"])
        errors += _messages(f"{where} options", options)
    custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
    if custom is not None:
        if "FieldConfig" not in _load(kind)["definitions"]:
            errors.append(f"{where}: {kind} panels have no custom field config")
        else:
            checked = _validator(kind, "FieldConfig").iter_errors(custom)
            errors += _messages(f"{where} fieldConfig.defaults.custom", checked)
    for target in panel.get("targets", []):
        source = target.get("datasource", {}).get("type", DATASOURCE)
        if source != DATASOURCE:
            errors.append(f"{where}: no schema vendored for datasource type {source!r}")
            continue
        checked = _validator(DATASOURCE, "dataquery").iter_errors(target)
        errors += _messages(f"{where} target {target.get('refId')}", checked)
    return errors


def _messages(where: str, errors: Iterable[ValidationError]) -> list[str]:
    return [
        f"{where}: {'/'.join(str(part) for part in reason.absolute_path) or '(top)'}: "
        f"{reason.message}"
        for error in errors
        for reason in _reasons(error)
    ]


def _reasons(error: ValidationError) -> list[ValidationError]:
    """A panel is "not valid under any" of panel or row: give the reasons of the one its type
    says it is."""
    if error.validator == "oneOf" and error.validator_value == PANEL_OR_ROW:
        branch = (
            1 if isinstance(error.instance, dict) and error.instance.get("type") == "row" else 0
        )
        chosen = [
            reason for reason in error.context or [] if reason.relative_schema_path[0] == branch
        ]
        return [deeper for reason in chosen for deeper in _reasons(reason)] or [error]
    return [best_match([error]) or error]


@cache
def _validator(name: str, definition: str) -> Draft7Validator:
    schema = {**_load(name), "$ref": f"#/definitions/{definition}"}
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@cache
def _load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.jsonschema.json").read_text())
    if name == "dashboard":
        # The one correction to the vendored file: the first threshold step's value is null
        # (-Infinity, which JSON cannot hold). Grafana writes it so and its CUE kind says so
        # ("nulls currently appear here when serializing -Infinity to JSON", kept as this
        # schema's description); the generated schema types it as a number only.
        value = schema["definitions"]["Threshold"]["properties"]["value"]
        value["type"] = ["number", "null"]
    return schema
