"""The Feast objects of the store: the `customer` entity and its one feature view.

Imports Feast: load it lazily (only `bankrisk features`, `bankrisk train --features` and a
service with `BANKRISK_FEATURE_REPO` set do). The repository's own `feature_repo/features.py`
re-exports these, so `feast apply` in that folder registers the same objects.
"""

from __future__ import annotations

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

from bankrisk.feature_store import (
    ENTITY,
    FEATURE_VIEW,
    JOIN_KEY,
    OFFLINE_DIR,
    SOURCE,
    TIMESTAMP,
    TTL,
)
from bankrisk.schema import FIELD_NAMES

customer = Entity(
    name=ENTITY,
    join_keys=[JOIN_KEY],
    value_type=ValueType.STRING,
    description="A credit-card customer, by the data file's ID (as text).",
)

# All 23 fields as Float64: the integer codes are exact in a double, and the serving
# validator accepts 2.0 for an integer field exactly as it accepts 2.
customer_snapshots = FileSource(
    name=SOURCE,
    path=OFFLINE_DIR,
    timestamp_field=TIMESTAMP,
    description="Snapshots written by `bankrisk features materialize`, one Parquet per as-of.",
)

customer_features = FeatureView(
    name=FEATURE_VIEW,
    entities=[customer],
    ttl=TTL,
    schema=[Field(name=name, dtype=Float64) for name in FIELD_NAMES],
    source=customer_snapshots,
    online=True,
    description="The 23 UCI fields of a customer's latest monthly statement.",
)

OBJECTS = [customer, customer_features]
