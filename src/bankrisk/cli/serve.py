"""`bankrisk serve`: the scoring API over a bundle."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from bankrisk.cli.common import (
    ModelDirOption,
    env_name,
    load_settings,
    settings_default,
)


def serve(
    model_dir: ModelDirOption = None,
    host: Annotated[
        str | None,
        typer.Option(help=f"Bind address (or {env_name('host')}). {settings_default('host')}"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help=f"Port; the PORT variable wins over it. {settings_default('port')}"),
    ] = None,
) -> None:
    """Serve the scoring API (Uvicorn) over a bundle.

    Beyond these options, BANKRISK_* environment variables configure the service: API keys,
    request and batch limits, the prediction log, a challenger (shadow or canary), model
    reloads, the feature store. Every one, with its default: docs/configuration.md.
    """
    settings = load_settings()
    from bankrisk.serving.server import serve as run_server

    directory = model_dir or settings.model_dir
    chosen_port = settings.port if "PORT" in os.environ or port is None else port
    raise typer.Exit(run_server(settings, directory, host or settings.host, chosen_port))
