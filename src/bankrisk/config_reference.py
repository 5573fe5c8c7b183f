"""docs/configuration.md, generated from the one typed settings object, `bankrisk.config.Settings`.

`python -m bankrisk.config_reference [PATH]` (from the repository root) writes it; the default
PATH is docs/configuration.md. `tests/test_configuration_docs.py` fails when the file differs
from `configuration_markdown()`, so a new or changed setting cannot go undocumented.

Every field is listed with its environment variable(s), type, default, constraints and
description, grouped by the `# --- section ---` comments of the class. A secret's default is
never printed.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from bankrisk.config import OTHER_VARIABLES, Settings

DEFAULT_OUTPUT = Path("docs") / "configuration.md"
REGENERATE = "python -m bankrisk.config_reference"
# Secrets that are not typed SecretStr (whose default is never printed either).
SECRET_FIELDS = frozenset({"api_keys"})
OTHER_SECTION = "Other settings"

_SECTION = re.compile(r"^\s*# -{3} (?P<title>.+?) -*$")
_FIELD = re.compile(r"^    (?P<name>\w+)\s*:")
_BOUNDS: tuple[tuple[type[Any], str, str], ...] = (
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Lt, "lt", "<"),
    (annotated_types.Le, "le", "<="),
)


def environment_variables(name: str, info: FieldInfo, prefix: str) -> list[str]:
    """The variables that set a field, the one that wins first: its aliases, else
    PREFIX + the field's name in capitals."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [f"{prefix}{name}".upper()]


def is_secret(name: str, info: FieldInfo) -> bool:
    return info.annotation is SecretStr or name in SECRET_FIELDS


def type_text(annotation: Any) -> str:
    """A type as a reader setting a variable needs it."""
    origin = get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        kinds = [type_text(arg) for arg in get_args(annotation) if arg is not type(None)]
        optional = len(kinds) < len(get_args(annotation))
        return " or ".join(kinds) + (", or unset" if optional else "")
    if origin is tuple:
        item = get_args(annotation)[0]
        if get_origin(item) is Literal:
            return "comma-separated list of " + ", ".join(f"`{v}`" for v in get_args(item))
        plurals = {int: "integers", float: "numbers", str: "strings", Path: "paths"}
        return f"comma-separated {plurals.get(item, type_text(item) + ' values')}"
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        Path: "path",
        SecretStr: "string (secret)",
    }
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def value_text(value: Any) -> str:
    """A value as it would be written in the variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(value_text(item) for item in value)
    return str(value)


def default_text(name: str, info: FieldInfo) -> str:
    if is_secret(name, info):
        return "*(secret: not shown)*"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if default in ("", ()):
        return "empty"
    return f"`{value_text(default)}`"


def constraints_text(info: FieldInfo) -> str:
    parts: list[str] = []
    for item in info.metadata:
        for kind, attribute, symbol in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"`{symbol} {value_text(getattr(item, attribute))}`")
        pattern = getattr(item, "pattern", None)
        if pattern is not None:
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _cell(text: str) -> str:
    """Text fit for one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def _wrap(line: str) -> str:
    """A prose line wrapped at 100 characters; headings, tables and comments as they are."""
    if line.startswith(("#", "|", "<!--")):
        return line
    return textwrap.fill(line, 100, break_long_words=False, break_on_hyphens=False)


def sections(settings_class: type[BaseSettings]) -> list[tuple[str, list[str]]]:
    """The fields in the order and under the `# --- title ---` comments of their class's
    source (a subclass's fields after its parents'); fields found in no source at the end."""
    order: dict[str, list[str]] = {}
    placed: set[str] = set()
    fields = settings_class.model_fields
    for cls in reversed(settings_class.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseSettings)) or cls is BaseSettings:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        title = OTHER_SECTION
        for line in source.splitlines():
            if match := _SECTION.match(line):
                text = match.group("title")
                title = text[:1].upper() + text[1:]
            elif (match := _FIELD.match(line)) and match.group("name") in fields:
                name = match.group("name")
                if name not in placed:
                    order.setdefault(title, []).append(name)
                    placed.add(name)
    rest = [name for name in fields if name not in placed]
    if rest:
        order.setdefault(OTHER_SECTION, []).extend(rest)
    return list(order.items())


def configuration_markdown(settings_class: type[BaseSettings] = Settings) -> str:
    """The text of docs/configuration.md for `settings_class`."""
    prefix = str(settings_class.model_config.get("env_prefix", "")).upper()
    fields = settings_class.model_fields
    lines = [
        "# Configuration",
        "",
        f"<!-- Generated by `{REGENERATE}` from `{settings_class.__module__}."
        f"{settings_class.__qualname__}`: edit the descriptions there, then regenerate. -->",
        "",
        f"Every setting of bankrisk is a field of one typed object, `{settings_class.__module__}."
        f"{settings_class.__qualname__}` (pydantic-settings), read from environment variables "
        f"when a command starts: `{prefix}` and the field's name in capitals (field `use_age` is "
        f"`{prefix}USE_AGE`), except where another tool already defines the variable "
        "(`MLFLOW_TRACKING_URI`, Cloud Run's `PORT`; where a setting has two variables, the "
        "first one set wins). Lists are comma-separated "
        f"(`{prefix}CANDIDATES=gbm,mlp`), booleans `true` or `false`.",
        "",
        "A bad value stops the command with one line that names the variable to fix, e.g. "
        "`error: invalid settings: BANKRISK_USE_AGE: Input should be a valid boolean, unable to "
        f"interpret input`. A `{prefix}` variable that names no setting is ignored with a "
        "warning on stderr, which suggests the closest setting: `BANKRISK_USE_EDUCATON is not "
        "a bankrisk setting and is ignored; did you mean BANKRISK_USE_EDUCATION?`. "
        "`bankrisk COMMAND --help` shows each option's default and the variable behind it. "
        "Secrets' defaults are not shown here.",
        "",
        f"{len(fields)} settings:",
    ]
    for title, names in sections(settings_class):
        lines += [
            "",
            f"## {title}",
            "",
            "| variable | type | default | constraints | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name in names:
            info = fields[name]
            variables = environment_variables(name, info, prefix)
            variable = f"`{variables[0]}`"
            if len(variables) > 1:
                variable += " (or " + ", ".join(f"`{v}`" for v in variables[1:]) + ")"
            cells = (
                variable,
                type_text(info.annotation),
                default_text(name, info),
                constraints_text(info),
                info.description or "",
            )
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    if settings_class is Settings and OTHER_VARIABLES:
        lines += [
            "",
            f"## Other `{prefix}` variables",
            "",
            "Not settings: other parts of the project read them, so they get no warning.",
            "",
            "| variable | what |",
            "| --- | --- |",
            *(f"| `{name}` | {_cell(what)} |" for name, what in sorted(OTHER_VARIABLES.items())),
        ]
    return "\n".join(_wrap(line) for line in lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or any(a.startswith("-") for a in args):
        sys.stderr.write(f"usage: {REGENERATE} [PATH]  (default: {DEFAULT_OUTPUT})\n")
        return 2
    output = Path(args[0]) if args else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(configuration_markdown())
    sys.stdout.write(f"wrote {output}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
