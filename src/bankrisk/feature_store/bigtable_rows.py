"""Bigtable reads without Feast's column filter, the same values picked in Python.

Feast reads a customer's Bigtable row through a column-qualifier regex naming every feature
asked for, and the event time. The service asks for every feature of its view, and a row
holds just those and the event time, so on Bigtable the filter removes nothing. Bigtable's
emulator (`bttest`) compiles that regex again for every cell it filters, which made the
filter most of the emulator's work per read (docs/feature-store.md). Reading the whole row
and keeping the asked-for features here gives Feast the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# What Feast's online_read gives for one entity: the event time and the values by feature.
Read = Callable[..., list[tuple[Any, dict[str, Any] | None]]]


def read_whole_rows(store: Any) -> None:
    """Make the Bigtable online store of Feast's `store` (a FeatureStore) read unfiltered rows;
    any other online store is left as it is."""
    if str(getattr(store.config.online_store, "type", "")) != "bigtable":
        return
    online = store._get_provider().online_store
    online.online_read = _picking(online.online_read)


def _picking(read: Read) -> Read:
    def online_read(
        config: Any, table: Any, entity_keys: list[Any], requested_features: list[str] | None = None
    ) -> list[tuple[Any, dict[str, Any] | None]]:
        rows = read(config, table, entity_keys, None)
        if requested_features is None:
            return rows
        wanted = set(requested_features)
        return [
            (time, None if values is None else {k: v for k, v in values.items() if k in wanted})
            for time, values in rows
        ]

    return online_read
