"""The texts: an attribute's `value` and `text` templates filled with the customer's values.

The templates are `str.format` strings over a characteristic's named values, plus three specs
of their own (`{x:month}`, `{x:delay}`, `{x:percent}`). They are compiled once per attribute
(`Template`, `TEMPLATES`), so that filling them is cheap both for a large batch and for one
request:
- each distinct (named value, spec) pair of an attribute's two templates is formatted once per
  row, and with `format` (in C) on Python floats, never on numpy scalars (formatting those
  is done in Python);
- the two templates become %-strings over those pieces, so a batch's texts of one attribute are
  a few `map`s;
- the texts of an attribute made only of discrete values (counts, statuses, months, credit
  limits) are cached by value, and a batch whose values are all cached is looked up in one
  C-level pass (`map(dict.get, ...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from string import Formatter
from typing import cast

from bankrisk.features.ops import Num
from bankrisk.features.reasons.catalogue import REASON_CODES, Attribute

# The months of PAY_0..PAY_6, BILL_AMT1..6 and PAY_AMT1..6, most recent first.
MONTHS = ("September", "August", "July", "June", "May", "April")


def _month(value: float) -> str:
    """`{x:month}`: 0 -> September, 1 -> August, ..."""
    return MONTHS[int(value)]


def _delay(value: float) -> str:
    """`{x:delay}`: a repayment delay, "1 month", "2 months", and "9 or more months" for
    status 9."""
    months = int(value)
    if months >= 9:
        return "9 or more months"
    return f"{months} month" if months == 1 else f"{months} months"


def _percent(value: float) -> str:
    """`{x:percent}`: a share as a percentage with one decimal, like `.1%`, but never "-0.0%"
    (a share just below zero rounds to "0.0%")."""
    text = format(value, ".1%")
    return "0.0%" if text == "-0.0%" else text


def _percents(values: list[float]) -> list[str]:
    """`_percent` of many values: formatted in C (`format`), the rare "-0.0%" then fixed."""
    texts = list(map(format, values, repeat(".1%")))
    if "-0.0%" in texts:
        texts = ["0.0%" if text == "-0.0%" else text for text in texts]
    return texts


# The templates' own specs, besides those of `format`.
_CUSTOM_SPECS: dict[str, Callable[[float], str]] = {
    "month": _month,
    "delay": _delay,
    "percent": _percent,
}
# Named values that take few distinct values (counts, statuses, months, and credit limits,
# in round thousands in practice; and the low-limit cut): the texts of an attribute that uses
# only these are cached by value (bounded by `_CACHE_LIMIT`).
_DISCRETE = frozenset(
    {"status", "late", "worst", "recent", "revolving", "missed", "no_use", "full", "unpaid"}
    | {"limit", "cut"}
)
_CACHE_LIMIT = 4096
_Texts = list[tuple[str, str]]  # (value, text) of each row


class Template:
    """An attribute's value and text templates, compiled once: each distinct (named value,
    spec) of the two is a piece (`args`), formatted once per row, in C (`format`) unless it
    has a custom spec; the two templates become %-strings over the pieces. A batch's texts
    of one attribute are a few `map`s, and texts made only of discrete values are cached.
    The named value "cut" is the policy's low credit limit, the same for every row."""

    def __init__(self, attribute: Attribute) -> None:
        self.args: list[tuple[str, str]] = []  # (name, spec): the pieces, in order
        self.value, self._value_at = self._compile(attribute.value)
        self.text, self._text_at = self._compile(attribute.text)
        self.constant = (self.value % (), self.text % ()) if not self.args else None
        self.cached = all(name in _DISCRETE for name, _ in self.args)
        self._cache: dict[tuple[float, ...], tuple[str, str]] = {}

    def _compile(self, template: str) -> tuple[str, tuple[int, ...]]:
        """The %-string, and which piece fills each of its `%s`."""
        parts, at = [], []
        for literal, name, spec, conversion in Formatter().parse(template):
            parts.append(literal.replace("%", "%%"))
            if name is None:
                continue
            assert conversion is None, f"no conversions in reason templates: {template!r}"
            piece = (name, spec or "")
            if piece not in self.args:
                self.args.append(piece)
            at.append(self.args.index(piece))
            parts.append("%s")
        return "".join(parts), tuple(at)

    def _pieces(self, columns: list[list[float]]) -> list[list[str]]:
        """Each piece's text for every row, from each piece's column of values."""
        return [
            _percents(column)
            if spec == "percent"
            else list(map(_CUSTOM_SPECS[spec], column))
            if spec in _CUSTOM_SPECS
            else list(map(format, column, repeat(spec)))
            for (_, spec), column in zip(self.args, columns, strict=True)
        ]

    def fill(self, columns: list[list[float]], count: int) -> tuple[list[str], list[str]]:
        """Values and texts of `count` rows, `columns` holding each piece's values (Python
        floats, one list per piece of `args`)."""
        if self.constant is not None:
            return [self.constant[0]] * count, [self.constant[1]] * count
        if not self.cached:
            pieces = self._pieces(columns)
            return (
                _substitute(self.value, [pieces[k] for k in self._value_at], count),
                _substitute(self.text, [pieces[k] for k in self._text_at], count),
            )
        keys = list(zip(*columns, strict=True))
        known = list(map(self._cache.get, keys))  # one C-level pass when all are known
        found = list(map(self._lookup, keys)) if None in known else cast(_Texts, known)
        return [value for value, _ in found], [text for _, text in found]

    def one(self, named: dict[str, Num], cut: float) -> tuple[str, str]:
        """`fill` of one row, `named` holding its values."""
        if self.constant is not None:
            return self.constant
        key = tuple([cut if name == "cut" else named[name] for name, _ in self.args])
        return self._lookup(key) if self.cached else self._format_one(key)

    def _lookup(self, key: tuple[float, ...]) -> tuple[str, str]:
        """The cached value and text of `key` (the pieces' values), formatted when first seen."""
        found = self._cache.get(key)
        if found is None:
            found = self._format_one(key)
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[key] = found
        return found

    def _format_one(self, key: tuple[float, ...]) -> tuple[str, str]:
        pieces = [
            _CUSTOM_SPECS[spec](v) if spec in _CUSTOM_SPECS else format(v, spec)
            for (_, spec), v in zip(self.args, key, strict=True)
        ]
        return (
            self.value % tuple(pieces[k] for k in self._value_at),
            self.text % tuple(pieces[k] for k in self._text_at),
        )


def _substitute(template: str, pieces: list[list[str]], count: int) -> list[str]:
    """`template` (a %-string) filled with each row's pieces (one list per `%s`)."""
    if not pieces:
        return [template % ()] * count
    return list(map(template.__mod__, zip(*pieces, strict=True)))


# TEMPLATES[j][a]: attribute a of REASON_CODES[j], compiled.
TEMPLATES: tuple[tuple[Template, ...], ...] = tuple(
    tuple(Template(a) for a in r.attributes) for r in REASON_CODES
)
