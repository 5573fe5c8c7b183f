"""`bankrisk console`: the analyst console, web pages on their own port beside the API."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from pydantic import SecretStr

from bankrisk.cli.common import ModelDirOption, console, load_settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8001


def console_command(
    model_dir: ModelDirOption = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port.")] = DEFAULT_PORT,
) -> None:
    """Serve the analyst console (web pages beside the API, on their own port).

    Customers and what would change their outcome, adverse-action notices, models, portfolios
    and monitoring, over the champion bundle and the prediction log. Analysts sign in with
    BANKRISK_CONSOLE_KEY (empty: a random key is made and printed at start). Every page and
    setting: docs/console.md.
    """
    from pathlib import Path

    import uvicorn

    from bankrisk.bundle.model_bundle import ModelBundle
    from bankrisk.console.app import create_console
    from bankrisk.console.state import ConsoleState
    from bankrisk.core.scorer import Scorer
    from bankrisk.prediction_log.opening import open_log

    settings = load_settings()
    if not settings.console_key.get_secret_value():
        key = secrets.token_urlsafe(18)
        settings = settings.model_copy(update={"console_key": SecretStr(key)})
        console.print(f"console key (BANKRISK_CONSOLE_KEY is empty): {key}", highlight=False)
    directory = model_dir or settings.model_dir
    bundle = ModelBundle.load(directory)
    state = ConsoleState(
        settings=settings,
        scorer=Scorer(bundle),
        store=open_log(settings),
        bundle=bundle,
        cache_dir=Path(settings.data_dir, "console-cache"),
        model_dir=directory,
    )
    console.print(f"bankrisk console on http://{host}:{port}/", highlight=False)
    uvicorn.run(create_console(state), host=host, port=port, log_level="warning")
