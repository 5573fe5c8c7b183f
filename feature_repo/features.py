"""What `feast apply` in this folder registers: the project's one definition of the store
(bankrisk.feature_store.definitions), so the CLI and `bankrisk features materialize` agree."""

from bankrisk.feature_store.definitions import customer, customer_features

__all__ = ["customer", "customer_features"]
