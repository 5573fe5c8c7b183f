"""Render deploy/monitoring/rules/*.yml (the one source of the recording and alert rules) as
the custom resources of the two Prometheus flavours on GKE:

- components/gmp/rules.yaml: a `Rules` of Google Cloud Managed Service for Prometheus;
- components/prometheus-operator/prometheusrule.yaml: a prometheus-operator `PrometheusRule`.

    .venv/bin/python deploy/kubernetes/render_rules.py            # write both
    .venv/bin/python deploy/kubernetes/render_rules.py --check    # exit 1 if either is stale

Only PyYAML: no bankrisk import. tests/delivery/test_kubernetes.py fails when the committed
files differ from a fresh render.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCES = [HERE.parent / "monitoring" / "rules" / name for name in ("recording.yml", "alerts.yml")]
# On GKE the service is scraped every 30 s (the monitors); the rules are evaluated as often.
INTERVAL = "30s"
RERENDER = "deploy/kubernetes/render_rules.py"
RULE_KEYS = ("record", "alert", "expr", "for", "labels", "annotations")
HEADER = """\
# GENERATED from deploy/monitoring/rules/{{recording,alerts}}.yml by
# deploy/kubernetes/render_rules.py: do not edit. Re-render after changing the rules:
#   .venv/bin/python deploy/kubernetes/render_rules.py
# {note}
"""
GMP_NOTE = """\
Managed Service for Prometheus evaluates a namespaced Rules object on its own namespace's
# series only: it adds project_id, location, cluster and namespace matchers to every selector
# and those labels to every result, so `sum by (job)` stays within this namespace."""
OPERATOR_NOTE = """\
prometheus-operator loads it into the Prometheus whose ruleSelector matches its labels (set
# `ruleSelector: {matchLabels: {app: bankrisk}}`, and `enforcedNamespaceLabel: namespace` so
# that each namespace's rules see only that namespace's series, as on GMP)."""


def groups() -> list[dict[str, Any]]:
    """Every group of the source files, in order, each with the rendering's interval."""
    rendered = []
    for source in SOURCES:
        for group in yaml.safe_load(source.read_text())["groups"]:
            rules = [{k: rule[k] for k in RULE_KEYS if k in rule} for rule in group["rules"]]
            rendered.append({"name": group["name"], "interval": INTERVAL, "rules": rules})
    return rendered


def rules_object(api_version: str, kind: str) -> dict[str, Any]:
    """The rule groups as the custom resource `kind` (GMP's Rules, the operator's
    PrometheusRule: the same spec under another name)."""
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "bankrisk", "labels": {"app": "bankrisk"}},
        "spec": {"groups": groups()},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (expressions, descriptions) as literal blocks, as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(document: dict[str, Any], note: str) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return HEADER.format(note=note) + body


def rendered() -> dict[Path, str]:
    """Each output file and its text."""
    return {
        HERE / "components" / "gmp" / "rules.yaml": dump(
            rules_object("monitoring.googleapis.com/v1", "Rules"), GMP_NOTE
        ),
        HERE / "components" / "prometheus-operator" / "prometheusrule.yaml": dump(
            rules_object("monitoring.coreos.com/v1", "PrometheusRule"), OPERATOR_NOTE
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
    for path in stale:
        sys.stderr.write(f"stale: {path}; re-render: .venv/bin/python {RERENDER}\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
