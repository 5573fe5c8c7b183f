"""A Feast feature store of the 23 UCI fields per customer: scoring by customer id, and
training frames built by Feast's point-in-time join.

This module and `online` import neither Feast nor pandas: the serving process imports them
only when `BANKRISK_FEATURE_REPO` is set. The names below are the one definition of the
store's layout (`definitions` builds the Feast objects from them).
"""

from __future__ import annotations

from datetime import timedelta

from bankrisk.errors import BankRiskError

ENTITY = "customer"
JOIN_KEY = "customer_id"
FEATURE_VIEW = "customer_features"
SOURCE = "customer_snapshots"
TIMESTAMP = "event_timestamp"
# One Parquet file per snapshot (`--as-of`) in this folder of the repository: the offline
# store keeps every snapshot, so point-in-time joins can go back in time.
OFFLINE_DIR = "data/offline"
# Statements are monthly: features not refreshed for more than a cycle and a few days of
# grace are stale (a warning on the answer; see README "Feature store").
TTL = timedelta(days=35)


class FeatureStoreError(BankRiskError):
    """The feature store cannot be used: the message says what is wrong and what to do."""
