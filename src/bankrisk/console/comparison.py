"""Champion against challenger, from the prediction log.

A shadow challenger scores the same requests as the champion: each of its rows is paired with
the champion's row of the same request and customer (rows without a customer id cannot be
paired: a batch request holds many customers). For each shadow version: how many pairs, the
share whose decisions differ, the decision cross-tab and the two PDs of the most recent pairs
(for a scatter). A canary answers a share of the traffic instead of the champion, so it has no
pairs: its rows are counted beside the champion's, with their approval rates.

The join runs in the database over the window asked for (the customer index serves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, case, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.selectable import FromClause, Join

from bankrisk.bundle.policy import DECISIONS
from bankrisk.prediction_log.store import (
    PredictionLogError,
    PredictionStore,
    as_utc,
    predictions,
    short_error,
)

CHAMPION, SHADOW, CANARY = "champion", "shadow", "canary"
MAX_POINTS = 500  # pairs drawn in the scatter (the most recent)


@dataclass(frozen=True)
class ShadowComparison:
    """One shadow version against the champion, over paired rows."""

    version: str
    pairs: int
    differ: int
    # crosstab[champion decision][shadow decision]: pairs, every decision present
    crosstab: dict[str, dict[str, int]]
    points: list[tuple[float, float]]  # (champion PD, shadow PD), most recent first

    @property
    def differ_share(self) -> float:
        return self.differ / self.pairs if self.pairs else 0.0


@dataclass(frozen=True)
class RoleCount:
    """The rows of one role and version in the window, and the share approved."""

    role: str
    version: str
    rows: int
    approved: int

    @property
    def approval_rate(self) -> float:
        return self.approved / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Comparison:
    since: datetime
    shadows: list[ShadowComparison]
    roles: list[RoleCount]


def compare(store: PredictionStore, since: datetime) -> Comparison:
    """The comparison over rows logged since `since`; PredictionLogError if the log cannot
    be read (a log without tables yet is empty)."""
    try:
        if not inspect(store.engine).has_table(predictions.name):
            return Comparison(since, [], [])
        with store.engine.connect() as connection:
            roles = _roles(connection, since)
            shadows = [_shadow(connection, since, r.version) for r in roles if r.role == SHADOW]
    except SQLAlchemyError as exc:
        raise PredictionLogError(
            f"cannot read the prediction log {store}: {short_error(exc)}"
        ) from None
    return Comparison(since, shadows, roles)


def _roles(connection: Connection, since: datetime) -> list[RoleCount]:
    c = predictions.c
    approved = func.sum(case((c.decision == DECISIONS[0], 1), else_=0))
    query = (
        select(c.model_role, c.model_version, func.count(), approved)
        .where(c.time >= as_utc(since))
        .group_by(c.model_role, c.model_version)
        .order_by(c.model_role, c.model_version)
    )
    rows = connection.execute(query).all()
    return [RoleCount(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]


@dataclass(frozen=True)
class _Pairs:
    """A shadow version's rows joined to the champion's rows of the same request and
    customer, since a time."""

    shadow: FromClause
    champion: FromClause
    joined: Join
    where: ColumnElement[bool]


def _pairs(since: datetime, version: str) -> _Pairs:
    shadow, champion = predictions.alias("shadow"), predictions.alias("champion")
    joined = shadow.join(
        champion,
        and_(
            champion.c.customer_id == shadow.c.customer_id,
            champion.c.request_id == shadow.c.request_id,
            champion.c.model_role == CHAMPION,
        ),
    )
    where = and_(
        shadow.c.model_role == SHADOW,
        shadow.c.model_version == version,
        shadow.c.time >= as_utc(since),
        shadow.c.customer_id.is_not(None),
    )
    return _Pairs(shadow, champion, joined, where)


def _shadow(connection: Connection, since: datetime, version: str) -> ShadowComparison:
    p = _pairs(since, version)
    cells = connection.execute(
        select(p.champion.c.decision, p.shadow.c.decision, func.count())
        .select_from(p.joined)
        .where(p.where)
        .group_by(p.champion.c.decision, p.shadow.c.decision)
    ).all()
    crosstab = {mine: dict.fromkeys(DECISIONS, 0) for mine in DECISIONS}
    for mine, theirs, count in cells:
        crosstab.setdefault(mine, {})[theirs] = int(count)
    pairs = sum(sum(row.values()) for row in crosstab.values())
    differ = pairs - sum(row.get(mine, 0) for mine, row in crosstab.items())
    points = connection.execute(
        select(p.champion.c.pd, p.shadow.c.pd)
        .select_from(p.joined)
        .where(p.where)
        .order_by(p.shadow.c.time.desc(), p.shadow.c.id.desc())
        .limit(MAX_POINTS)
    ).all()
    return ShadowComparison(
        version, pairs, differ, crosstab, [(float(a), float(b)) for a, b in points]
    )
