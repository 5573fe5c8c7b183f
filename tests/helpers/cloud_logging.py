"""What Cloud Logging does with the API's stdout on Cloud Run, for the log-based metric's tests:
a JSON line becomes a LogEntry (the special fields `severity`, `httpRequest` and
`logging.googleapis.com/trace` lifted out of jsonPayload), and a metric's filter, value
extractor and label extractors are evaluated on it.

Only the part of the Logging query language the metric uses is understood: clauses joined by
AND, each `FIELD="value"`, `FIELD=~"regex"`, `FIELD:"substring"`, `FIELD:*` (present) or
`FIELD=("a" OR "b")`.
Anything else raises, so a filter this cannot read fails its test instead of passing unread.
Extractors: EXTRACT(FIELD) and REGEXP_EXTRACT(FIELD, "regex") with one capture group; the field
is converted to a string first (a Duration reads "0.004512s", an integer status "200").
"""

from __future__ import annotations

import json
import re
from typing import Any

SPECIAL = {"severity", "httpRequest", "logging.googleapis.com/trace"}
_STRING = r'"((?:[^"\\]|\\.)*)"'


def log_entry(
    line: dict[str, Any], *, project: str, service: str, log: str = "run.googleapis.com%2Fstdout"
) -> dict[str, Any]:
    """The LogEntry Cloud Run writes for one structured stdout line of a service revision."""
    entry: dict[str, Any] = {
        "logName": f"projects/{project}/logs/{log}",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service, "revision_name": f"{service}-00001-abc"},
        },
        "severity": line.get("severity", "DEFAULT"),
        "jsonPayload": {k: v for k, v in line.items() if k not in SPECIAL},
    }
    if "httpRequest" in line:
        entry["httpRequest"] = line["httpRequest"]
    if "logging.googleapis.com/trace" in line:
        entry["trace"] = line["logging.googleapis.com/trace"]
    return entry


def field(entry: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (`jsonPayload.route`), None when absent."""
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)


def _clause(entry: dict[str, Any], clause: str) -> bool:
    if match := re.fullmatch(rf"([\w.]+)={_STRING}", clause):
        value = field(entry, match[1])
        return value is not None and as_text(value) == match[2]
    if match := re.fullmatch(rf"([\w.]+)=~{_STRING}", clause):
        value = field(entry, match[1])
        return value is not None and re.search(match[2], as_text(value)) is not None
    if match := re.fullmatch(rf"([\w.]+):{_STRING}", clause):
        value = field(entry, match[1])
        return value is not None and match[2] in as_text(value)
    if match := re.fullmatch(r"([\w.]+):\*", clause):
        return field(entry, match[1]) is not None
    if match := re.fullmatch(rf"([\w.]+)=\(({_STRING}(?:\s+OR\s+{_STRING})*)\)", clause):
        value = field(entry, match[1])
        options = re.findall(_STRING, match[2])
        return value is not None and as_text(value) in options
    raise ValueError(f"filter clause not understood by this test's evaluator: {clause!r}")


def matches(entry: dict[str, Any], log_filter: str) -> bool:
    clauses = [c.strip() for c in re.split(r"\s+AND\s+", log_filter.strip())]
    return all(_clause(entry, clause) for clause in clauses)


def extract(entry: dict[str, Any], extractor: str) -> str | None:
    """The extractor's string (None when the field is absent or the regex does not match)."""
    if match := re.fullmatch(r"EXTRACT\(([\w.]+)\)", extractor.strip()):
        value = field(entry, match[1])
        return None if value is None else as_text(value)
    if match := re.fullmatch(rf"REGEXP_EXTRACT\(([\w.]+),\s*{_STRING}\)", extractor.strip()):
        pattern = re.compile(match[2].encode().decode("unicode_escape"))
        if pattern.groups != 1:
            raise ValueError(f"{extractor}: the regex needs exactly one capture group")
        value = field(entry, match[1])
        found = None if value is None else pattern.search(as_text(value))
        return None if found is None else found[1]
    raise ValueError(f"extractor not understood: {extractor!r}")
