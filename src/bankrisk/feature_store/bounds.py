"""How long one online read may take, whichever online store the repository names.

Left to their defaults, the clients Feast builds wait a long time for a store that does not
answer: Bigtable's data client retries a read for up to ten minutes, Datastore's for a
minute, redis-py retries three times with up to ten seconds between tries and no socket
timeout unless the connection string sets one. A scoring request must get its 503 instead,
so `bound_reads` makes every read of an opened store give up after about `seconds` (the
Google clients retry within that time; redis-py once at most, for a dropped connection).
Feast builds each client on first use and keeps it: the clients are built here, bounded,
before Feast's first read. Writes (`bankrisk features materialize`) keep the clients'
defaults: a load may take minutes and should ride out a blip.
"""

from __future__ import annotations

from functools import partial
from typing import Any


def bound_reads(store: Any, seconds: float) -> None:
    """Bound the reads of Feast's `store` (a FeatureStore) to about `seconds` each."""
    config = store.config.online_store
    kind = str(getattr(config, "type", ""))
    bounders = {"bigtable": _bigtable, "datastore": _datastore, "redis": _redis}
    if kind in bounders:
        bounders[kind](store._get_provider().online_store, config, seconds)


def _bigtable(online: Any, config: Any, seconds: float) -> None:
    # Feast makes a legacy `Table` per read, whose data-API table takes its timeouts from
    # `get_table`'s keyword arguments: give them there.
    data_client = online._get_client(online_config=config)._veneer_data_client
    data_client.get_table = partial(
        type(data_client).get_table,
        data_client,
        default_read_rows_operation_timeout=seconds,
        default_read_rows_attempt_timeout=seconds,
        default_operation_timeout=seconds,
        default_attempt_timeout=seconds,
    )


def _datastore(online: Any, config: Any, seconds: float) -> None:
    from google.api_core.retry import Retry

    client = online._get_client(config)
    retry = Retry(initial=0.05, maximum=0.5, multiplier=2.0, timeout=seconds)
    client.get_multi = partial(client.get_multi, retry=retry, timeout=seconds)


def _redis(online: Any, config: Any, seconds: float) -> None:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Two tries at most (the second for a connection the server dropped), each half the time.
    client = online._get_client(config)
    half = seconds / 2
    client.get_connection_kwargs().update(socket_timeout=half, socket_connect_timeout=half)
    client.set_retry(Retry(NoBackoff(), 1))
