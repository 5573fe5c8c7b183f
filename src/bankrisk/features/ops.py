"""Two evaluators of the one definition of the features and the reason attributes.

`engineering.build_features` and `reasons.measure` are each written once, as a function of
column values and an `Ops` namespace: Python's arithmetic and comparison operators plus the
few functions below. The same function is evaluated
- by `COLUMNS` on numpy arrays, one (n,) array per raw field or feature (batches, training);
- by `ROW` on plain Python floats, one row (a single API request, where numpy's per-call
  per-call overhead would be most of the cost).

Both give bit-identical results (tests/features/test_ops.py), because every operation is the
same IEEE operation in both: sums are written as additions in a fixed order (never numpy's
`sum`, whose order is its own, nor Python's `sum`, compensated from 3.12), maxima and clips
on comparisons (numpy's `maximum` treats -0.0 and 0.0 differently on different
CPUs), and the transcendental functions call numpy's ufunc on one row too, since `math.log`
and numpy's `log` may differ in the last bit.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

# A value of the definitions: a float (one row, `ROW`) or a float ndarray (n,) (`COLUMNS`).
# Conditions are bools or bool arrays, counts and indices ints or int arrays.
Num = Any


class Ops(Protocol):
    """The functions the definitions may use besides operators (`+ - * / < > == & |`)."""

    def where(self, condition: Num, yes: Num, no: Num) -> Num:
        """`yes` where `condition` holds, else `no` (both are evaluated)."""
        ...

    def log(self, x: Num) -> Num: ...

    def log1p(self, x: Num) -> Num: ...

    def count(self, conditions: Sequence[Num]) -> Num:
        """How many of `conditions` hold."""
        ...

    def lookup(self, table: tuple[int, ...], position: Num) -> Num:
        """`table[int(position)]` (positions are whole numbers)."""
        ...

    def bin(self, edges: tuple[float, ...], x: Num) -> Num:
        """How many of the ascending `edges` are <= x (numpy's `searchsorted(..., "right")`)."""
        ...

    def clip(self, x: Num, low: float, high: float) -> Num:
        """`low` where x < low, `high` where x > high, else x (x itself when equal)."""
        ...

    def largest(self, values: Sequence[Num]) -> Num:
        """The largest of `values`; of equal ones, the first."""
        ...

    def rounded(self, x: Num, digits: int) -> Num:
        """x to `digits` decimals: x * 10**digits rounded half to even, divided back (not
        Python's `round(x, digits)`, which costs a call per value and has no numpy twin)."""
        ...


class _Columns:
    """numpy, one (n,) array per value."""

    where = staticmethod(np.where)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)

    @staticmethod
    def count(conditions: Sequence[Num]) -> Num:
        return np.count_nonzero(conditions, axis=0)

    @staticmethod
    def lookup(table: tuple[int, ...], position: Num) -> Num:
        return np.asarray(table)[np.asarray(position).astype(np.intp)]

    @staticmethod
    def bin(edges: tuple[float, ...], x: Num) -> Num:
        return np.asarray(edges).searchsorted(x, "right")

    @staticmethod
    def clip(x: Num, low: float, high: float) -> Num:
        return np.where(x < low, low, np.where(x > high, high, x))

    @staticmethod
    def largest(values: Sequence[Num]) -> Num:
        return functools.reduce(lambda a, b: np.where(b > a, b, a), values)

    @staticmethod
    def rounded(x: Num, digits: int) -> Num:
        scale = 10.0**digits
        return np.rint(x * scale) / scale


class _Row:
    """Plain Python, one float per value."""

    @staticmethod
    def where(condition: Num, yes: Num, no: Num) -> Num:
        return yes if condition else no

    @staticmethod
    def log(x: Num) -> Num:
        return float(np.log(x))

    @staticmethod
    def log1p(x: Num) -> Num:
        return float(np.log1p(x))

    @staticmethod
    def count(conditions: Sequence[Num]) -> Num:
        return sum(map(bool, conditions))

    @staticmethod
    def lookup(table: tuple[int, ...], position: Num) -> Num:
        return table[int(position)]

    @staticmethod
    def bin(edges: tuple[float, ...], x: Num) -> Num:
        return bisect.bisect_right(edges, x)

    @staticmethod
    def clip(x: Num, low: float, high: float) -> Num:
        return low if x < low else high if x > high else x

    @staticmethod
    def largest(values: Sequence[Num]) -> Num:
        best = values[0]
        for value in values[1:]:
            if value > best:
                best = value
        return best

    @staticmethod
    def rounded(x: Num, digits: int) -> Num:
        scale = 10.0**digits
        scaled = x * scale
        if not math.isfinite(scaled):  # round() refuses inf and NaN, rint keeps them
            return scaled / scale
        # round() of a float is half to even like numpy's rint; rint keeps the sign of a 0.
        return math.copysign(round(scaled), scaled) / scale


COLUMNS: Ops = _Columns()
ROW: Ops = _Row()


def total(values: Sequence[Num]) -> Num:
    """values[0] + values[1] + ..., in this order (the same rounding in both evaluators)."""
    return functools.reduce(operator.add, values)
