"""The analyst console (`bankrisk console`): server-rendered pages over the scoring core, the
prediction log and monitoring, in its own process beside the scoring API (docs/console.md).

- `app`: `create_console(state)`, the FastAPI app with every page router
- `state`: `ConsoleState`, what every page reads (settings, scorer, log, bundle, cache folder)
- `web`: the Jinja2 environment and `page(...)`, which every page renders through
- `auth`: sign-in with the console key, the session cookie and the CSRF token
- `pages/`: one router per page
"""
