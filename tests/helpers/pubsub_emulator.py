"""The Google Cloud Pub/Sub emulator for tests: `gcloud beta emulators pubsub start` on
127.0.0.1 and a free port (helpers.gcp_emulators, which starts the other emulators the same
way). Skipped, saying why, when gcloud or its `pubsub-emulator` component is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from helpers.gcp_emulators import GcloudEmulator, pubsub_emulator_server, running

# A running emulator: `host` is what PUBSUB_EMULATOR_HOST takes.
PubSubEmulator = GcloudEmulator


@contextmanager
def pubsub_emulator(project: str) -> Iterator[PubSubEmulator]:
    """The emulator for one project, stopped when the block ends."""
    with running(pubsub_emulator_server(project)) as emulator:
        assert isinstance(emulator, GcloudEmulator)
        yield emulator
